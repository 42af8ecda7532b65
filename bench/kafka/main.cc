// Kafka throughput through the bus adapters (KafkaPublisher / KafkaSubscriber), the code the
// services run. Starts its own apmcov-kafka-dev (APMCOV_BINARY_DIR or --kafka-dev PATH) unless
// KAFKA_BROKERS is set. Prints one JSON line per figure, each with "cores".
//
//   bench_kafka [--kafka-dev PATH] [--scale 1.0]
//
// Figures: kafka_produce (messages/s and MB/s until Flush() returned OK), kafka_consume (from
// the first message received until every retained message was polled, committing after each
// Poll batch like the analyzer), kafka_first_join (subscribe to first message).
#include <sched.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "apmcov/base/config.h"
#include "apmcov/bus/kafka.h"
#include "apmcov/bus/testing/kafka_dev_process.h"

namespace {

using apmcov::bus::IncomingMessage;
using apmcov::bus::KafkaConfig;
using apmcov::bus::KafkaLagProbe;
using apmcov::bus::KafkaPublisher;
using apmcov::bus::KafkaSubscriber;
using apmcov::bus::TopicPartition;
using Clock = std::chrono::steady_clock;

struct Case {
  size_t msg_bytes;
  int messages;
  int linger_ms;
  int batch_num_messages;
  std::string compression;
};

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

[[noreturn]] void Die(const std::string& what) {
  std::cerr << "bench_kafka: " << what << "\n";
  std::exit(1);
}

// `control`: kafka-dev's control address when this process started it ("" otherwise): the
// topic then gets kPartitions partitions (more data retained for the consumer figures);
// otherwise it is auto-created with the cluster's default.
constexpr int kPartitions = 16;

void RunCase(const std::string& brokers, const std::string& control, const Case& c, int cores,
             int run) {
  const std::string topic = absl::StrCat("bench.kafka.", ::getpid(), ".", run);
  if (!control.empty()) {
    auto reply = apmcov::bus::testing::KafkaDevControl(
        control, absl::StrCat("create-topic ", topic, " ", kPartitions));
    if (!reply.ok() || *reply != "ok") Die(absl::StrCat("create-topic: ", reply.value_or("?")));
  }
  KafkaConfig cfg{brokers,
                  "apmcov-bench",
                  {{"linger.ms", std::to_string(c.linger_ms)},
                   {"batch.num.messages", std::to_string(c.batch_num_messages)},
                   {"compression.type", c.compression},
                   {"queue.buffering.max.messages", "1000000"}}};
  auto pub = KafkaPublisher::Create(cfg);
  if (!pub.ok()) Die(std::string(pub.status().message()));
  auto partitions = (*pub)->PartitionCount(topic);
  if (!partitions.ok()) Die(std::string(partitions.status().message()));

  // Random values (incompressible: lz4 gains nothing, the worst case for bytes on the wire),
  // generated before the clock starts.
  std::mt19937 rng(42);
  std::vector<std::string> values(static_cast<size_t>(c.messages));
  for (std::string& v : values) {
    v.resize(c.msg_bytes);
    for (char& ch : v) ch = static_cast<char>(rng());
  }
  const auto start = Clock::now();
  for (int i = 0; i < c.messages; ++i) {
    apmcov::bus::OutgoingMessage m;
    m.topic = topic;
    m.key = absl::StrCat("k", i % 1000);
    m.value = std::move(values[static_cast<size_t>(i)]);
    if (absl::Status s = (*pub)->Publish(std::move(m)); !s.ok()) Die(std::string(s.message()));
  }
  if (absl::Status s = (*pub)->Flush(std::chrono::seconds(120)); !s.ok()) {
    Die(std::string(s.message()));
  }
  const double produce_s = Seconds(Clock::now() - start);
  const double mb = static_cast<double>(c.messages) * static_cast<double>(c.msg_bytes) / 1e6;
  std::string common =
      absl::StrCat("\"msg_bytes\":", c.msg_bytes, ",\"linger_ms\":", c.linger_ms,
                   ",\"batch_num_messages\":", c.batch_num_messages, ",\"compression\":\"",
                   c.compression, "\",\"partitions\":", *partitions, ",\"cores\":", cores);
  std::cout << "{\"bench\":\"kafka_produce\"," << common << ",\"messages\":" << c.messages
            << ",\"seconds\":" << produce_s << ",\"msgs_per_s\":" << c.messages / produce_s
            << ",\"mb_per_s\":" << mb / produce_s << "}" << std::endl;

  // Consume what the partitions still retain (kafka-dev keeps ~5 MiB per partition).
  auto probe = KafkaLagProbe::Create(KafkaConfig{brokers, "apmcov-bench", {}});
  if (!probe.ok()) Die(std::string(probe.status().message()));
  int64_t retained = 0;
  for (int32_t p = 0; p < *partitions; ++p) {
    auto w = (*probe)->Watermarks(topic, p);
    if (!w.ok()) Die(std::string(w.status().message()));
    retained += w->second - w->first;
  }
  auto sub = KafkaSubscriber::Create(KafkaConfig{brokers, "apmcov-bench", {}},
                                     absl::StrCat("bench.group.", ::getpid(), ".", run));
  if (!sub.ok()) Die(std::string(sub.status().message()));
  const auto subscribed = Clock::now();
  if (absl::Status s = (*sub)->Subscribe({topic}); !s.ok()) Die(std::string(s.message()));
  int64_t consumed = 0;
  Clock::time_point first{};
  const auto deadline = Clock::now() + std::chrono::seconds(120);
  while (consumed < retained && Clock::now() < deadline) {
    auto batch = (*sub)->Poll(10000, std::chrono::milliseconds(500));
    if (!batch.ok()) Die(std::string(batch.status().message()));
    if (batch->empty()) continue;
    if (consumed == 0) first = Clock::now();
    std::map<TopicPartition, int64_t> next;
    for (const IncomingMessage& m : *batch) next[{m.topic, m.partition}] = m.offset + 1;
    if (absl::Status s = (*sub)->Commit(next); !s.ok()) Die(std::string(s.message()));
    consumed += static_cast<int64_t>(batch->size());
  }
  const double consume_s = Seconds(Clock::now() - first);
  const double cmb = static_cast<double>(consumed) * static_cast<double>(c.msg_bytes) / 1e6;
  std::cout << "{\"bench\":\"kafka_first_join\"," << common
            << ",\"seconds\":" << Seconds(first - subscribed) << "}" << std::endl;
  std::cout << "{\"bench\":\"kafka_consume\"," << common << ",\"messages\":" << consumed
            << ",\"retained\":" << retained << ",\"seconds\":" << consume_s
            << ",\"msgs_per_s\":" << static_cast<double>(consumed) / consume_s
            << ",\"mb_per_s\":" << cmb / consume_s << "}" << std::endl;
  (*sub)->Close();
}

}  // namespace

