#include "test_database.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <pqxx/pqxx>
#include <stdexcept>
#include <string>
#include <utility>

#include "apmcov/base/status.h"
#include "apmcov/store/postgres_store.h"

namespace apmcov::store::testing {
namespace {

// Where a libpq URI's host[:port] begins and ends (the end is where the path or the query
// starts); npos for a key=value string.
std::pair<size_t, size_t> UriHostPort(const std::string& url) {
  const size_t scheme = url.find("://");
  if (scheme == std::string::npos) return {std::string::npos, std::string::npos};
  const size_t end = std::min(url.find_first_of("/?", scheme + 3), url.size());
  const size_t at = url.rfind('@', end);
  const size_t begin = at != std::string::npos && at > scheme ? at + 1 : scheme + 3;
  return {begin, end};
}

}  // namespace

std::string WithDatabase(const std::string& url, const std::string& dbname) {
  const auto [host, end] = UriHostPort(url);
  if (host == std::string::npos) return url + " dbname=" + dbname;
  const size_t query = url.find('?', end);
  const std::string tail = query == std::string::npos ? "" : url.substr(query);
  return url.substr(0, end) + "/" + dbname + tail;
}

std::string WithLocalPort(const std::string& url, int port) {
  const auto [host, end] = UriHostPort(url);
  if (host == std::string::npos) return url + " host=127.0.0.1 port=" + std::to_string(port);
  return url.substr(0, host) + "127.0.0.1:" + std::to_string(port) + url.substr(end);
}

int PortOf(const std::string& url) {
  const auto [host, end] = UriHostPort(url);
  if (host != std::string::npos) {
    const size_t colon = url.rfind(':', end);
    return colon != std::string::npos && colon > host ? std::stoi(url.substr(colon + 1)) : 5432;
  }
  int port = 5432;  // key=value: the last port= wins
  for (size_t at = url.find("port="); at != std::string::npos; at = url.find("port=", at + 5)) {
    if (at == 0 || url[at - 1] == ' ') port = std::stoi(url.substr(at + 5));
  }
  return port;
}

absl::StatusOr<TestDatabase> TestDatabase::Create(bool migrate) {
  const char* env = std::getenv("DATABASE_URL");
  if (env == nullptr || *env == '\0') {
    return absl::FailedPreconditionError(
        "DATABASE_URL is not set: integration tests need a PostgreSQL server whose role has "
        "CREATEDB (start one with `scripts/pg-local.sh start` and export the URL it prints, or "
        "run scripts/test.sh)");
  }
  static std::atomic<int> counter{0};
  const std::string name =
      "apmcov_test_" + std::to_string(getpid()) + "_" + std::to_string(counter++);
  try {
    pqxx::connection admin(env);
    pqxx::nontransaction nt(admin);
    nt.exec("DROP DATABASE IF EXISTS " + name);
    nt.exec("CREATE DATABASE " + name);
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("creating test database ", name, " on ",
                                               RedactDatabaseUrl(env), ": ", e.what()));
  }
  TestDatabase db(env, WithDatabase(env, name), name);
  if (migrate) {
    absl::StatusOr<MigrationReport> report = RunMigrations(db.url());
    if (!report.ok()) return report.status();
  }
  return db;
}

TestDatabase::TestDatabase(TestDatabase&& other) noexcept
    : admin_url_(std::move(other.admin_url_)),
      url_(std::move(other.url_)),
      name_(std::move(other.name_)) {
  other.name_.clear();
}

TestDatabase::~TestDatabase() {
  if (name_.empty()) return;
  try {
    pqxx::connection admin(admin_url_);
    pqxx::nontransaction nt(admin);
    nt.exec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
  } catch (const std::exception&) {
    // Best effort: a leftover apmcov_test_* database does not affect other runs.
  }
}

std::string TestDatabase::QueryOne(const std::string& sql) const {
  pqxx::connection conn(url_);
  pqxx::nontransaction nt(conn);
  const pqxx::result r = nt.exec(sql);
  if (r.empty() || r[0][0].is_null()) return "";
  return r[0][0].as<std::string>();
}

}  // namespace apmcov::store::testing
