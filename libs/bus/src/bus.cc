#include "apmcov/bus/bus.h"

#include <cassert>

namespace apmcov::bus {

TopicNames::TopicNames(const std::string& prefix)
    : catalog(prefix + "catalog"),
      apm_inventory(prefix + "apm-inventory"),
      spans(prefix + "spans"),
      sync_jobs(prefix + "sync-jobs"),
      commands(prefix + "commands"),
      collector_state(prefix + "collector-state"),
      dlq(prefix + "dlq") {}

std::vector<std::string> TopicNames::All() const {
  return {catalog, apm_inventory, spans, sync_jobs, commands, collector_state, dlq};
}

absl::Status Publisher::PublishBatch(OutgoingBatch batch) {
  for (OutgoingRecord& r : batch.records) {
    OutgoingMessage m;
    m.topic = batch.topic;
    m.key = std::move(r.key);
    m.value = std::move(r.value);
    m.headers = batch.headers;
    m.partition = r.partition;
    if (absl::Status s = Publish(std::move(m)); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> LagProbe::GroupLag(const std::string& group, const std::string& topic) {
  absl::StatusOr<std::vector<PartitionLag>> lags = PartitionLags(group, topic);
  if (!lags.ok()) return lags.status();
  return TotalLag(*lags);
}

int64_t TotalLag(const std::vector<PartitionLag>& lags) {
  int64_t sum = 0;
  for (const PartitionLag& p : lags) sum += p.lag();
  return sum;
}

std::optional<std::string_view> IncomingMessage::Header(std::string_view name) const {
  std::optional<std::string_view> found;
  for (const auto& [k, v] : headers) {
    if (k == name) found = v;
  }
  return found;
}

namespace {

// Kafka's murmur2 (the Java client's Utils.murmur2, seed 0x9747b28c).
uint32_t Murmur2(std::string_view data) {
  constexpr uint32_t kSeed = 0x9747b28c;
  constexpr uint32_t kM = 0x5bd1e995;
  constexpr int kR = 24;
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  const size_t length = data.size();
  uint32_t h = kSeed ^ static_cast<uint32_t>(length);
  const size_t length4 = length / 4;
  for (size_t i = 0; i < length4; ++i) {
    const size_t i4 = i * 4;
    uint32_t k = static_cast<uint32_t>(p[i4]) | (static_cast<uint32_t>(p[i4 + 1]) << 8) |
                 (static_cast<uint32_t>(p[i4 + 2]) << 16) |
                 (static_cast<uint32_t>(p[i4 + 3]) << 24);
    k *= kM;
    k ^= k >> kR;
    k *= kM;
    h *= kM;
    h ^= k;
  }
  const size_t tail = length & ~static_cast<size_t>(3);
  switch (length % 4) {
    case 3:
      h ^= static_cast<uint32_t>(p[tail + 2]) << 16;
      [[fallthrough]];
    case 2:
      h ^= static_cast<uint32_t>(p[tail + 1]) << 8;
      [[fallthrough]];
    case 1:
      h ^= static_cast<uint32_t>(p[tail]);
      h *= kM;
  }
  h ^= h >> 13;
  h *= kM;
  h ^= h >> 15;
  return h;
}

}  // namespace

int32_t PartitionForKey(std::string_view key, int32_t partition_count) {
  assert(partition_count > 0);
  return static_cast<int32_t>((Murmur2(key) & 0x7fffffff) % static_cast<uint32_t>(partition_count));
}

}  // namespace apmcov::bus
