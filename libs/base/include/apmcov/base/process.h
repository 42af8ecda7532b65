// Process lifecycle helpers for main(): block SIGTERM/SIGINT in every thread, then wait for
// one in the main thread and stop the service in reverse order.
#pragma once

#include <string>

#include "apmcov/base/config.h"
#include "apmcov/base/log.h"

namespace apmcov {

// Blocks SIGTERM, SIGINT and SIGPIPE for the calling thread and threads it creates later.
// Call first thing in main().
void BlockShutdownSignals();

// Waits until SIGTERM or SIGINT arrives; returns the signal number.
int WaitForShutdownSignal();

// Reads LOG_LEVEL, LOG_FORMAT, DD_SERVICE, DD_ENV, DD_VERSION and configures logging.
// `default_service` is used when DD_SERVICE is unset.
void ConfigureLoggingFrom(ConfigReader& reader, const std::string& default_service);

// Logs the effective configuration, secrets redacted.
void LogEffectiveConfig(const Logger& log, const ConfigReader& reader);

}  // namespace apmcov
