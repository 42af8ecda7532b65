// String concatenation over std::string_view and numbers. Debian's Abseil has its own
// absl::string_view, so absl::StrCat does not take std::string_view; ddsim uses these.
#pragma once

#include <charconv>
#include <concepts>
#include <string>
#include <string_view>

namespace apmcov::ddsim {

namespace cat_internal {
inline void Put(std::string& out, std::string_view s) { out.append(s); }
inline void Put(std::string& out, const char* s) { out.append(s); }
inline void Put(std::string& out, const std::string& s) { out.append(s); }
inline void Put(std::string& out, char c) { out.push_back(c); }
template <std::integral T>
requires(!std::same_as<T, char> && !std::same_as<T, bool>) void Put(std::string& out, T v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}
}  // namespace cat_internal

template <typename... T>
void Append(std::string& out, const T&... parts) {
  (cat_internal::Put(out, parts), ...);
}

template <typename... T>
std::string Cat(const T&... parts) {
  std::string out;
  Append(out, parts...);
  return out;
}

// Lowercase hex without leading zeros.
inline std::string Hex(uint64_t v) {
  char buf[17];
  auto r = std::to_chars(buf, buf + sizeof buf, v, 16);
  return std::string(buf, r.ptr);
}

}  // namespace apmcov::ddsim
