#include "apmcov/datadog/testing/ddsim_process.h"

#include <cstdlib>
#include <string_view>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "apmcov/base/status.h"

namespace apmcov::datadog::testing {

std::string DdsimProcess::DefaultBinary() {
  const char* dir = std::getenv("APMCOV_BINARY_DIR");
  if (dir == nullptr || *dir == '\0') return "";
  return absl::StrCat(dir, "/services/ddsim/apmcov-ddsim");
}

absl::StatusOr<std::unique_ptr<DdsimProcess>> DdsimProcess::Start(
    const std::vector<std::string>& args, std::string binary) {
  if (binary.empty()) binary = DefaultBinary();
  if (binary.empty()) {
    return absl::FailedPreconditionError("APMCOV_BINARY_DIR is not set: cannot find apmcov-ddsim");
  }
  std::vector<std::string> argv = {binary};
  argv.insert(argv.end(), args.begin(), args.end());
  std::unique_ptr<DdsimProcess> p(new DdsimProcess());
  absl::StatusOr<std::unique_ptr<apmcov::testing::ChildProcess>> child =
      apmcov::testing::ChildProcess::Start(
          {.argv = std::move(argv), .stdout_to = apmcov::testing::ChildProcess::Output::kPipe});
  if (!child.ok()) {
    return Annotate(child.status(), "starting apmcov-ddsim (build the apmcov-ddsim target)");
  }
  p->child_ = std::move(*child);
  absl::StatusOr<std::string> line = p->child_->ReadLine();
  if (!line.ok()) {
    return absl::InternalError(
        absl::StrCat(binary, " stopped before naming its port: ", line.status().message()));
  }
  // {"ddsim_port":N}: the digits after the colon.
  std::string_view digits;
  if (const size_t colon = line->find(':'); colon != std::string::npos) {
    digits = std::string_view(*line).substr(colon + 1);
    digits = digits.substr(0, digits.find_first_not_of("0123456789"));
  }
  if (!absl::SimpleAtoi(AbslView(digits), &p->port_) || p->port_ <= 0 || p->port_ > 65535) {
    return absl::InternalError(absl::StrCat(binary, " named no port: '", *line, "'"));
  }
  return p;
}

std::string DdsimProcess::url() const { return absl::StrCat("http://127.0.0.1:", port_); }

}  // namespace apmcov::datadog::testing
