// A private PostgreSQL database for one integration test: created on the server named by
// DATABASE_URL (the role needs CREATEDB), migrated, and dropped when the object dies, so
// parallel runs never collide. Names are apmcov_test_<pid>_<n>.
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace apmcov::store::testing {

class TestDatabase {
 public:
  // FailedPrecondition with a clear message when DATABASE_URL is unset.
  static absl::StatusOr<TestDatabase> Create(bool migrate = true);
  TestDatabase(TestDatabase&& other) noexcept;
  TestDatabase& operator=(TestDatabase&&) = delete;
  ~TestDatabase();

  // Connection URL of the private database.
  const std::string& url() const { return url_; }
  const std::string& name() const { return name_; }
  // Runs SQL on the private database (test setup and assertions); throws on error.
  std::string QueryOne(const std::string& sql) const;

 private:
  TestDatabase(std::string admin_url, std::string url, std::string name)
      : admin_url_(std::move(admin_url)), url_(std::move(url)), name_(std::move(name)) {}
  std::string admin_url_, url_, name_;
};

// DATABASE_URL with the database name replaced (URI or key=value form).
std::string WithDatabase(const std::string& url, const std::string& dbname);
// `url` (URI or key=value form) pointing at 127.0.0.1:`port` instead of its host and port.
std::string WithLocalPort(const std::string& url, int port);
// The port `url` names (URI or key=value form; 5432 when it names none).
int PortOf(const std::string& url);

}  // namespace apmcov::store::testing
