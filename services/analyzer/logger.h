// The analyzer's one named logger, shared by its translation units.
#pragma once

#include "apmcov/base/log.h"

namespace apmcov::analyzer {

inline const Logger& Log() {
  static const Logger log("analyzer");
  return log;
}

}  // namespace apmcov::analyzer
