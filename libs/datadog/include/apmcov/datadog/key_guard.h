// A guard against sending real Datadog keys where they do not belong (design §7, §9).
//
// The keys travel as HTTP headers on every call. Over plain http to another host (the
// docker-compose demo points the collector at http://ddsim:8081) anyone on the path reads
// them, and a simulator takes any key anyway. Pure functions; thread-safe.
#pragma once

#include <string_view>

#include "absl/status/status.h"

namespace apmcov::datadog {

// Looks like a key Datadog issues: an API key is 32 hex digits, an application key 40.
bool LooksLikeRealApiKey(std::string_view key);
bool LooksLikeRealAppKey(std::string_view key);

// True for http(s) URLs whose host is localhost, 127.0.0.0/8 or [::1].
bool IsLoopbackUrl(std::string_view url);

// OK unless a real-looking key would go over plain http to a host that is not loopback and
// `allow_insecure` (DD_API_ALLOW_INSECURE) is false: then FailedPrecondition saying what to
// do. The message never contains a key, and shows the URL without its user-info.
absl::Status CheckKeyTransport(std::string_view api_key, std::string_view app_key,
                               std::string_view base_url, bool allow_insecure);

}  // namespace apmcov::datadog
