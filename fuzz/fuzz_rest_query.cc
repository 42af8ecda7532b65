// REST query strings: split the way Pistache does ('&' between pairs, the first '=' between
// name and value), percent-decoded as RestServer does, then checked by CheckClientText as
// RestApi does. Asserts that the UTF-8 check agrees with an independent decoder written from
// RFC 3629's definition (code point ranges, not byte tables), that an accepted value holds no
// NUL and fits its bound, that a refusal names the parameter, and that ClientSafeText (what a
// message may repeat of the input) is UTF-8 without NUL and leaves acceptable text unchanged.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "rest/client_input.h"

namespace {

// RFC 3629 by code points: the sequence length from the lead byte, continuation bytes
// 10xxxxxx, and the decoded value neither overlong, a surrogate nor beyond U+10FFFF.
bool ReferenceUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    size_t len;
    uint32_t cp;
    if (b < 0x80) {
      len = 1, cp = b;
    } else if ((b & 0xE0) == 0xC0) {
      len = 2, cp = b & 0x1F;
    } else if ((b & 0xF0) == 0xE0) {
      len = 3, cp = b & 0x0F;
    } else if ((b & 0xF8) == 0xF0) {
      len = 4, cp = b & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (c & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

void CheckParam(const std::string& name, const std::string& value, size_t max) {
  const absl::Status s = apmcov::gateway::CheckClientText(name, value, max);
  const bool acceptable =
      value.size() <= max && value.find('\0') == std::string::npos && ReferenceUtf8(value);
  Check(s.ok() == acceptable);
  if (!s.ok()) {
    Check(s.code() == absl::StatusCode::kInvalidArgument);
    const absl::string_view message = s.message();
    Check(std::string(message.substr(0, name.size() + 1)) == name + ":");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view query(reinterpret_cast<const char*>(data), size);
  size_t start = 0;
  while (start <= query.size()) {
    size_t end = query.find('&', start);
    if (end == std::string_view::npos) end = query.size();
    const std::string_view pair = query.substr(start, end - start);
    const size_t eq = pair.find('=');
    const std::string name = apmcov::gateway::PercentDecode(pair.substr(0, eq), true);
    const std::string value = eq == std::string_view::npos
                                  ? std::string()
                                  : apmcov::gateway::PercentDecode(pair.substr(eq + 1), true);
    Check(name.size() <= pair.size() && value.size() <= pair.size());
    Check(apmcov::gateway::IsValidUtf8(name) == ReferenceUtf8(name));
    Check(apmcov::gateway::IsValidUtf8(value) == ReferenceUtf8(value));
    for (const std::string* text : {&name, &value}) {
      const std::string safe = apmcov::gateway::ClientSafeText(*text);
      Check(ReferenceUtf8(safe) && safe.find('\0') == std::string::npos);
      if (ReferenceUtf8(*text) && text->find('\0') == std::string::npos) Check(safe == *text);
    }
    const bool name_ok = apmcov::gateway::CheckClientText("query parameter name", name).ok();
    if (name_ok) {
      CheckParam(name, value,
                 name == "page_token" ? apmcov::gateway::kMaxPageTokenBytes
                                      : apmcov::gateway::kMaxParamBytes);
    }
    start = end + 1;
  }
  return 0;
}
