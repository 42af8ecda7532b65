#include "ddsim/http/params.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "apmcov/base/status.h"
#include "apmcov/base/time.h"
#include "ddsim/world/cat.h"

namespace apmcov::ddsim {

absl::StatusOr<int64_t> ParseInt(std::string_view name, const std::string* v, int64_t def) {
  if (v == nullptr) return def;
  int64_t out = 0;
  auto r = std::from_chars(v->data(), v->data() + v->size(), out);
  if (r.ec != std::errc() || r.ptr != v->data() + v->size()) {
    return absl::InvalidArgumentError(Cat(name, " must be an integer, got \"", *v, "\""));
  }
  return out;
}

// Hand-written rather than curl_easy_escape: ddsim does not link libcurl, and this writes the
// links.next of every span page it serves (bench/ddsim) without an allocation per parameter.
void AppendQueryParam(std::string& out, std::string_view key, std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  if (!out.empty()) out.push_back('&');
  auto enc = [&](std::string_view s) {
    for (char c : s) {
      const auto u = static_cast<unsigned char>(c);
      if (std::isalnum(u) || c == '-' || c == '_' || c == '.' || c == '~') {
        out.push_back(c);
      } else {
        out.push_back('%');
        out.push_back(kHex[u >> 4]);
        out.push_back(kHex[u & 15]);
      }
    }
  };
  enc(key);
  out.push_back('=');
  enc(value);
}

namespace {

// Nanoseconds of one `unit` (s, m, h, d; w when `weeks`), 0 for any other.
int64_t UnitNanos(char unit, bool weeks) {
  switch (unit) {
    case 's':
      return 1'000'000'000LL;
    case 'm':
      return 60'000'000'000LL;
    case 'h':
      return 3'600'000'000'000LL;
    case 'd':
      return 86'400'000'000'000LL;
    case 'w':
      return weeks ? 7 * 86'400'000'000'000LL : 0;
    default:
      return 0;
  }
}

}  // namespace

absl::StatusOr<int64_t> ParseInterval(std::string_view s) {
  if (s.size() < 2) return absl::InvalidArgumentError(Cat("bad interval \"", s, "\""));
  int64_t n = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size() - 1, n);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size() - 1 || n <= 0) {
    return absl::InvalidArgumentError(Cat("bad interval \"", s, "\""));
  }
  const int64_t unit = UnitNanos(s.back(), /*weeks=*/false);
  if (unit == 0) return absl::InvalidArgumentError(Cat("bad interval unit in \"", s, "\""));
  return n * unit;
}

absl::StatusOr<int64_t> ParseDatadogTime(std::string_view text, int64_t now_ns) {
  if (text.empty()) return absl::InvalidArgumentError("empty time");
  if (text.substr(0, 3) == "now") {
    std::string_view rest = text.substr(3);
    if (rest.empty()) return now_ns;
    const char sign = rest[0];
    if ((sign != '-' && sign != '+') || rest.size() < 3) {
      return absl::InvalidArgumentError(Cat("bad date math \"", text, "\""));
    }
    int64_t n = 0;
    auto r = std::from_chars(rest.data() + 1, rest.data() + rest.size() - 1, n);
    if (r.ec != std::errc() || r.ptr != rest.data() + rest.size() - 1) {
      return absl::InvalidArgumentError(Cat("bad date math \"", text, "\""));
    }
    const int64_t unit = UnitNanos(rest.back(), /*weeks=*/true);
    if (unit == 0) return absl::InvalidArgumentError(Cat("bad date math unit in \"", text, "\""));
    return sign == '-' ? now_ns - n * unit : now_ns + n * unit;
  }
  if (std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    int64_t ms = 0;
    auto r = std::from_chars(text.data(), text.data() + text.size(), ms);
    if (r.ec != std::errc()) return absl::InvalidArgumentError(Cat("bad epoch ms \"", text, "\""));
    return ms * 1'000'000;
  }
  auto t = ParseRfc3339(text);
  if (!t.ok()) {
    return absl::InvalidArgumentError(
        Cat("time \"", text, "\" is neither ISO 8601, epoch milliseconds nor now-N"));
  }
  return *t;
}

}  // namespace apmcov::ddsim
