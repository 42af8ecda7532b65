#include "apmcov/bus/testing/kafka_dev_process.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "apmcov/base/status.h"

namespace apmcov::bus::testing {
namespace {

using ChildOutput = apmcov::testing::ChildProcess::Output;

std::string ReadLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

}  // namespace

std::string KafkaDevProcess::DefaultBinary() {
  const char* dir = std::getenv("APMCOV_BINARY_DIR");
  if (dir == nullptr || *dir == '\0') return "";
  return absl::StrCat(dir, "/services/kafka-dev/apmcov-kafka-dev");
}

absl::StatusOr<std::unique_ptr<KafkaDevProcess>> KafkaDevProcess::Start(
    std::string binary, const std::vector<std::string>& args) {
  if (binary.empty()) binary = DefaultBinary();
  if (binary.empty()) {
    return absl::FailedPreconditionError(
        "neither KAFKA_BROKERS nor APMCOV_BINARY_DIR is set: cannot find apmcov-kafka-dev");
  }
  if (::access(binary.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(binary, " is not executable (build target apmcov-kafka-dev first)"));
  }
  std::unique_ptr<KafkaDevProcess> p(new KafkaDevProcess());
  char tmpl[] = "/tmp/apmcov-kafka-dev-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp: ", std::strerror(errno)));
  }
  p->dir_ = tmpl;
  const std::string bootstrap_file = p->dir_ + "/bootstrap";
  const std::string control_file = p->dir_ + "/control";
  std::vector<std::string> argv = {binary, "--bootstrap-file", bootstrap_file, "--control-file",
                                   control_file};
  argv.insert(argv.end(), args.begin(), args.end());
  APMCOV_ASSIGN_OR_RETURN(
      p->child_, apmcov::testing::ChildProcess::Start({.argv = std::move(argv),
                                                       .env = {"LOG_LEVEL=warn"},
                                                       .stdout_to = ChildOutput::kDiscard}));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (std::chrono::steady_clock::now() < deadline) {
    if (std::optional<int> status = p->child_->Exited()) {
      return absl::InternalError(absl::StrCat(binary, " exited early with status ", *status));
    }
    if (std::filesystem::exists(bootstrap_file) && std::filesystem::exists(control_file)) {
      p->bootstraps_ = ReadLine(bootstrap_file);
      p->control_ = ReadLine(control_file);
      return p;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return absl::DeadlineExceededError(absl::StrCat(binary, " did not start within 15 s"));
}

KafkaDevProcess::~KafkaDevProcess() {
  child_.reset();  // stopped by its PID before its directory goes
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

pid_t KafkaDevProcess::pid() const { return child_ ? child_->pid() : -1; }

absl::StatusOr<std::string> KafkaDevControl(const std::string& address,
                                            const std::string& command) {
  absl::string_view port_text = AbslView(address);
  if (size_t colon = port_text.rfind(':'); colon != absl::string_view::npos) {
    port_text.remove_prefix(colon + 1);
  }
  int port = 0;
  if (!absl::SimpleAtoi(port_text, &port) || port <= 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("bad control address '", address, "'"));
  }
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int e = errno;
    ::close(fd);
    return absl::UnavailableError(absl::StrCat("connecting to ", address, ": ", std::strerror(e)));
  }
  std::string line = command + "\n";
  ::send(fd, line.data(), line.size(), MSG_NOSIGNAL);
  std::string reply;
  char buf[512];
  while (reply.find('\n') == std::string::npos) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    reply.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  if (size_t nl = reply.find('\n'); nl != std::string::npos) reply.resize(nl);
  return reply;
}

}  // namespace apmcov::bus::testing
