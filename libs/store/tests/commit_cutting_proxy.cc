#include "commit_cutting_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>
#include <string>

namespace apmcov::store::testing {

struct CommitCuttingProxy::Connection {
  int client = -1;
  int server = -1;
  std::atomic<bool> cut_next_answer{false};
  void Shutdown() const {
    ::shutdown(client, SHUT_RDWR);
    ::shutdown(server, SHUT_RDWR);
  }
  ~Connection() {
    ::close(client);
    ::close(server);
  }
};

namespace {

// The startup phase's untyped messages that are answered before a new one: SSLRequest and
// GSSENCRequest (protocol codes of the PostgreSQL frontend/backend protocol).
constexpr uint32_t kSslRequest = 80877103;
constexpr uint32_t kGssEncRequest = 80877104;

bool ReadFull(int fd, char* buf, size_t n) {
  while (n > 0) {
    const ssize_t got = ::recv(fd, buf, n, 0);
    if (got <= 0) return false;
    buf += got;
    n -= static_cast<size_t>(got);
  }
  return true;
}

bool WriteFull(int fd, const char* buf, size_t n) {
  while (n > 0) {
    const ssize_t sent = ::send(fd, buf, n, MSG_NOSIGNAL);
    if (sent <= 0) return false;
    buf += sent;
    n -= static_cast<size_t>(sent);
  }
  return true;
}

uint32_t BigEndian32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return ntohl(v);
}

int ConnectLoopback(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (fd >= 0) ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

CommitCuttingProxy::CommitCuttingProxy(int server_port) : server_port_(server_port) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      ::listen(listen_fd_, 16) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw std::runtime_error(std::string("proxy: cannot listen: ") + std::strerror(errno));
  }
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

CommitCuttingProxy::~CommitCuttingProxy() {
  stopping_ = true;
  ::shutdown(listen_fd_, SHUT_RDWR);  // wakes accept()
  acceptor_.join();
  ::close(listen_fd_);
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mu_);
    for (const auto& c : connections_) c->Shutdown();
    threads.swap(threads_);
  }
  for (std::thread& t : threads) t.join();
}

void CommitCuttingProxy::AcceptLoop() {
  while (!stopping_) {
    const int client = ::accept(listen_fd_, nullptr, nullptr);
    if (client < 0) return;
    auto c = std::make_shared<Connection>();
    c->client = client;
    c->server = ConnectLoopback(server_port_);
    std::lock_guard lock(mu_);
    connections_.push_back(c);
    if (c->server < 0 || stopping_) {
      c->Shutdown();
      continue;
    }
    threads_.emplace_back([this, c] { ClientToServer(c); });
    threads_.emplace_back([this, c] { ServerToClient(c); });
  }
}

// Relays the client's messages whole, so that a COMMIT is recognised before it is passed on.
void CommitCuttingProxy::ClientToServer(const std::shared_ptr<Connection>& c) {
  bool startup = true;  // the first messages carry no type byte
  std::string msg;
  for (;;) {
    const size_t head = startup ? 4 : 5;
    msg.resize(head);
    if (!ReadFull(c->client, msg.data(), head)) break;
    const uint32_t len = BigEndian32(msg.data() + head - 4);
    if (len < 4) break;
    msg.resize(head + len - 4);
    if (!ReadFull(c->client, msg.data() + head, len - 4)) break;
    if (startup) {
      const uint32_t code = len >= 8 ? BigEndian32(msg.data() + 4) : 0;
      startup = code == kSslRequest || code == kGssEncRequest;  // answered, then a new one
    } else if (msg[0] == 'Q' && msg.compare(head, 6, "COMMIT") == 0 && armed_.exchange(false)) {
      c->cut_next_answer = true;
    }
    if (!WriteFull(c->server, msg.data(), msg.size())) break;
  }
  c->Shutdown();
}

// Relays the server's bytes as they come, except the answer to a COMMIT that was to be cut:
// the connection is closed instead.
void CommitCuttingProxy::ServerToClient(const std::shared_ptr<Connection>& c) {
  char buf[16384];
  for (;;) {
    const ssize_t got = ::recv(c->server, buf, sizeof buf, 0);
    if (got <= 0) break;
    if (c->cut_next_answer) {
      ++cuts_;
      break;
    }
    if (!WriteFull(c->client, buf, static_cast<size_t>(got))) break;
  }
  c->Shutdown();
}

}  // namespace apmcov::store::testing
