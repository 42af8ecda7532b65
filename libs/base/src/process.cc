#include "apmcov/base/process.h"

#include <pthread.h>

#include <atomic>
#include <condition_variable>
#include <csignal>
#include <mutex>
#include <thread>

#include "absl/strings/str_join.h"
#include "apmcov/base/clock.h"

namespace apmcov {
namespace {

struct ShutdownState {
  std::mutex mu;
  std::condition_variable cv;
  int signal = 0;  // 0: none yet
  std::atomic<bool> requested{false};
};

ShutdownState& Shutdown() {
  static auto* state = new ShutdownState();  // never destroyed: the watcher outlives main()
  return *state;
}

sigset_t ShutdownSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

}  // namespace

void NameThisThread(std::string_view name) {
  char buf[16] = {};  // the kernel's limit, the terminating NUL included
  name.copy(buf, sizeof(buf) - 1);
  pthread_setname_np(pthread_self(), buf);  // fails only on a name too long: cut above
}

void BlockShutdownSignals() {
  sigset_t set = ShutdownSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  static std::once_flag started;
  std::call_once(started, [] {
    // Detached: it blocks in sigwait for the life of the process.
    std::thread([] {
      NameThisThread("signals");
      sigset_t signals = ShutdownSignals();
      int sig = 0;
      while (sigwait(&signals, &sig) != 0) {
      }
      ShutdownState& s = Shutdown();
      s.requested.store(true);
      CancelAllRealClocks();
      {
        std::lock_guard lock(s.mu);
        s.signal = sig;
      }
      s.cv.notify_all();
    }).detach();
  });
}

int WaitForShutdownSignal() {
  ShutdownState& s = Shutdown();
  std::unique_lock lock(s.mu);
  s.cv.wait(lock, [&s] { return s.signal != 0; });
  return s.signal;
}

bool ShutdownRequested() { return Shutdown().requested.load(); }

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
