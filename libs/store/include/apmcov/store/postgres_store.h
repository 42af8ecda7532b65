// PostgreSQL adapter of the CoverageStore port (libpqxx, private to this library) and the schema
// migrations runner (design §4).
//
// PostgresCoverageStore keeps one connection, opened lazily and reopened after it breaks, so a
// database restart costs the caller only retries (Unavailable) until it is back. Every libpqxx
// exception is caught here and returned as absl::Status. Apply() sends each table's rows as
// multi-row INSERT ... ON CONFLICT statements (chunks of up to 1000 rows), all inside one
// transaction; rows are merged in memory first so no statement touches a key twice.
//
// Migrations are the files libs/store/migrations/NNNN_name.sql, embedded in the binary at build
// time (EmbeddedMigrations()), so nothing is read from disk at run time.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "apmcov/store/coverage_store.h"

namespace apmcov::store {

// `postgresql://user:secret@host:port/db?x=y` → `postgresql://user:<redacted>@host:port/db?x=y`;
// also redacts `password=...` in key=value connection strings. For logs.
std::string RedactDatabaseUrl(std::string_view url);

class PostgresCoverageStore final : public CoverageStore {
 public:
  // `database_url`: a libpq connection string or URI. Does not connect yet (see Ping()).
  explicit PostgresCoverageStore(std::string database_url);
  ~PostgresCoverageStore() override;
  PostgresCoverageStore(const PostgresCoverageStore&) = delete;
  PostgresCoverageStore& operator=(const PostgresCoverageStore&) = delete;

  absl::StatusOr<ApplyResult> Apply(const WriteBatch& batch) override;
  absl::StatusOr<std::vector<ServiceRow>> LoadServices(bool include_removed) override;
  absl::StatusOr<std::vector<ApmServiceRow>> LoadApmServices() override;
  absl::StatusOr<std::optional<BrokenTraceRecord>> LoadBrokenTrace(uint64_t trace_id) override;
  absl::StatusOr<std::vector<uint64_t>> ListBrokenTraceIds() override;
  absl::StatusOr<std::vector<DependencyRow>> LoadDependencies() override;
  absl::StatusOr<std::optional<SyncJobRecord>> LoadSyncJob(const std::string& id) override;
  absl::StatusOr<std::vector<CoverageRow>> LoadCoverageSnapshot(int64_t taken_at_ns) override;
  absl::StatusOr<std::optional<SnapshotState>> LoadSnapshotState(
      const std::string& snapshot_id) override;
  absl::StatusOr<std::vector<PartitionWatermark>> LoadWatermarks() override;
  absl::StatusOr<std::vector<TraceJudgementCount>> LoadJudgements(int64_t since_ns) override;
  absl::StatusOr<std::vector<BrokenTraceBlame>> LoadBrokenTraceBlame(int64_t since_ns) override;
  absl::StatusOr<std::vector<ScorecardOutcomeRow>> LoadScorecardOutcomes() override;
  absl::Status SaveScorecardOutcomes(const std::vector<ScorecardOutcomeRow>& rows) override;
  absl::StatusOr<std::vector<DeadLetterKey>> ClaimDeadLetters(
      const std::vector<DeadLetterKey>& keys) override;
  absl::Status MarkDeadLettersPublished(const std::vector<DeadLetterKey>& keys) override;
  // One short transaction per table: DELETE ... WHERE ctid = ANY(ARRAY(SELECT ctid ... LIMIT
  // batch_rows FOR UPDATE SKIP LOCKED)), on the indexes of migration 0008.
  absl::StatusOr<PruneResult> Prune(const RetentionPolicy& policy, int64_t now_ns,
                                    size_t batch_rows) override;
  // Connects if needed and runs `SELECT 1`.
  absl::Status Ping() override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One schema migration: version NNNN and name from the file name, and its SQL.
struct Migration {
  int version = 0;
  std::string name;
  std::string sql;
};

// The migrations embedded at build time, ascending by version.
const std::vector<Migration>& EmbeddedMigrations();

struct MigrationReport {
  std::vector<int> applied;  // versions applied by this call, ascending
  int current_version = 0;   // highest version recorded after the call
};

// Applies every migration not yet recorded in `schema_migrations`, each in its own transaction
// that also records it. Holds a session advisory lock for the whole run, so two analyzers
// starting at once apply each migration exactly once. Idempotent. Unavailable when the database
// cannot be reached; Internal (naming the migration) when one fails, which is rolled back.
absl::StatusOr<MigrationReport> RunMigrations(
    const std::string& database_url,
    const std::vector<Migration>& migrations = EmbeddedMigrations());

}  // namespace apmcov::store
