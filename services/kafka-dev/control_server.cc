#include "control_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "apmcov/base/log.h"
#include "apmcov/base/status.h"

namespace apmcov::kafkadev {
namespace {

const Logger& Log() {
  static const Logger log("kafka-dev.control");
  return log;
}

constexpr std::string_view kHelp =
    "commands: status | bootstrap | broker-down <id> | broker-up <id> | "
    "create-topic <name> <partitions> | set-leader <topic> <partition> <broker> | help";
constexpr size_t kMaxLine = 4096;

std::string Reply(const absl::Status& status) {
  if (status.ok()) return "ok";
  return absl::StrCat("error ", status.message());
}

bool ParseInt(std::string_view text, int32_t* out) { return absl::SimpleAtoi(AbslView(text), out); }

}  // namespace

std::string ExecuteControlCommand(MockCluster& cluster, std::string_view line) {
  std::vector<std::string> words =
      absl::StrSplit(AbslView(line), absl::ByAnyChar(" \t\r"), absl::SkipEmpty());
  if (words.empty()) return "error empty command; try help";
  const std::string& cmd = words[0];
  auto want = [&](size_t n, std::string_view usage) -> std::string {
    if (words.size() == n + 1) return "";
    return absl::StrCat("error usage: ", AbslView(usage));
  };
  if (cmd == "help") return absl::StrCat("ok ", AbslView(kHelp));
  if (cmd == "status") return absl::StrCat("ok ", cluster.StatusLine());
  if (cmd == "bootstrap") return absl::StrCat("ok ", cluster.Bootstraps());
  if (cmd == "broker-down" || cmd == "broker-up") {
    if (std::string err = want(1, absl::StrCat(cmd, " <broker id>")); !err.empty()) return err;
    int32_t id = 0;
    if (!ParseInt(words[1], &id))
      return absl::StrCat("error broker id '", words[1], "' is not a number");
    return Reply(cmd == "broker-down" ? cluster.BrokerDown(id) : cluster.BrokerUp(id));
  }
  if (cmd == "create-topic") {
    if (std::string err = want(2, "create-topic <name> <partitions>"); !err.empty()) return err;
    TopicSpec spec{words[1], 0};
    if (!ParseInt(words[2], &spec.partitions)) {
      return absl::StrCat("error partitions '", words[2], "' is not a number");
    }
    return Reply(cluster.CreateTopic(spec));
  }
  if (cmd == "set-leader") {
    if (std::string err = want(3, "set-leader <topic> <partition> <broker>"); !err.empty()) {
      return err;
    }
    int32_t partition = 0, broker = 0;
    if (!ParseInt(words[2], &partition) || !ParseInt(words[3], &broker)) {
      return "error partition and broker must be numbers";
    }
    return Reply(cluster.SetLeader(words[1], partition, broker));
  }
  return absl::StrCat("error unknown command '", cmd, "'; ", AbslView(kHelp));
}

absl::Status ControlServer::Start(uint16_t port) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(listen_fd_, 16) != 0) {
    int e = errno;
    ::close(listen_fd_);
    listen_fd_ = -1;
    return absl::UnavailableError(
        absl::StrCat("binding control port 127.0.0.1:", port, ": ", std::strerror(e)));
  }
  socklen_t len = sizeof(addr);
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  if (::pipe2(wake_fds_, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

void ControlServer::Stop() {
  if (thread_.joinable()) {
    char c = 'x';
    [[maybe_unused]] ssize_t n = ::write(wake_fds_[1], &c, 1);
    thread_.join();
  }
  for (int* fd : {&listen_fd_, &wake_fds_[0], &wake_fds_[1]}) {
    if (*fd >= 0) ::close(*fd);
    *fd = -1;
  }
}

void ControlServer::Run() {
  std::map<int, std::string> clients;  // fd -> unfinished input
  for (;;) {
    std::vector<pollfd> fds;
    fds.push_back({wake_fds_[0], POLLIN, 0});
    fds.push_back({listen_fd_, POLLIN, 0});
    for (const auto& [fd, buf] : clients) fds.push_back({fd, POLLIN, 0});
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      Log().Error("poll failed", {{"error", std::strerror(errno)}});
      break;
    }
    if (fds[0].revents != 0) break;
    if (fds[1].revents & POLLIN) {
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) clients[fd] = "";
    }
    for (size_t i = 2; i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      int fd = fds[i].fd;
      char buf[1024];
      ssize_t n = ::read(fd, buf, sizeof(buf));
      std::string& pending = clients[fd];
      bool close_it = n <= 0;
      if (n > 0) pending.append(buf, static_cast<size_t>(n));
      size_t nl;
      while (!close_it && (nl = pending.find('\n')) != std::string::npos) {
        std::string line = pending.substr(0, nl);
        pending.erase(0, nl + 1);
        std::string reply = ExecuteControlCommand(cluster_, line);
        Log().Info("control command", {{"command", line}, {"reply", reply}});
        reply += '\n';
        if (::send(fd, reply.data(), reply.size(), MSG_NOSIGNAL) < 0) close_it = true;
      }
      if (pending.size() > kMaxLine) close_it = true;
      if (close_it) {
        ::close(fd);
        clients.erase(fd);
      }
    }
  }
  for (const auto& [fd, buf] : clients) ::close(fd);
}

}  // namespace apmcov::kafkadev
