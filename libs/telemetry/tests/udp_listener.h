// A UDP listener on 127.0.0.1 (port 0) for the DogStatsD tests: receives datagrams with a
// timeout. Test-only; not thread-safe.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <set>
#include <string>

namespace apmcov::telemetry::testing {

class UdpListener {
 public:
  UdpListener() {
    fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bound_ = fd_ >= 0 && bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    socklen_t len = sizeof(addr);
    if (bound_ && getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port_ = ntohs(addr.sin_port);
    }
  }
  ~UdpListener() {
    if (fd_ >= 0) close(fd_);
  }
  UdpListener(const UdpListener&) = delete;
  UdpListener& operator=(const UdpListener&) = delete;

  uint16_t port() const { return port_; }
  bool ok() const { return bound_ && port_ != 0; }

  // One datagram, or "" after `timeout_ms`.
  std::string Receive(int timeout_ms = 2000) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) != 1) return "";
    char buf[2048];
    ssize_t n = recv(fd_, buf, sizeof(buf), 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }

  // Every datagram that arrives until none has come for `quiet_ms`.
  std::multiset<std::string> Drain(int quiet_ms = 300) {
    std::multiset<std::string> lines;
    for (std::string line = Receive(quiet_ms); !line.empty(); line = Receive(quiet_ms)) {
      lines.insert(line);
    }
    return lines;
  }

 private:
  int fd_ = -1;
  bool bound_ = false;
  uint16_t port_ = 0;
};

}  // namespace apmcov::telemetry::testing
