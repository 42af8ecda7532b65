// Process lifecycle helpers for main(): block SIGTERM/SIGINT in every thread, then wait for
// one in the main thread and stop the service in reverse order.
#pragma once

#include <string>
#include <string_view>

#include "apmcov/base/config.h"
#include "apmcov/base/log.h"

namespace apmcov {

// Blocks SIGTERM, SIGINT and SIGPIPE for the calling thread and threads it creates later,
// and starts a watcher thread that takes SIGTERM/SIGINT: on the first one it cancels every
// RealClock (CancelAllRealClocks) and marks ShutdownRequested(), so waits anywhere in the
// process (backoffs, rate-limit waits, retries at start-up) end at once. Call first thing in
// main().
void BlockShutdownSignals();

// Waits until SIGTERM or SIGINT arrives (or has arrived); returns the signal number.
int WaitForShutdownSignal();

// True once SIGTERM or SIGINT arrived (for loops and I/O that cannot sleep on a Clock).
bool ShutdownRequested();

// Names the calling thread as `top -H`, `perf` and /proc/<pid>/task/<tid>/comm show it (the
// benchmarks read the CPU of each stage by these names). Linux keeps 15 bytes; the rest is cut.
void NameThisThread(std::string_view name);

// Reads LOG_LEVEL, LOG_FORMAT, DD_SERVICE, DD_ENV, DD_VERSION and configures logging.
// `default_service` is used when DD_SERVICE is unset.
void ConfigureLoggingFrom(ConfigReader& reader, const std::string& default_service);

// Logs the effective configuration, secrets redacted.
void LogEffectiveConfig(const Logger& log, const ConfigReader& reader);

}  // namespace apmcov
