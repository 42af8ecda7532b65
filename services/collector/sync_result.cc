#include "sync_result.h"

#include "apmcov/base/log.h"

namespace apmcov::collector {

const char* FinalStateName(v1::SyncState state) {
  return state == v1::SYNC_STATE_SUCCEEDED ? "succeeded"
         : state == v1::SYNC_STATE_PARTIAL ? "partial"
                                           : "failed";
}

std::string OnceSummaryLine(const SyncResult& r) {
  std::string line = "{\"state\":\"";
  line += FinalStateName(r.state);
  line += "\",\"catalog_services\":" + std::to_string(r.catalog_services) +
          ",\"apm_observations\":" + std::to_string(r.apm_observations) +
          ",\"pages\":" + std::to_string(r.pages) + ",\"spans\":" + std::to_string(r.spans) +
          ",\"windows\":" + std::to_string(r.windows) + ",\"error\":\"";
  AppendJsonEscaped(line, r.error);
  line += "\"}\n";
  return line;
}

int OnceExitCode(const SyncResult& r) {
  return r.state == v1::SYNC_STATE_SUCCEEDED ? 0 : r.state == v1::SYNC_STATE_PARTIAL ? 3 : 1;
}

}  // namespace apmcov::collector
