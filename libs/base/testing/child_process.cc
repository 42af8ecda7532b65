#include "apmcov/base/testing/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"

extern char** environ;

namespace apmcov::testing {
namespace {

// The parent's environment with `overrides` (NAME=value) set over it.
std::vector<std::string> ChildEnvironment(const std::vector<std::string>& overrides) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view entry(*e);
    bool overridden = false;
    for (const std::string& o : overrides) {
      const size_t eq = o.find('=');
      overridden |= eq != std::string::npos && entry.substr(0, eq + 1) == o.substr(0, eq + 1);
    }
    if (!overridden) env.emplace_back(entry);
  }
  env.insert(env.end(), overrides.begin(), overrides.end());
  return env;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::Start(Options options) {
  if (options.argv.empty() || ::access(options.argv[0].c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(options.argv.empty() ? "(no binary)" : options.argv[0], " is not executable"));
  }
  std::vector<char*> argv;
  argv.reserve(options.argv.size() + 1);
  for (std::string& a : options.argv) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_s = ChildEnvironment(options.env);
  std::vector<char*> envp;
  envp.reserve(env_s.size() + 1);
  for (std::string& e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);
  int out[2] = {-1, -1};
  if (options.stdout_to == Output::kPipe && ::pipe2(out, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }

  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int e = errno;
    if (out[0] >= 0) {
      ::close(out[0]);
      ::close(out[1]);
    }
    return absl::InternalError(absl::StrCat("fork: ", std::strerror(e)));
  }
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(127);  // the parent died before the line above
    if (options.stdout_to == Output::kPipe) {
      ::dup2(out[1], STDOUT_FILENO);  // dup2 clears O_CLOEXEC on the copy
    } else if (options.stdout_to == Output::kDiscard) {
      const int devnull = ::open("/dev/null", O_WRONLY);
      if (devnull >= 0) ::dup2(devnull, STDOUT_FILENO);
    }
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  std::unique_ptr<ChildProcess> child(new ChildProcess());
  child->pid_ = pid;
  child->stop_timeout_ = options.stop_timeout;
  if (options.stdout_to == Output::kPipe) {
    ::close(out[1]);
    child->stdout_ = ::fdopen(out[0], "r");
  }
  return child;
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !Exited()) {
    ::kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + stop_timeout_;
    while (!Exited()) {
      if (std::chrono::steady_clock::now() >= deadline) {
        ::kill(pid_, SIGKILL);
        int status = 0;
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  if (stdout_ != nullptr) std::fclose(stdout_);
}

absl::StatusOr<std::string> ChildProcess::ReadLine() {
  if (stdout_ == nullptr) return absl::FailedPreconditionError("stdout is not a pipe");
  std::string line;
  for (int c; (c = std::fgetc(stdout_)) != EOF;) {
    if (c == '\n') return line;
    line.push_back(static_cast<char>(c));
  }
  return absl::NotFoundError(
      absl::StrCat("the child closed its stdout", line.empty() ? "" : " after: ", line));
}

std::optional<int> ChildProcess::Exited() {
  if (!status_ && pid_ > 0) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) status_ = status;
  }
  return status_;
}

}  // namespace apmcov::testing
