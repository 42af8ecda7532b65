#include <algorithm>
#include <pqxx/pqxx>
#include <set>

#include "apmcov/base/log.h"
#include "apmcov/base/status.h"
#include "apmcov/store/postgres_store.h"
#include "pg_util.h"

namespace apmcov::store {
namespace {

// pg_advisory_lock key shared by every analyzer: "apmcov-migrate" folded into 63 bits.
constexpr int64_t kMigrationLockKey = 0x61706d636f766d67;

}  // namespace

absl::StatusOr<MigrationReport> RunMigrations(const std::string& database_url,
                                              const std::vector<Migration>& migrations) {
  static const Logger log("store.migrations");
  std::set<int> versions;
  for (const Migration& m : migrations) {
    if (m.version <= 0 || !versions.insert(m.version).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("migration ", m.version, "_", m.name, ": duplicate or invalid version"));
    }
  }
  std::unique_ptr<pqxx::connection> conn;
  try {
    conn = std::make_unique<pqxx::connection>(database_url);
  } catch (...) {
    return internal::StatusFromCurrentException("connecting to PostgreSQL for migrations");
  }
  MigrationReport report;
  std::string current = "taking the migration lock";
  try {
    {
      pqxx::nontransaction nt(*conn);
      // Session lock: held across the per-migration transactions below, released on return
      // (or when the connection drops).
      nt.exec_params("SELECT pg_advisory_lock($1)", kMigrationLockKey);
      current = "creating schema_migrations";
      nt.exec(
          "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text "
          "NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())");
    }
    std::set<int> applied;
    {
      pqxx::read_transaction tx(*conn);
      for (const auto& row : tx.exec("SELECT version FROM schema_migrations")) {
        applied.insert(row[0].as<int>());
      }
    }
    std::vector<const Migration*> ordered;
    for (const Migration& m : migrations) ordered.push_back(&m);
    std::sort(ordered.begin(), ordered.end(),
              [](const Migration* a, const Migration* b) { return a->version < b->version; });
    for (const Migration* m : ordered) {
      if (applied.contains(m->version)) continue;
      current = absl::StrCat("applying migration ", m->version, "_", m->name);
      pqxx::work tx(*conn);
      tx.exec(m->sql);
      tx.exec_params("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m->version,
                     m->name);
      tx.commit();
      report.applied.push_back(m->version);
      applied.insert(m->version);
      log.Info("migration applied", {{"version", m->version}, {"name", m->name}});
    }
    report.current_version = applied.empty() ? 0 : *applied.rbegin();
    pqxx::nontransaction nt(*conn);
    nt.exec_params("SELECT pg_advisory_unlock($1)", kMigrationLockKey);
  } catch (...) {
    return internal::StatusFromCurrentException(current);
  }
  return report;
}

}  // namespace apmcov::store
