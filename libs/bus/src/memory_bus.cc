#include "apmcov/bus/memory_bus.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "apmcov/base/log.h"
#include "apmcov/base/status.h"

namespace apmcov::bus {
namespace {

const Logger& Log() {
  static const Logger log("bus.memory");
  return log;
}

size_t MessageBytes(const IncomingMessage& m) {
  size_t n = m.key.size() + m.value.size();
  for (const auto& [k, v] : m.headers) n += k.size() + v.size();
  return n;
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

MemoryBroker::MemoryBroker(Options options) : options_(options) {}
MemoryBroker::~MemoryBroker() = default;

absl::Status MemoryBroker::CreateTopic(const std::string& topic, int32_t partitions) {
  if (topic.empty()) return absl::InvalidArgumentError("topic name is empty");
  if (partitions < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("topic ", topic, ": partitions must be >= 1, got ", partitions));
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (topics_.count(topic) != 0) {
    return absl::AlreadyExistsError(absl::StrCat("topic ", topic, " already exists"));
  }
  topics_[topic].partitions.resize(static_cast<size_t>(partitions));
  for (auto& [name, group] : groups_) RebalanceLocked(group);
  return absl::OkStatus();
}

MemoryBroker::Topic& MemoryBroker::TopicLocked(const std::string& name) {
  auto it = topics_.find(name);
  if (it != topics_.end()) return it->second;
  Topic& topic = topics_[name];
  topic.partitions.resize(static_cast<size_t>(options_.auto_create_partitions));
  for (auto& [group_name, group] : groups_) RebalanceLocked(group);
  return topic;
}

absl::StatusOr<std::pair<int64_t, int64_t>> MemoryBroker::Watermarks(const std::string& topic,
                                                                     int32_t partition) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = topics_.find(topic);
  if (it == topics_.end()) return absl::NotFoundError(absl::StrCat("unknown topic ", topic));
  if (partition < 0 || partition >= static_cast<int32_t>(it->second.partitions.size())) {
    return absl::NotFoundError(absl::StrCat("topic ", topic, " has no partition ", partition));
  }
  const Partition& p = it->second.partitions[static_cast<size_t>(partition)];
  return std::make_pair(p.log_start, p.high());
}

void MemoryBroker::FailNextDeliveries(int count, absl::Status status) {
  if (count <= 0) return;
  if (status.ok()) status = absl::UnavailableError("delivery failed (injected)");
  std::lock_guard<std::mutex> lock(mu_);
  failing_deliveries_ = count > std::numeric_limits<int>::max() - failing_deliveries_
                            ? std::numeric_limits<int>::max()
                            : failing_deliveries_ + count;
  failure_status_ = std::move(status);
}

absl::Status MemoryBroker::AlterGroupOffsets(const std::string& group,
                                             const std::map<TopicPartition, int64_t>& offsets) {
  if (group.empty()) return absl::InvalidArgumentError("alter offsets: group id is empty");
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [tp, offset] : offsets) {
    auto it = topics_.find(tp.topic);
    if (it == topics_.end() || tp.partition < 0 ||
        tp.partition >= static_cast<int32_t>(it->second.partitions.size())) {
      return absl::NotFoundError(
          absl::StrCat("alter offsets: unknown partition ", tp.topic, "/", tp.partition));
    }
    if (offset < 0) {
      return absl::InvalidArgumentError(absl::StrCat("alter offsets: negative offset ", offset,
                                                     " for ", tp.topic, "/", tp.partition));
    }
  }
  Group& g = groups_[group];
  if (!g.members.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("alter offsets: group ", group, " has ", g.members.size(),
                     " member(s); offsets of an active group cannot be altered"));
  }
  for (const auto& [tp, offset] : offsets) g.committed[tp] = offset;
  cv_.notify_all();
  return absl::OkStatus();
}

absl::Status MemoryBroker::DeleteRecords(const std::string& topic, int32_t partition,
                                         int64_t before) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = topics_.find(topic);
  if (it == topics_.end() || partition < 0 ||
      partition >= static_cast<int32_t>(it->second.partitions.size())) {
    return absl::NotFoundError(
        absl::StrCat("delete records: unknown partition ", topic, "/", partition));
  }
  Partition& p = it->second.partitions[static_cast<size_t>(partition)];
  if (before > p.high()) {
    return absl::OutOfRangeError(absl::StrCat("delete records: offset ", before, " of ", topic, "/",
                                              partition, " is past the high watermark ", p.high()));
  }
  while (p.log_start < before) {
    p.bytes -= MessageBytes(p.messages.front());
    p.messages.pop_front();
    ++p.log_start;
  }
  cv_.notify_all();
  return absl::OkStatus();
}

