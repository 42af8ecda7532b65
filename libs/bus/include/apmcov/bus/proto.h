// Protobuf values on the bus (design §3): every message carries the headers
// `content-type: application/x-protobuf` and `type: <full message name>` (e.g.
// "apmcov.v1.SpanBatch"), so a consumer can route or dead-letter a value it cannot decode.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "apmcov/bus/bus.h"

namespace google::protobuf {
class Message;
}

namespace apmcov::bus {

inline constexpr std::string_view kContentTypeHeader = "content-type";
inline constexpr std::string_view kTypeHeader = "type";
inline constexpr std::string_view kProtobufContentType = "application/x-protobuf";

// The `type` header value for `message`: its full name, "apmcov.v1.<Name>".
std::string ProtoTypeName(const google::protobuf::Message& message);

// The two headers every protobuf value carries (content-type, type) for values of `message`'s
// type: the headers of an OutgoingBatch of such values.
Headers ProtoHeaders(const google::protobuf::Message& message);

// An OutgoingMessage holding `message` serialised, with both headers set (plus `extra_headers`
// after them). InvalidArgument if the message cannot be serialised (missing required fields).
absl::StatusOr<OutgoingMessage> MakeProtoMessage(std::string topic, std::string key,
                                                 const google::protobuf::Message& message,
                                                 std::optional<int32_t> partition = std::nullopt,
                                                 Headers extra_headers = {});

// MakeProtoMessage, then publisher.Publish() (same contract: delivery is confirmed by Flush()).
absl::Status PublishProto(Publisher& publisher, std::string topic, std::string key,
                          const google::protobuf::Message& message,
                          std::optional<int32_t> partition = std::nullopt);

// The `type` header of a received message, if present.
std::optional<std::string_view> MessageType(const IncomingMessage& message);

// The headers of a protobuf value of type `want` ("apmcov.v1.SpanBatch"): InvalidArgument, as
// ParseProto says it, when content-type is not protobuf or the type header names another type.
// For consumers that decode the bytes themselves.
absl::Status CheckProtoHeaders(const IncomingMessage& in, std::string_view want);

// "<topic>/<partition>@<offset>": where a message came from, for errors and dead letters.
std::string Where(const IncomingMessage& in);

// Decodes `in` into `out`. InvalidArgument when content-type is not protobuf, when the type
// header names another message than `out`'s type, or when the bytes do not parse; the message
// says which, for the dead-letter record.
absl::Status ParseProto(const IncomingMessage& in, google::protobuf::Message* out);

}  // namespace apmcov::bus
