// A TCP relay between PostgreSQL clients and a server (127.0.0.1) that, once armed, loses the
// answer to the next COMMIT: it passes the COMMIT on, waits for the server's answer (the
// transaction has committed) and closes the client's connection instead of forwarding it. The
// client sees the connection drop while committing and cannot know the outcome: the fault a
// retried write must survive. Every other byte is relayed as it comes. Tests only; POSIX
// sockets and one thread per direction of each connection.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace apmcov::store::testing {

class CommitCuttingProxy {
 public:
  // Listens on an ephemeral loopback port; relays to 127.0.0.1:`server_port`.
  explicit CommitCuttingProxy(int server_port);
  ~CommitCuttingProxy();  // closes every socket and joins every thread
  CommitCuttingProxy(const CommitCuttingProxy&) = delete;
  CommitCuttingProxy& operator=(const CommitCuttingProxy&) = delete;

  int port() const { return port_; }
  // The next COMMIT any client sends is committed, and its answer lost.
  void ArmCut() { armed_ = true; }
  // How many answers were lost so far.
  int cuts() const { return cuts_; }

 private:
  struct Connection;
  void AcceptLoop();
  void ClientToServer(const std::shared_ptr<Connection>& c);
  void ServerToClient(const std::shared_ptr<Connection>& c);

  int server_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> armed_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<int> cuts_{0};
  std::mutex mu_;  // guards connections_ and threads_
  std::vector<std::shared_ptr<Connection>> connections_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

}  // namespace apmcov::store::testing