int64_t MemoryBroker::AwaitCommitted(const std::string& group, const TopicPartition& tp,
                                     int64_t offset, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  auto committed = [&]() -> int64_t {
    auto g = groups_.find(group);
    if (g == groups_.end()) return -1;
    auto it = g->second.committed.find(tp);
    return it == g->second.committed.end() ? -1 : it->second;
  };
  cv_.wait_for(lock, timeout, [&] { return committed() >= offset; });
  return committed();
}

bool MemoryBroker::AwaitGroupStable(const std::string& group, size_t members,
                                    std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] {
    auto g = groups_.find(group);
    if (g == groups_.end() || g->second.members.size() != members) return false;
    return std::all_of(g->second.members.begin(), g->second.members.end(), [&](const auto& m) {
      return m.second.generation_seen == g->second.generation;
    });
  });
}

void MemoryBroker::OnLagRead(
    std::function<void(const std::string& group, const std::string& topic)> hook) {
  std::lock_guard<std::mutex> lock(mu_);
  lag_read_hook_ = std::move(hook);
}

int64_t MemoryBroker::data_loss_events() const {
  std::lock_guard<std::mutex> lock(mu_);
  return data_loss_events_;
}

void MemoryBroker::RebalanceLocked(Group& group) {
  ++group.generation;
  group.assignment.clear();
  std::set<std::string> wanted;
  for (const auto& [id, member] : group.members) {
    group.assignment[id];  // every member gets an entry, maybe empty
    wanted.insert(member.topics.begin(), member.topics.end());
  }
  for (const std::string& topic : wanted) {
    auto it = topics_.find(topic);
    if (it == topics_.end()) continue;  // assigned once it exists
    std::vector<uint64_t> subscribers;
    for (const auto& [id, member] : group.members) {
      if (std::find(member.topics.begin(), member.topics.end(), topic) != member.topics.end()) {
        subscribers.push_back(id);
      }
    }
    const auto count = static_cast<int32_t>(it->second.partitions.size());
    for (int32_t p = 0; p < count; ++p) {
      group.assignment[subscribers[static_cast<size_t>(p) % subscribers.size()]].push_back(
          {topic, p});
    }
  }
  cv_.notify_all();
}

void MemoryBroker::TrimLocked(Partition& partition) {
  if (options_.retention_bytes == 0) return;
  while (partition.bytes > options_.retention_bytes && partition.messages.size() > 1) {
    partition.bytes -= MessageBytes(partition.messages.front());
    partition.messages.pop_front();
    ++partition.log_start;
  }
}

// ---------------------------------------------------------------------------------------------

class MemoryPublisher : public Publisher {
 public:
  explicit MemoryPublisher(MemoryBroker& broker) : broker_(broker) {}

  absl::Status Publish(OutgoingMessage message) override {
    if (message.topic.empty()) return absl::InvalidArgumentError("publish: topic name is empty");
    std::lock_guard<std::mutex> lock(broker_.mu_);
    MemoryBroker::Topic& topic = broker_.TopicLocked(message.topic);
    const auto count = static_cast<int32_t>(topic.partitions.size());
    int32_t partition = 0;
    if (message.partition.has_value()) {
      partition = *message.partition;
      if (partition < 0 || partition >= count) {
        return absl::InvalidArgumentError(absl::StrCat("publish: topic ", message.topic,
                                                       " has no partition ", partition, " (", count,
                                                       " partitions)"));
      }
    } else if (!message.key.empty()) {
      partition = PartitionForKey(message.key, count);
    } else {
      partition = static_cast<int32_t>(topic.round_robin++ % static_cast<uint32_t>(count));
    }
    if (broker_.options_.deliver_on_flush) {
      lingering_.emplace_back(partition, std::move(message));
      return absl::OkStatus();
    }
    DeliverLocked(partition, std::move(message));
    return absl::OkStatus();
  }

