// Shared fixture helpers of the gateway integration and browser tests: a private PostgreSQL
// database per run (created from DATABASE_URL, schema from libs/store/migrations), seeded with
// representative rows, and a recording fake bus Publisher.
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "apmcov/bus/bus.h"

namespace apmcov::gateway::testing {

// A fresh database named apmcov_gw_<pid>_<random>, dropped by the destructor.
class TestDatabase {
 public:
  // Fails the calling test (ADD_FAILURE) and leaves url() empty when DATABASE_URL is unset.
  TestDatabase();
  ~TestDatabase();
  const std::string& url() const { return url_; }
  void Exec(const std::string& sql) const;
  // Applies every libs/store/migrations/*.sql in order.
  void Migrate() const;
  // Representative rows (see gateway_test_env.cc for the exact world).
  void Seed() const;

 private:
  std::string admin_url_, url_, name_;
};

// Records what was published; Flush fails when `fail` is set. PartitionCount answers 1.
class RecordingPublisher final : public bus::Publisher {
 public:
  absl::Status Publish(bus::OutgoingMessage message) override;
  absl::Status Flush(std::chrono::milliseconds timeout) override;
  absl::StatusOr<int32_t> PartitionCount(const std::string& topic) override;
  std::vector<bus::OutgoingMessage> messages() const;
  bool fail = false;

 private:
  mutable std::mutex mu_;
  std::vector<bus::OutgoingMessage> messages_;
};

// Replaces the database name (path) of a postgresql:// URL.
std::string WithDatabase(const std::string& url, const std::string& db);

}  // namespace apmcov::gateway::testing
