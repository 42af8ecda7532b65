// Dead letters (app.h contract): messages the analyzer cannot use are set aside as DeadLetter
// events on the `dlq` topic, once per original message across restarts. Add() collects a
// batch's (a message handled twice in one batch is set aside once); Flush() claims each
// (topic, partition, offset) in the store, publishes and flushes what this run claimed, and
// marks it published, so a replay after a crash publishes nothing twice. Flush() retries
// outages through the Retrier. Not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "apmcov/bus/bus.h"
#include "apmcov/store/coverage_store.h"
#include "apmcov/v1/events.pb.h"
#include "metrics.h"
#include "retry.h"

namespace apmcov::analyzer {

class DeadLetters {
 public:
  // `consumer` names this service in DeadLetter.consumer.
  DeadLetters(std::string dlq_topic, std::string consumer, bus::Publisher& publisher,
              store::CoverageStore& store, Retrier& retrier, AnalyzerMetrics& metrics);

  // Sets `message` aside with `reason`, failed at `now_ns` (logged at once).
  void Add(const bus::IncomingMessage& message, const std::string& reason, int64_t now_ns);
  // Publishes what Add() collected (see above); nothing is kept when it returns OK.
  absl::Status Flush();
  // Dead letters published by this process.
  int64_t published() const { return published_; }

 private:
  const std::string topic_;
  const std::string consumer_;
  bus::Publisher& publisher_;
  store::CoverageStore& store_;
  Retrier& retrier_;
  AnalyzerMetrics& metrics_;
  std::vector<v1::DeadLetter> pending_;
  int64_t published_ = 0;
};

}  // namespace apmcov::analyzer