  absl::Status Flush(std::chrono::milliseconds /*timeout*/) override {
    std::lock_guard<std::mutex> lock(broker_.mu_);
    for (auto& [partition, message] : lingering_) DeliverLocked(partition, std::move(message));
    lingering_.clear();
    if (failed_ == 0) return absl::OkStatus();
    const int64_t failed = std::exchange(failed_, 0);
    const absl::Status first = std::exchange(failure_, absl::OkStatus());
    return absl::Status(
        first.code(), absl::StrCat(first.message(), " (", failed, " message(s) failed delivery)"));
  }

  absl::StatusOr<int32_t> PartitionCount(const std::string& topic) override {
    if (topic.empty()) return absl::InvalidArgumentError("topic name is empty");
    std::lock_guard<std::mutex> lock(broker_.mu_);
    return static_cast<int32_t>(broker_.TopicLocked(topic).partitions.size());
  }

 private:
  // Stores `message` in `partition` of its topic, or counts it failed when a failure was
  // injected. broker_.mu_ held.
  void DeliverLocked(int32_t partition, OutgoingMessage message) {
    if (broker_.failing_deliveries_ > 0) {
      if (broker_.failing_deliveries_ != std::numeric_limits<int>::max()) {
        --broker_.failing_deliveries_;
      }
      if (failed_ == 0) failure_ = broker_.failure_status_;
      ++failed_;
      return;
    }
    MemoryBroker::Partition& p =
        broker_.TopicLocked(message.topic).partitions[static_cast<size_t>(partition)];
    IncomingMessage in;
    in.topic = std::move(message.topic);
    in.partition = partition;
    in.offset = p.high();
    in.key = std::move(message.key);
    in.value = std::move(message.value);
    in.headers = std::move(message.headers);
    in.timestamp_ms = NowMs();
    p.bytes += MessageBytes(in);
    p.messages.push_back(std::move(in));
    broker_.TrimLocked(p);
    broker_.cv_.notify_all();
  }

  MemoryBroker& broker_;
  std::vector<std::pair<int32_t, OutgoingMessage>> lingering_;  // deliver_on_flush; ditto
  int64_t failed_ = 0;                                          // guarded by broker_.mu_
  absl::Status failure_;  // of the first failed delivery since the last Flush(); ditto
};

// ---------------------------------------------------------------------------------------------

class MemorySubscriber : public Subscriber {
 public:
  MemorySubscriber(MemoryBroker& broker, std::string group_id)
      : broker_(broker), group_id_(std::move(group_id)) {}
  ~MemorySubscriber() override { Close(); }

