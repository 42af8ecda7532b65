// apmcov-ddsim: the Datadog API simulator. `apmcov-ddsim [serve] --seed N --services N ...`
// serves the API; `apmcov-ddsim truth --seed N --services N --from T --to T` prints the
// ground truth. See services/ddsim/README.md.
#include <cstdio>
#include <string>

#include "apmcov/base/clock.h"
#include "apmcov/base/config.h"
#include "apmcov/base/log.h"
#include "apmcov/base/process.h"
#include "ddsim/app.h"

int main(int argc, char** argv) {
  apmcov::BlockShutdownSignals();
  apmcov::ConfigReader reader(argc, argv);
  apmcov::ConfigureLoggingFrom(reader, "apmcov-ddsim");
  apmcov::RealClock clock;
  const int64_t now = clock.NowUnixNanos();
  auto config = apmcov::ddsim::ReadDdsimConfig(reader, now);
  if (apmcov::PrintUsageIfRequested(
          reader, "apmcov-ddsim [serve | truth]",
          "A Datadog API simulator: a generated organisation, its traffic and its ground truth.\n"
          "`serve` (the default) serves the Datadog API; `truth --from T --to T` prints the\n"
          "ground truth of that range. See services/ddsim/README.md.")) {
    return 0;
  }
  if (!config.ok()) {
    std::fprintf(stderr, "apmcov-ddsim: %s\n", std::string(config.status().message()).c_str());
    return 2;
  }
  if (config->mode == "truth") return apmcov::ddsim::RunTruth(*config, now);
  apmcov::LogEffectiveConfig(apmcov::Logger("ddsim"), reader);
  return apmcov::ddsim::RunServe(*config);
}
