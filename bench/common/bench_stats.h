// Small figures the benches share: the process's CPU time and the median of repeated rounds.
#pragma once

#include <sys/resource.h>

#include <algorithm>
#include <vector>

namespace apmcov::bench {

// User + system CPU seconds of this process so far.
inline double ProcessCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// The median of `v` (0 when empty).
inline double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty()           ? 0
         : v.size() % 2 == 1 ? v[v.size() / 2]
                             : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

}  // namespace apmcov::bench