  absl::Status Subscribe(const std::vector<std::string>& topics,
                         RebalanceListener listener) override {
    if (closed_) return absl::FailedPreconditionError("subscribe: subscriber is closed");
    if (topics.empty()) return absl::InvalidArgumentError("subscribe: no topics given");
    for (const std::string& t : topics) {
      if (t.empty()) return absl::InvalidArgumentError("subscribe: a topic name is empty");
    }
    if (group_id_.empty()) return absl::InvalidArgumentError("subscribe: group id is empty");
    std::lock_guard<std::mutex> lock(broker_.mu_);
    listener_ = std::move(listener);
    MemoryBroker::Group& group = broker_.groups_[group_id_];
    if (member_id_ == 0) member_id_ = broker_.next_member_id_++;
    group.members[member_id_].topics = topics;
    broker_.RebalanceLocked(group);
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<IncomingMessage>> Poll(size_t max_messages,
                                                    std::chrono::milliseconds timeout) override {
    if (closed_) return absl::FailedPreconditionError("poll: subscriber is closed");
    if (member_id_ == 0) return absl::FailedPreconditionError("poll: call Subscribe() first");
    if (pending_.has_value()) {
      absl::Status s = *pending_;
      pending_.reset();
      return s;
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::vector<IncomingMessage> out;
    std::unique_lock<std::mutex> lock(broker_.mu_);
    for (;;) {
      MemoryBroker::Group& group = broker_.groups_[group_id_];
      if (group.generation != generation_) {
        generation_ = group.generation;
        std::vector<TopicPartition> revoked = std::move(assignment_);
        assignment_ = group.assignment[member_id_];
        positions_.clear();
        reported_end_.clear();
        lock.unlock();
        if (!revoked.empty() && listener_.on_revoked) {
          revoking_ = revoked;  // still committable inside the listener
          listener_.on_revoked(revoked);
          revoking_.clear();
        }
        lock.lock();
        // The positions come from the committed offsets as they are after on_revoked.
        for (const TopicPartition& tp : assignment_) {
          auto it = group.committed.find(tp);
          positions_[tp] = it != group.committed.end()
                               ? it->second
                               : broker_.topics_[tp.topic]
                                     .partitions[static_cast<size_t>(tp.partition)]
                                     .log_start;
        }
        std::vector<TopicPartition> assigned = assignment_;
        lock.unlock();
        if (listener_.on_assigned) listener_.on_assigned(assigned);
        lock.lock();
        if (auto m = group.members.find(member_id_); m != group.members.end()) {
          m->second.generation_seen = generation_;
          broker_.cv_.notify_all();
        }
        continue;
      }
      const size_t n = assignment_.size();
      for (size_t i = 0; i < n && out.size() < max_messages; ++i) {
        const TopicPartition& tp = assignment_[(next_ + i) % n];
        const MemoryBroker::Partition& p =
            broker_.topics_[tp.topic].partitions[static_cast<size_t>(tp.partition)];
        int64_t& pos = positions_[tp];
        if (pos < p.log_start || pos > p.high()) {
          ++broker_.data_loss_events_;
          absl::Status loss = absl::DataLossError(absl::StrCat(
              "offset ", pos, " of ", tp.topic, "/", tp.partition, " is out of range (retained ",
              p.log_start, "..", p.high(), "): resuming at the earliest retained message"));
          Log().Error("consumer offset out of range", {{"group", group_id_},
                                                       {"topic", tp.topic},
                                                       {"partition", tp.partition},
                                                       {"offset", pos},
                                                       {"earliest", p.log_start}});
          pos = p.log_start;
          if (out.empty()) return loss;
          pending_ = loss;
          return out;
        }
        while (pos < p.high() && out.size() < max_messages) {
          out.push_back(p.messages[static_cast<size_t>(pos - p.log_start)]);
          ++pos;
        }
      }
      if (n > 0) next_ = (next_ + 1) % n;
      if (listener_.on_end_of_partition) {
        // Partition EOF, as Kafka reports it: once per end reached, after the messages, and
        // one end a poll (Kafka's are events of their own: the adapter returns after each).
        std::optional<std::pair<TopicPartition, int64_t>> end;
        for (const TopicPartition& tp : assignment_) {
          const int64_t pos = positions_[tp];
          if (pos !=
              broker_.topics_[tp.topic].partitions[static_cast<size_t>(tp.partition)].high()) {
            continue;
          }
          auto [it, fresh] = reported_end_.try_emplace(tp, pos);
          if (!fresh && it->second == pos) continue;
          it->second = pos;
          end.emplace(tp, pos);
          break;
        }
        if (end) {
          lock.unlock();
          listener_.on_end_of_partition(end->first, end->second);
          return out;
        }
      }
      if (!out.empty()) return out;
      if (broker_.cv_.wait_until(lock, deadline) == std::cv_status::timeout) {
        if (std::chrono::steady_clock::now() >= deadline) return out;
      }
    }
  }

  absl::Status Commit(const std::map<TopicPartition, int64_t>& next_offsets) override {
    if (closed_) return absl::FailedPreconditionError("commit: subscriber is closed");
    if (group_id_.empty()) return absl::InvalidArgumentError("commit: group id is empty");
    std::lock_guard<std::mutex> lock(broker_.mu_);
    for (const auto& [tp, offset] : next_offsets) {
      auto it = broker_.topics_.find(tp.topic);
      if (it == broker_.topics_.end() || tp.partition < 0 ||
          tp.partition >= static_cast<int32_t>(it->second.partitions.size())) {
        return absl::NotFoundError(
            absl::StrCat("commit: unknown partition ", tp.topic, "/", tp.partition));
      }
      if (offset < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("commit: negative offset ", offset, " for ", tp.topic, "/", tp.partition));
      }
    }
    for (const auto& [tp, offset] : next_offsets) {
      if (std::find(assignment_.begin(), assignment_.end(), tp) == assignment_.end() &&
          std::find(revoking_.begin(), revoking_.end(), tp) == revoking_.end()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "commit: ", tp.topic, "/", tp.partition, " is not assigned to this member of group ",
            group_id_, " (revoked in a rebalance?)"));
      }
    }
    MemoryBroker::Group& group = broker_.groups_[group_id_];
    for (const auto& [tp, offset] : next_offsets) group.committed[tp] = offset;
    broker_.cv_.notify_all();
    return absl::OkStatus();
  }

  absl::StatusOr<std::map<TopicPartition, int64_t>> Committed(
      const std::vector<TopicPartition>& partitions) override {
    std::lock_guard<std::mutex> lock(broker_.mu_);
    std::map<TopicPartition, int64_t> out;
    auto g = broker_.groups_.find(group_id_);
    if (g == broker_.groups_.end()) return out;
    for (const TopicPartition& tp : partitions) {
      auto it = g->second.committed.find(tp);
      if (it != g->second.committed.end()) out[tp] = it->second;
    }
    return out;
  }

  void Close() override {
    if (closed_) return;
    if (member_id_ != 0 && !assignment_.empty() && listener_.on_revoked) {
      listener_.on_revoked(assignment_);  // may Commit()
    }
    closed_ = true;
    if (member_id_ == 0) return;
    std::lock_guard<std::mutex> lock(broker_.mu_);
    MemoryBroker::Group& group = broker_.groups_[group_id_];
    group.members.erase(member_id_);
    broker_.RebalanceLocked(group);
  }

 private:
  MemoryBroker& broker_;
  const std::string group_id_;
  uint64_t member_id_ = 0;
  RebalanceListener listener_;
  int64_t generation_ = -1;
  std::vector<TopicPartition> assignment_;
  std::vector<TopicPartition> revoking_;  // during on_revoked
  std::map<TopicPartition, int64_t> positions_;
  std::map<TopicPartition, int64_t> reported_end_;  // the last end reported, per partition
  std::optional<absl::Status> pending_;
  size_t next_ = 0;
  bool closed_ = false;
};

