#include "apmcov/datadog/key_guard.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "apmcov/base/config.h"

namespace apmcov::datadog {
namespace {

bool IsHex(std::string_view s, size_t length) {
  if (s.size() != length) return false;
  for (char c : s) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// The host of scheme://[user-info@]host[:port][/...], lowercased, without brackets.
std::string HostOf(std::string_view url) {
  size_t start = url.find("://");
  if (start == std::string_view::npos) return "";
  std::string_view authority = url.substr(start + 3);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  if (size_t at = authority.rfind('@'); at != std::string_view::npos) {
    authority.remove_prefix(at + 1);
  }
  std::string_view host;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    host =
        authority.substr(1, close == std::string_view::npos ? std::string_view::npos : close - 1);
  } else {
    host = authority.substr(0, authority.find(':'));
  }
  return absl::AsciiStrToLower(std::string(host));
}

}  // namespace

bool LooksLikeRealApiKey(std::string_view key) { return IsHex(key, 32); }
bool LooksLikeRealAppKey(std::string_view key) { return IsHex(key, 40); }

bool IsLoopbackUrl(std::string_view url) {
  const std::string host = HostOf(url);
  if (host == "localhost" || absl::EndsWith(host, ".localhost") || host == "::1") return true;
  if (!absl::StartsWith(host, "127.")) return false;
  for (char c : host) {
    if (c != '.' && !absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

absl::Status CheckKeyTransport(std::string_view api_key, std::string_view app_key,
                               std::string_view base_url, bool allow_insecure) {
  if (allow_insecure) return absl::OkStatus();
  const bool plain_http = absl::AsciiStrToLower(std::string(base_url.substr(0, 7))) == "http://";
  if (!plain_http || IsLoopbackUrl(base_url)) {
    return absl::OkStatus();
  }
  const char* which = LooksLikeRealApiKey(api_key) ? "DD_API_KEY looks like a real Datadog API key"
                      : LooksLikeRealAppKey(app_key) ? "DD_APP_KEY looks like a real Datadog "
                                                       "application key"
                                                     : nullptr;
  if (which == nullptr) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat(which, " and would be sent unencrypted to ", RedactUrlUserInfo(base_url),
                   " (plain http, not loopback): use an https URL (or unset DD_API_BASE_URL for "
                   "https://api.<DD_SITE>); if this is the simulator, give it made-up keys; set "
                   "DD_API_ALLOW_INSECURE=true only if you accept sending the keys in clear text"));
}

}  // namespace apmcov::datadog
