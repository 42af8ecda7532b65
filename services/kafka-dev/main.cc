// apmcov-kafka-dev: an embedded Kafka cluster (librdkafka's mock cluster) for one machine.
// Prints the bootstrap list on stdout, serves the control port, stops on SIGTERM/SIGINT.
// See docs/kafka-dev.md.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "apmcov/base/config.h"
#include "apmcov/base/log.h"
#include "apmcov/base/process.h"
#include "apmcov/base/status.h"
#include "apmcov/bus/bus.h"
#include "control_server.h"
#include "mock_cluster.h"

namespace {

using apmcov::kafkadev::TopicSpec;

struct KafkaDevConfig {
  int brokers = 3;
  int partitions = 6;
  std::string topic_prefix;
  std::vector<std::string> extra_topics;
  std::string bootstrap_file;
  std::string control_file;
  int port_base = 0;
  int control_port = 0;
};

// Writes `content` to `path` atomically: a temporary file in the same directory, then rename.
absl::Status WriteFileAtomically(const std::string& path, const std::string& content) {
  std::string tmp = absl::StrCat(path, ".tmp.", ::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::UnavailableError(absl::StrCat("opening ", tmp, ": ", std::strerror(errno)));
  }
  bool ok = ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()) &&
            ::fsync(fd) == 0;
  int e = errno;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    if (ok) e = errno;
    ::unlink(tmp.c_str());
    return absl::UnavailableError(absl::StrCat("writing ", path, ": ", std::strerror(e)));
  }
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  apmcov::BlockShutdownSignals();
  apmcov::ConfigReader reader(argc, argv);
  apmcov::ConfigureLoggingFrom(reader, "apmcov-kafka-dev");
  static const apmcov::Logger log("kafka-dev");

  KafkaDevConfig cfg;
  cfg.brokers = static_cast<int>(reader.Int("BROKERS", 3, 1, 64));
  cfg.partitions = static_cast<int>(reader.Int("PARTITIONS", 6, 1, 10000));
  cfg.topic_prefix = reader.String("TOPIC_PREFIX", reader.String("KAFKA_TOPIC_PREFIX", "apmcov."));
  cfg.extra_topics = reader.List("EXTRA_TOPICS", "");
  cfg.bootstrap_file = reader.String("BOOTSTRAP_FILE", "");
  cfg.control_file = reader.String("CONTROL_FILE", "");
  cfg.port_base = static_cast<int>(reader.Int("PORT_BASE", 0, 0, 65535));
  cfg.control_port = static_cast<int>(reader.Int("CONTROL_PORT", 0, 0, 65535));
  if (cfg.port_base != 0) {
    reader.AddError("PORT_BASE",
                    "librdkafka 2.0.2's mock cluster cannot listen on fixed ports; use 0 "
                    "(automatic) and read the list from stdout or --bootstrap-file");
  }
  std::vector<TopicSpec> topics;
  const apmcov::bus::TopicNames names(cfg.topic_prefix);
  for (const std::string& name : names.All()) {
    // `commands` has one partition: its owner is the leading collector (design §3).
    topics.push_back({name, name == names.commands ? 1 : cfg.partitions});
  }
  if (auto extra = apmcov::kafkadev::ParseTopicSpecs(cfg.extra_topics, cfg.partitions);
      extra.ok()) {
    topics.insert(topics.end(), extra->begin(), extra->end());
  } else {
    reader.AddError("EXTRA_TOPICS", apmcov::StdView(extra.status().message()));
  }
  if (apmcov::PrintUsageIfRequested(
          reader, "apmcov-kafka-dev",
          "An embedded Kafka cluster (librdkafka's mock cluster) with the project's topics, for\n"
          "development and tests. Prints the bootstrap list; see docs/kafka-dev.md.")) {
    return 0;
  }
  if (absl::Status s = reader.Finish(); !s.ok()) {
    std::cerr << "apmcov-kafka-dev: " << s.message() << "\n";
    return 2;
  }
  apmcov::LogEffectiveConfig(log, reader);

  auto cluster = apmcov::kafkadev::MockCluster::Create(cfg.brokers);
  if (!cluster.ok()) {
    log.Error("cannot start the mock cluster",
              {{"error", std::string(cluster.status().message())}});
    return 1;
  }
  for (const TopicSpec& topic : topics) {
    if (absl::Status s = (*cluster)->CreateTopic(topic); !s.ok()) {
      log.Error("cannot create topic",
                {{"topic", topic.name}, {"error", std::string(s.message())}});
      return 1;
    }
  }
  apmcov::kafkadev::ControlServer control(**cluster);
  if (absl::Status s = control.Start(static_cast<uint16_t>(cfg.control_port)); !s.ok()) {
    log.Error("cannot start the control port", {{"error", std::string(s.message())}});
    return 1;
  }
  std::string bootstraps = (*cluster)->Bootstraps();
  if (!cfg.bootstrap_file.empty()) {
    if (absl::Status s = WriteFileAtomically(cfg.bootstrap_file, bootstraps + "\n"); !s.ok()) {
      log.Error("cannot write BOOTSTRAP_FILE", {{"error", std::string(s.message())}});
      return 1;
    }
  }
  std::string control_addr = absl::StrCat("127.0.0.1:", control.port());
  if (!cfg.control_file.empty()) {
    if (absl::Status s = WriteFileAtomically(cfg.control_file, control_addr + "\n"); !s.ok()) {
      log.Error("cannot write CONTROL_FILE", {{"error", std::string(s.message())}});
      return 1;
    }
  }
  std::cout << bootstraps << std::endl;
  log.Info("kafka-dev ready", {{"bootstrap", bootstraps},
                               {"control", control_addr},
                               {"brokers", cfg.brokers},
                               {"topics", static_cast<int64_t>(topics.size())}});

  int sig = apmcov::WaitForShutdownSignal();
  log.Info("stopping", {{"signal", sig}});
  control.Stop();
  cluster->reset();
  log.Info("stopped");
  return 0;
}
