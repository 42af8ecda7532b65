#include "ddsim/http/json_writer.h"

#include <array>

#include "apmcov/base/log.h"
#include "ddsim/world/cat.h"

namespace apmcov::ddsim {

void AppendJsonString(std::string& out, std::string_view s) {
  out.push_back('"');
  AppendJsonEscaped(out, s);
  out.push_back('"');
}

void AppendHex16(std::string& out, uint64_t v) {
  static constexpr char kHex[] = "0123456789abcdef";
  char buf[16];
  for (int i = 15; i >= 0; --i) {
    buf[i] = kHex[v & 15];
    v >>= 4;
  }
  out.append(buf, 16);
}

void AppendIsoMillis(std::string& out, int64_t unix_nanos, bool quoted) {
  int64_t ms = unix_nanos >= 0 ? unix_nanos / 1'000'000 : -((-unix_nanos + 999'999) / 1'000'000);
  int64_t secs = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
  const int millis = static_cast<int>(ms - secs * 1000);
  int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
  int64_t sod = secs - days * 86400;
  // civil_from_days (H. Hinnant).
  days += 719468;
  const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const int64_t doe = days - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = yoe + era * 400;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const int64_t m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) ++y;
  char buf[32];
  auto two = [](char* p, int64_t v) {
    p[0] = static_cast<char>('0' + v / 10);
    p[1] = static_cast<char>('0' + v % 10);
  };
  char* p = buf;
  if (quoted) *p++ = '"';
  p[0] = static_cast<char>('0' + (y / 1000) % 10);
  p[1] = static_cast<char>('0' + (y / 100) % 10);
  p[2] = static_cast<char>('0' + (y / 10) % 10);
  p[3] = static_cast<char>('0' + y % 10);
  p[4] = '-';
  two(p + 5, m);
  p[7] = '-';
  two(p + 8, d);
  p[10] = 'T';
  two(p + 11, sod / 3600);
  p[13] = ':';
  two(p + 14, (sod / 60) % 60);
  p[16] = ':';
  two(p + 17, sod % 60);
  p[19] = '.';
  p[20] = static_cast<char>('0' + millis / 100);
  p[21] = static_cast<char>('0' + (millis / 10) % 10);
  p[22] = static_cast<char>('0' + millis % 10);
  p[23] = 'Z';
  p += 24;
  if (quoted) *p++ = '"';
  out.append(buf, p);
}

std::string Base64Encode(std::string_view data) {
  static constexpr char kTab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    const uint32_t v = (static_cast<uint8_t>(data[i]) << 16) |
                       (static_cast<uint8_t>(data[i + 1]) << 8) | static_cast<uint8_t>(data[i + 2]);
    out.push_back(kTab[v >> 18]);
    out.push_back(kTab[(v >> 12) & 63]);
    out.push_back(kTab[(v >> 6) & 63]);
    out.push_back(kTab[v & 63]);
  }
  if (i < data.size()) {
    uint32_t v = static_cast<uint8_t>(data[i]) << 16;
    if (i + 1 < data.size()) v |= static_cast<uint8_t>(data[i + 1]) << 8;
    out.push_back(kTab[v >> 18]);
    out.push_back(kTab[(v >> 12) & 63]);
    out.push_back(i + 1 < data.size() ? kTab[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

bool Base64Decode(std::string_view in, std::string* out) {
  std::array<int, 256> tab;
  tab.fill(-1);
  const std::string_view alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (size_t i = 0; i < alpha.size(); ++i)
    tab[static_cast<uint8_t>(alpha[i])] = static_cast<int>(i);
  tab['-'] = 62;
  tab['_'] = 63;
  out->clear();
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=') break;
    const int v = tab[static_cast<uint8_t>(c)];
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return true;
}

}  // namespace apmcov::ddsim
