// Checks on what a client sends, shared by the REST and gRPC adapters (design §8): text
// parameters are UTF-8 without NUL and of bounded length, the bearer token is compared in
// constant time, and server faults are answered with a request id instead of their detail.
// Pure functions, thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace apmcov::gateway {

// Longest value accepted in any text parameter (query, path or gRPC string field); the
// request line itself is bounded by the HTTP server (64 KiB).
inline constexpr size_t kMaxParamBytes = 4096;
// Longest page_token accepted: tokens this API issues are well under 1 KiB.
inline constexpr size_t kMaxPageTokenBytes = 1024;

// Decodes %XX escapes and, when `plus_is_space`, '+'. Bad escapes are kept as written. The
// result is raw bytes: check it with CheckClientText before use.
std::string PercentDecode(std::string_view in, bool plus_is_space);

// True when `s` is well-formed UTF-8 (RFC 3629): no overlong forms, no UTF-16 surrogates,
// nothing above U+10FFFF, no truncated sequence.
bool IsValidUtf8(std::string_view s);

// `s` made fit to show a client (a gRPC status message must be UTF-8): each byte that does not
// start a well-formed sequence, and each NUL, becomes U+FFFD; everything else is kept.
std::string ClientSafeText(std::string_view s);

// OK, or InvalidArgument whose message starts with `name`: invalid UTF-8, a NUL byte, or more
// than `max_bytes` bytes. The message never repeats the value.
absl::Status CheckClientText(std::string_view name, std::string_view value,
                             size_t max_bytes = kMaxParamBytes);

// `a == b` in time that depends only on the lengths, not on where they differ.
bool ConstantTimeEquals(std::string_view a, std::string_view b);
// True when `authorization` is exactly "Bearer <token>" (constant time in the token).
bool BearerTokenMatches(std::string_view authorization, std::string_view token);

// A fresh random id (16 lowercase hex digits) tying a client's error to the log line.
std::string NewRequestId();

// True for codes whose message carries the detail of a server-side failure (store, broker):
// Unknown, DeadlineExceeded, Unimplemented, Internal, Unavailable, DataLoss. Their message goes
// to the log; the client gets the code and a request id.
bool IsServerFault(absl::StatusCode code);

}  // namespace apmcov::gateway
