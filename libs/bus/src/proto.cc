#include "apmcov/bus/proto.h"

#include "absl/strings/str_cat.h"
#include "apmcov/base/status.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"

namespace apmcov::bus {

std::string ProtoTypeName(const google::protobuf::Message& message) {
  return message.GetDescriptor()->full_name();
}

Headers ProtoHeaders(const google::protobuf::Message& message) {
  Headers headers;
  headers.reserve(2);
  headers.emplace_back(kContentTypeHeader, kProtobufContentType);
  headers.emplace_back(kTypeHeader, ProtoTypeName(message));
  return headers;
}

absl::StatusOr<OutgoingMessage> MakeProtoMessage(std::string topic, std::string key,
                                                 const google::protobuf::Message& message,
                                                 std::optional<int32_t> partition,
                                                 Headers extra_headers) {
  OutgoingMessage out;
  if (!message.SerializeToString(&out.value)) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot serialise ", ProtoTypeName(message), " for topic ", topic));
  }
  out.topic = std::move(topic);
  out.key = std::move(key);
  out.partition = partition;
  out.headers = ProtoHeaders(message);
  out.headers.reserve(out.headers.size() + extra_headers.size());
  for (auto& h : extra_headers) out.headers.push_back(std::move(h));
  return out;
}

absl::Status PublishProto(Publisher& publisher, std::string topic, std::string key,
                          const google::protobuf::Message& message,
                          std::optional<int32_t> partition) {
  APMCOV_ASSIGN_OR_RETURN(OutgoingMessage out,
                          MakeProtoMessage(std::move(topic), std::move(key), message, partition));
  return publisher.Publish(std::move(out));
}

std::optional<std::string_view> MessageType(const IncomingMessage& message) {
  return message.Header(kTypeHeader);
}

std::string Where(const IncomingMessage& in) {
  return absl::StrCat(in.topic, "/", in.partition, "@", in.offset);
}

absl::Status CheckProtoHeaders(const IncomingMessage& in, std::string_view want) {
  std::optional<std::string_view> content_type = in.Header(kContentTypeHeader);
  if (content_type != kProtobufContentType) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(in), ": content-type is '", AbslView(content_type.value_or("<missing>")),
                     "', want '", AbslView(kProtobufContentType), "'"));
  }
  std::optional<std::string_view> type = MessageType(in);
  if (type != want) {
    return absl::InvalidArgumentError(absl::StrCat(Where(in), ": type is '",
                                                   AbslView(type.value_or("<missing>")),
                                                   "', want '", AbslView(want), "'"));
  }
  return absl::OkStatus();
}

absl::Status ParseProto(const IncomingMessage& in, google::protobuf::Message* out) {
  const std::string want = ProtoTypeName(*out);
  APMCOV_RETURN_IF_ERROR(CheckProtoHeaders(in, want));
  if (!out->ParseFromString(in.value)) {
    return absl::InvalidArgumentError(absl::StrCat(Where(in), ": value does not parse as ", want,
                                                   " (", in.value.size(), " bytes)"));
  }
  return absl::OkStatus();
}

}  // namespace apmcov::bus
