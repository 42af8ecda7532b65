#include "dead_letters.h"

#include <set>
#include <tuple>
#include <utility>

#include "apmcov/base/status.h"
#include "apmcov/bus/dead_letter.h"
#include "apmcov/bus/proto.h"
#include "logger.h"

namespace apmcov::analyzer {

DeadLetters::DeadLetters(std::string dlq_topic, std::string consumer, bus::Publisher& publisher,
                         store::CoverageStore& store, Retrier& retrier, AnalyzerMetrics& metrics)
    : topic_(std::move(dlq_topic)),
      consumer_(std::move(consumer)),
      publisher_(publisher),
      store_(store),
      retrier_(retrier),
      metrics_(metrics) {}

void DeadLetters::Add(const bus::IncomingMessage& m, const std::string& reason, int64_t now_ns) {
  for (const v1::DeadLetter& pending : pending_) {
    // A message handled twice in one batch (applied one by one after a rejection) is set
    // aside once.
    if (pending.topic() == m.topic && pending.partition() == m.partition &&
        pending.offset() == m.offset) {
      return;
    }
  }
  pending_.push_back(bus::MakeDeadLetter(m, reason, consumer_, now_ns));
  Log().Warn(
      "message sent to the dead-letter topic",
      {{"topic", m.topic}, {"partition", m.partition}, {"offset", m.offset}, {"error", reason}});
}

absl::Status DeadLetters::Flush() {
  if (pending_.empty()) return absl::OkStatus();
  std::vector<store::DeadLetterKey> keys;
  keys.reserve(pending_.size());
  for (const auto& dl : pending_) {
    keys.push_back({dl.topic(), dl.partition(), dl.offset(), dl.error()});
  }
  std::vector<store::DeadLetterKey> claimed;
  APMCOV_RETURN_IF_ERROR(retrier_.Run("claiming dead letters", [&]() -> absl::Status {
    absl::StatusOr<std::vector<store::DeadLetterKey>> c = store_.ClaimDeadLetters(keys);
    if (!c.ok()) return c.status();
    claimed = std::move(*c);
    return absl::OkStatus();
  }));
  std::set<std::tuple<std::string, int32_t, int64_t>> to_publish;
  for (const auto& k : claimed) to_publish.emplace(k.topic, k.partition, k.offset);
  std::vector<const v1::DeadLetter*> publish;
  for (const auto& dl : pending_) {
    if (to_publish.count({dl.topic(), dl.partition(), dl.offset()}) > 0) {
      publish.push_back(&dl);
    } else {
      Log().Info("dead letter already published (a replay)",
                 {{"topic", dl.topic()}, {"partition", dl.partition()}, {"offset", dl.offset()}});
    }
  }
  if (!publish.empty()) {
    APMCOV_RETURN_IF_ERROR(retrier_.Run("publishing dead letters", [&]() -> absl::Status {
      for (const v1::DeadLetter* dl : publish) {
        APMCOV_RETURN_IF_ERROR(bus::PublishProto(publisher_, topic_, dl->original_key(), *dl));
      }
      return publisher_.Flush(std::chrono::seconds(10));
    }));
    APMCOV_RETURN_IF_ERROR(retrier_.Run("marking dead letters published", [&]() -> absl::Status {
      return store_.MarkDeadLettersPublished(claimed);
    }));
    for (const v1::DeadLetter* dl : publish) {
      metrics_.CountDeadLetter(dl->topic());
      ++published_;
    }
  }
  pending_.clear();
  return absl::OkStatus();
}

}  // namespace apmcov::analyzer
