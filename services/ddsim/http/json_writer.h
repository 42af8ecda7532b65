// Minimal append-only JSON writing for hot paths (span pages): no DOM, no allocation beyond
// the output string. The caller is responsible for structure (commas, braces).
#pragma once

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

namespace apmcov::ddsim {

// Appends `s` as a JSON string literal (with quotes).
void AppendJsonString(std::string& out, std::string_view s);

inline void AppendU64(std::string& out, uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}
inline void AppendI64(std::string& out, int64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}
// "\"123\"": a decimal string (Spans API ids).
inline void AppendU64String(std::string& out, uint64_t v) {
  out.push_back('"');
  AppendU64(out, v);
  out.push_back('"');
}
// 16 lowercase hex digits.
void AppendHex16(std::string& out, uint64_t v);
// "2023-06-29T09:50:52.472Z" (millisecond precision, quoted when `quoted`).
void AppendIsoMillis(std::string& out, int64_t unix_nanos, bool quoted = true);
// Standard base64 (with padding) of `data`.
std::string Base64Encode(std::string_view data);
// Decodes standard or URL-safe base64; false on invalid input.
bool Base64Decode(std::string_view in, std::string* out);

}  // namespace apmcov::ddsim
