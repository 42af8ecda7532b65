#include "apmcov/tracing/agent_exporter.h"

#include <curl/curl.h>

#include <mutex>
#include <vector>

#include "absl/strings/str_cat.h"
#include "apmcov/base/log.h"
#include "apmcov/base/process.h"
#include "apmcov/base/status.h"
#include "apmcov/tracing/exporter_metrics.h"
#include "apmcov/tracing/msgpack_v04.h"

namespace apmcov::tracing {
namespace {

const Logger& Log() {
  static const Logger log("tracing.exporter");
  return log;
}

std::once_flag g_curl_init;

int64_t SteadyNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// http://host[:port] with no path, query or user-info.
absl::Status ValidateAgentUrl(std::string_view url) {
  constexpr std::string_view kScheme = "http://";
  if (url.substr(0, kScheme.size()) != kScheme) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the Agent URL '", AbslView(url), "' is not http://host:port (the Agent's trace port)"));
  }
  std::string_view rest = url.substr(kScheme.size());
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.empty() || rest.find_first_of("/?#@ ") != std::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("the Agent URL '", AbslView(url), "' must be http://host:port with no path"));
  }
  return absl::OkStatus();
}

}  // namespace

// One libcurl easy handle, reused for keep-alive; used by the flusher thread only.
struct AgentExporter::Sender {
  CURL* curl = nullptr;
  std::string url;
  std::string tracer_version_header;
  const std::atomic<bool>* abort = nullptr;

  ~Sender() {
    if (curl != nullptr) curl_easy_cleanup(curl);
  }

  // OK on 2xx; the status says what went wrong otherwise.
  absl::Status Put(const std::string& payload, size_t trace_count,
                   std::chrono::milliseconds timeout) {
    if (curl == nullptr) return absl::InternalError("libcurl could not be initialised");
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, "PUT");
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, payload.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(payload.size()));
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS,
                     static_cast<long>(std::max<int64_t>(1, timeout.count())));
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(std::max<int64_t>(1, timeout.count())));
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(
        curl, CURLOPT_XFERINFOFUNCTION,
        +[](void* p, curl_off_t, curl_off_t, curl_off_t, curl_off_t) -> int {
          return static_cast<const std::atomic<bool>*>(p)->load() ? 1 : 0;
        });
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, const_cast<std::atomic<bool>*>(abort));
    curl_easy_setopt(
        curl, CURLOPT_WRITEFUNCTION,
        +[](char*, size_t size, size_t n, void*) -> size_t { return size * n; });
    curl_slist* headers = nullptr;
    const std::string count = absl::StrCat("X-Datadog-Trace-Count: ", trace_count);
    for (const char* h :
         {"Content-Type: application/msgpack", "Datadog-Meta-Lang: cpp", "Expect:"}) {
      headers = curl_slist_append(headers, h);
    }
    headers = curl_slist_append(headers,
                                absl::StrCat("Datadog-Meta-Lang-Version: ", __cplusplus).c_str());
    headers = curl_slist_append(headers, tracer_version_header.c_str());
    headers = curl_slist_append(headers, count.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    const CURLcode rc = curl_easy_perform(curl);
    curl_slist_free_all(headers);
    if (rc != CURLE_OK) {
      return absl::UnavailableError(
          absl::StrCat("sending traces to ", url, ": ", curl_easy_strerror(rc)));
    }
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299) {
      return absl::UnavailableError(absl::StrCat("the Agent at ", url, " answered HTTP ", status));
    }
    return absl::OkStatus();
  }
};

absl::StatusOr<std::unique_ptr<AgentExporter>> AgentExporter::Create(
    AgentExporterOptions options, std::shared_ptr<ExporterMetrics> metrics) {
  APMCOV_RETURN_IF_ERROR(ValidateAgentUrl(options.agent_url));
  if (options.max_queued_spans == 0 || options.max_payload_bytes == 0) {
    return absl::InvalidArgumentError("trace exporter queue and payload sizes must be positive");
  }
  if (options.flush_interval.count() <= 0 || options.request_timeout.count() <= 0) {
    return absl::InvalidArgumentError(
        "trace exporter flush interval and request timeout must be positive");
  }
  if (options.tracer_version.empty()) options.tracer_version = APMCOV_VERSION;
  return std::unique_ptr<AgentExporter>(new AgentExporter(std::move(options), std::move(metrics)));
}

AgentExporter::AgentExporter(AgentExporterOptions options, std::shared_ptr<ExporterMetrics> metrics)
    : options_(std::move(options)), metrics_(std::move(metrics)), sender_(new Sender) {
  std::call_once(g_curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  std::string base = options_.agent_url;
  if (!base.empty() && base.back() == '/') base.pop_back();
  sender_->url = base + "/v0.4/traces";
  sender_->tracer_version_header = "Datadog-Meta-Tracer-Version: " + options_.tracer_version;
  sender_->abort = &abort_;
  sender_->curl = curl_easy_init();
  thread_ = std::thread([this] {
    NameThisThread("trace-export");
    Run();
  });
}

AgentExporter::~AgentExporter() { Stop(std::chrono::milliseconds(500)).IgnoreError(); }

bool AgentExporter::Export(TraceChunk chunk) {
  if (chunk.empty()) return true;
  const size_t spans = chunk.size();
  auto refuse_locked = [&] {
    if (!stopping_ && queued_spans_ + spans <= options_.max_queued_spans) return false;
    stats_.spans_dropped += spans;
    if (metrics_) metrics_->spans_dropped.Increment(static_cast<double>(spans));
    return true;
  };
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (refuse_locked()) return false;  // no encoding for a chunk that cannot be queued
  }
  // Encoded here, on the thread that finished the spans, rather than on the flusher: the
  // queue holds compact bytes, and the spans' many small blocks are freed by the thread that
  // used them (the collector's tracing overhead, design §11, was lower so).
  EncodedChunk encoded{EncodeChunkV04(chunk), spans};
  chunk = TraceChunk();
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (refuse_locked()) return false;  // filled up or stopped while encoding
    queued_spans_ += spans;
    queue_.push_back(std::move(encoded));
    ++accepted_;
    // Half full: send now rather than at the next tick, to keep room for bursts.
    wake = queued_spans_ * 2 >= options_.max_queued_spans &&
           (queued_spans_ - spans) * 2 < options_.max_queued_spans;
  }
  if (wake) wake_.notify_one();
  return true;
}

