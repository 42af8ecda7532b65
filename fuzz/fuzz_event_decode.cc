// Decoding of every Kafka event type the analyzer and collector consume: arbitrary bytes must
// decode or fail cleanly, and a decoded message must re-encode to bytes that decode equal.
#include <cstddef>
#include <cstdint>
#include <string>

#include "apmcov/v1/events.pb.h"
#include "google/protobuf/util/message_differencer.h"

namespace {

template <typename M>
void RoundTrip(const uint8_t* data, size_t size) {
  M message;
  if (!message.ParseFromArray(data, static_cast<int>(size))) return;
  std::string again;
  if (!message.SerializeToString(&again)) __builtin_trap();
  M decoded;
  if (!decoded.ParseFromString(again)) __builtin_trap();
  if (!google::protobuf::util::MessageDifferencer::Equals(message, decoded)) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // The first byte picks the message type, as the `type` header does in production.
  const uint8_t kind = data[0] % 7;
  ++data;
  --size;
  switch (kind) {
    case 0:
      RoundTrip<apmcov::v1::SpanBatch>(data, size);
      break;
    case 1:
      RoundTrip<apmcov::v1::CatalogEvent>(data, size);
      break;
    case 2:
      RoundTrip<apmcov::v1::ApmObservation>(data, size);
      break;
    case 3:
      RoundTrip<apmcov::v1::SyncJob>(data, size);
      break;
    case 4:
      RoundTrip<apmcov::v1::SyncRequest>(data, size);
      break;
    case 5:
      RoundTrip<apmcov::v1::CollectorCheckpoint>(data, size);
      break;
    default:
      RoundTrip<apmcov::v1::DeadLetter>(data, size);
      break;
  }
  return 0;
}