int main(int argc, char** argv) {
  apmcov::ConfigReader reader(argc, argv);
  std::string brokers = reader.String("KAFKA_BROKERS", "");
  std::string binary = reader.String("KAFKA_DEV", "");
  double scale = reader.Double("SCALE", 1.0, 0.01, 100.0);
  if (absl::Status s = reader.Finish(); !s.ok()) Die(std::string(s.message()));
  std::unique_ptr<apmcov::bus::testing::KafkaDevProcess> dev;
  std::string control;
  if (brokers.empty()) {
    auto started = apmcov::bus::testing::KafkaDevProcess::Start(binary);
    if (!started.ok()) Die(std::string(started.status().message()));
    dev = std::move(*started);
    brokers = dev->bootstraps();
    control = dev->control_address();
  }
  // What nproc prints: the CPUs this process may run on.
  cpu_set_t set;
  CPU_ZERO(&set);
  const int cores = sched_getaffinity(0, sizeof(set), &set) == 0
                        ? CPU_COUNT(&set)
                        : static_cast<int>(std::thread::hardware_concurrency());
  auto n = [&](int base) { return static_cast<int>(base * scale); };
  const Case cases[] = {
      {200, n(300000), 5, 10000, "lz4"},  {200, n(300000), 5, 1000, "lz4"},
      {200, n(300000), 5, 10000, "none"}, {2048, n(60000), 5, 10000, "lz4"},
      {2048, n(60000), 5, 10000, "none"},
  };
  int run = 0;
  for (const Case& c : cases) RunCase(brokers, control, c, cores, run++);
  return 0;
}
