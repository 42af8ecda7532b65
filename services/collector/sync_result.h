// The outcome of one sync, as the collector reports it: SyncResult, the name of its final state
// (metrics, logs, the job record), and what `apmcov-collector --once` prints and exits with.
#pragma once

#include <cstdint>
#include <string>

#include "apmcov/v1/events.pb.h"

namespace apmcov::collector {

// The outcome of one sync.
struct SyncResult {
  v1::SyncState state = v1::SYNC_STATE_UNSPECIFIED;
  std::string error;  // failed: the error; partial: the reason(s)
  uint64_t catalog_services = 0;
  bool catalog_complete = false;
  uint64_t apm_observations = 0;
  uint64_t pages = 0;
  uint64_t spans = 0;
  uint64_t windows = 0;
  int64_t checkpoint_unix_nano = 0;
  double sampled_seconds = 0;  // span time read whole
  double skipped_seconds = 0;  // span time skipped on purpose (sampling)
};

// "succeeded", "partial", or "failed" for any other state.
const char* FinalStateName(v1::SyncState state);

// The one JSON line `--once` prints (newline included): the final state, the counts of what
// was read and published, and the error.
std::string OnceSummaryLine(const SyncResult& result);

// `--once`'s exit status: 0 succeeded, 3 partial, 1 failed.
int OnceExitCode(const SyncResult& result);

}  // namespace apmcov::collector
