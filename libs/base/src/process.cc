#include "apmcov/base/process.h"

#include <csignal>

#include "absl/strings/str_join.h"

namespace apmcov {

void BlockShutdownSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

int WaitForShutdownSignal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  int sig = 0;
  while (sigwait(&set, &sig) != 0) {
  }
  return sig;
}

void ConfigureLoggingFrom(ConfigReader& reader, const std::string& default_service) {
  LogOptions options;
  std::string level = reader.String("LOG_LEVEL", "info");
  if (!ParseLogLevel(level, &options.level)) {
    reader.AddError("LOG_LEVEL", "must be one of debug, info, warn, error, off");
  }
  std::string format = reader.String("LOG_FORMAT", "json");
  if (!ParseLogFormat(format, &options.format)) {
    reader.AddError("LOG_FORMAT", "must be json or text");
  }
  options.identity.service = reader.String("DD_SERVICE", default_service);
  options.identity.env = reader.String("DD_ENV", "");
  options.identity.version = reader.String("DD_VERSION", "");
  ConfigureLogging(options);
}

void LogEffectiveConfig(const Logger& log, const ConfigReader& reader) {
  std::string joined = absl::StrJoin(reader.Redacted(), " ", absl::PairFormatter("="));
  log.Info("configuration", {{"config", joined}});
}

}  // namespace apmcov