// ---------------------------------------------------------------------------------------------

class MemoryLagProbe : public LagProbe {
 public:
  explicit MemoryLagProbe(MemoryBroker& broker) : broker_(broker) {}

  absl::StatusOr<std::vector<PartitionLag>> PartitionLags(const std::string& group,
                                                          const std::string& topic) override {
    std::function<void(const std::string&, const std::string&)> hook;
    {
      std::lock_guard<std::mutex> lock(broker_.mu_);
      hook = broker_.lag_read_hook_;
    }
    if (hook) hook(group, topic);
    std::lock_guard<std::mutex> lock(broker_.mu_);
    auto t = broker_.topics_.find(topic);
    if (t == broker_.topics_.end()) {
      return absl::NotFoundError(absl::StrCat("lag: unknown topic ", topic));
    }
    const MemoryBroker::Group* g = nullptr;
    if (auto it = broker_.groups_.find(group); it != broker_.groups_.end()) g = &it->second;
    std::vector<PartitionLag> out;
    for (size_t i = 0; i < t->second.partitions.size(); ++i) {
      const MemoryBroker::Partition& p = t->second.partitions[i];
      PartitionLag lag{static_cast<int32_t>(i), -1, p.log_start, p.high()};
      if (g != nullptr) {
        auto c = g->committed.find({topic, static_cast<int32_t>(i)});
        if (c != g->committed.end()) lag.committed = c->second;
      }
      out.push_back(lag);
    }
    return out;
  }

  absl::StatusOr<std::pair<int64_t, int64_t>> Watermarks(const std::string& topic,
                                                         int32_t partition) override {
    return broker_.Watermarks(topic, partition);
  }

 private:
  MemoryBroker& broker_;
};

std::unique_ptr<Publisher> MemoryBroker::NewPublisher() {
  return std::make_unique<MemoryPublisher>(*this);
}
std::unique_ptr<Subscriber> MemoryBroker::NewSubscriber(std::string group_id) {
  return std::make_unique<MemorySubscriber>(*this, std::move(group_id));
}
std::unique_ptr<LagProbe> MemoryBroker::NewLagProbe() {
  return std::make_unique<MemoryLagProbe>(*this);
}

}  // namespace apmcov::bus