void AgentExporter::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    wake_.wait_for(lock, options_.flush_interval, [this] {
      return stopping_ || flush_wanted_ > processed_ ||
             queued_spans_ * 2 >= options_.max_queued_spans;
    });
    if (!queue_.empty()) {
      std::deque<EncodedChunk> batch;
      batch.swap(queue_);
      queued_spans_ = 0;
      const uint64_t count = batch.size();
      lock.unlock();
      const bool ok = SendBatch(batch);
      lock.lock();
      processed_ += count;
      if (!ok) failed_upto_ = processed_;
      done_.notify_all();
    }
    if (stopping_ && queue_.empty()) break;
  }
  stopped_ = true;
  done_.notify_all();
}

bool AgentExporter::SendBatch(const std::deque<EncodedChunk>& batch) {
  // Payloads cut at max_payload_bytes (a chunk larger than that goes alone: the Agent's own
  // limit is far larger).
  bool all_ok = true;
  size_t i = 0;
  while (i < batch.size()) {
    std::vector<const std::string*> part;
    size_t bytes = 0, spans = 0;
    while (i < batch.size() &&
           (part.empty() || bytes + batch[i].bytes.size() <= options_.max_payload_bytes)) {
      part.push_back(&batch[i].bytes);
      bytes += batch[i].bytes.size();
      spans += batch[i].spans;
      ++i;
    }
    const std::string payload = AssemblePayloadV04(part);
    // While stopping, no request outlives Stop()'s deadline.
    auto timeout = options_.request_timeout;
    bool capped = false;
    const int64_t stop_deadline = stop_deadline_ns_.load();
    if (stop_deadline != kNoDeadline) {
      const auto left = std::chrono::milliseconds(
          std::max<int64_t>(0, (stop_deadline - SteadyNanos()) / 1'000'000));
      capped = left <= timeout;
      timeout = std::min(timeout, left);
    }
    absl::Status s = abort_.load() || timeout.count() <= 0
                         ? absl::CancelledError("trace exporter stopped past its deadline")
                         : sender_->Put(payload, part.size(), timeout);
    std::lock_guard<std::mutex> lock(mu_);
    if (metrics_) metrics_->UpdateSpanMemory();
    if (!s.ok() && (capped || abort_.load())) cut_by_stop_deadline_ = true;
    if (s.ok()) {
      stats_.spans_sent += spans;
      stats_.traces_sent += part.size();
      if (metrics_) metrics_->spans_sent.Increment(static_cast<double>(spans));
    } else {
      all_ok = false;
      stats_.send_errors += 1;
      stats_.spans_lost += spans;
      if (metrics_) metrics_->send_errors.Increment();
      // One line per failed request at most every 10th: an absent Agent must not flood logs.
      if (stats_.send_errors % 10 == 1) {
        Log().Warn("traces not delivered", {{"error", std::string(s.message())},
                                            {"spans", static_cast<uint64_t>(spans)},
                                            {"send_errors", stats_.send_errors}});
      }
    }
  }
  return all_ok;
}

absl::Status AgentExporter::Flush(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  const uint64_t target = accepted_;
  const uint64_t from = processed_;
  if (processed_ >= target) return absl::OkStatus();
  flush_wanted_ = std::max(flush_wanted_, target);
  wake_.notify_one();
  if (!done_.wait_for(lock, timeout, [&] { return processed_ >= target || stopped_; })) {
    return absl::DeadlineExceededError("traces not all sent before the flush deadline");
  }
  if (processed_ < target) return absl::UnavailableError("trace exporter stopped");
  if (failed_upto_ > from) {
    return absl::UnavailableError("some traces could not be delivered to the Agent");
  }
  return absl::OkStatus();
}

absl::Status AgentExporter::Stop(std::chrono::milliseconds timeout) {
  std::lock_guard<std::mutex> stop_lock(stop_mu_);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock<std::mutex> lock(mu_);
  if (!thread_.joinable()) return absl::OkStatus();
  const uint64_t target = accepted_;
  const uint64_t from = processed_;
  stopping_ = true;
  stop_deadline_ns_ = SteadyNanos() + std::chrono::nanoseconds(timeout).count();
  wake_.notify_one();
  const bool finished = done_.wait_until(lock, deadline, [this] { return stopped_; });
  if (!finished) abort_ = true;  // cut the request in flight short; the rest is lost
  lock.unlock();
  thread_.join();
  lock.lock();
  if (processed_ >= target && failed_upto_ <= from) return absl::OkStatus();
  if (!finished || cut_by_stop_deadline_) {
    return absl::DeadlineExceededError(
        "trace exporter stopped before every queued trace was delivered (deadline)");
  }
  return absl::UnavailableError("some traces could not be delivered to the Agent at stop");
}

ExporterStats AgentExporter::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace apmcov::tracing
