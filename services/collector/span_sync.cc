// The span part of a sync (design §7, §7.1): density first, then the whole range or slices of
// it within SPAN_PAGE_BUDGET, each read oldest first and published with its read interval on
// a watermark, then the checkpoint.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <future>

#include "absl/strings/str_cat.h"
#include "apmcov/base/status.h"
#include "apmcov/base/time.h"
#include "apmcov/bus/proto.h"
#include "app.h"
#include "google/protobuf/util/time_util.h"
#include "internal.h"
#include "span_batches.h"
#include "span_plan.h"

namespace apmcov::collector {
namespace {

using google::protobuf::util::TimeUtil;
using internal::kSource;
using internal::Log;
using internal::ToNanos;

constexpr int64_t kMsNanos = 1'000'000;
constexpr int64_t kMinuteNanos = 60'000'000'000;

// Timeseries interval for the density of a range: one minute, or coarser so that a long
// range (a first sync's backfill) stays within about 1,440 points.
int64_t DensityInterval(int64_t range_ns) {
  const int64_t minutes = std::max<int64_t>(1, (range_ns / kMinuteNanos + 1439) / 1440);
  return minutes * kMinuteNanos;
}

v1::ReadInterval Interval(int64_t from, int64_t to, bool complete) {
  v1::ReadInterval r;
  r.set_from_unix_nano(from);
  r.set_to_unix_nano(to);
  r.set_complete(complete);
  return r;
}

}  // namespace

absl::StatusOr<std::vector<DensityBucket>> App::ReadDensity(int64_t from, int64_t to) {
  const int64_t interval = DensityInterval(to - from);
  datadog::AggregateQuery q;
  q.query = config_.span_query;
  q.from_unix_nano = from;
  q.to_unix_nano = to;
  q.group_by = {};
  q.interval = absl::StrCat(interval / kMinuteNanos, "m");
  APMCOV_ASSIGN_OR_RETURN(datadog::AggregateResult counted, ports_.source.AggregateSpanCounts(q));
  if (counted.partial) {
    // Counts too low could place the slices wrongly: no density rather than a wrong one.
    return absl::UnavailableError(
        "Datadog stopped counting early (the aggregate's meta.status is \"timeout\")");
  }
  std::vector<DensityBucket> density;
  for (const datadog::AggregateBucket& b : counted.buckets) {
    for (const datadog::AggregateBucket::Point& p : b.points) {
      // A point counts spans of [time, time + interval) that lie in the range.
      const int64_t lo = std::max(p.time_unix_nano, from);
      const int64_t hi = std::min(p.time_unix_nano + interval, to);
      if (hi > lo) density.push_back({lo, hi, p.value});
    }
  }
  std::sort(density.begin(), density.end(),
            [](const DensityBucket& a, const DensityBucket& b) { return a.from_ns < b.from_ns; });
  return density;
}

App::RangeRead App::ReadRange(JobProgress& p, SyncResult& result, const std::string& window_id,
                              int64_t from, int64_t to, uint64_t& pages_left, bool cut_on_pause) {
  RangeRead out;
  out.read_to = from;
  datadog::SpanQuery q;
  q.query = config_.span_query;
  q.from_unix_nano = from;
  q.to_unix_nano = to;
  q.limit = 1000;
  int64_t last_start = INT64_MIN;  // of the spans published so far
  // Pages are read ahead (PageFetcher): the next page's call starts as soon as this page's
  // head (its paging) is known, while this page's spans are parsed on the parse thread and then
  // grouped and published here. A fetch still running when this returns is waited for: its
  // call runs inside the sync's span, which must outlive it.
  PageFetcher::Fetched next;
  struct AwaitAbandoned {
    PageFetcher::Fetched& fetch;
    ~AwaitAbandoned() {
      if (fetch.head.valid()) fetch.head.wait();
      if (fetch.page.valid()) fetch.page.wait();
    }
  } await_abandoned{next};
  auto start_fetch = [&]() -> bool {
    if (!leader()) {  // stopped on purpose, like the budget: the next leader resumes
      out.stop = "leadership moved to another collector";
      out.budget = true;
      return false;
    }
    if (pages_left == 0) {
      out.stop = absl::StrCat("span page budget (SPAN_PAGE_BUDGET=", config_.span_page_budget,
                              ") reached");
      out.budget = true;
      return false;
    }
    // The analyzer commits a window's spans only once their watermark is published: a pause
    // with spans of this range published but not yet watermarked would wait for commits that
    // cannot come. Those are cut here and watermarked by the caller, which then waits.
    if (absl::Status s = backpressure_.Wait(cut_on_pause && last_start != INT64_MIN); !s.ok()) {
      out.stop = std::string(s.message());
      out.paused = s.code() == absl::StatusCode::kAborted;
      return false;
    }
    --pages_left;
    // The fetch runs inside the sync's span, so its Datadog call is the sync's child.
    next = fetcher_.Fetch(q, tracing::CurrentActiveSpan());
    return true;
  };
  // Everything that started before the last published span's millisecond was published
  // (pages come oldest first, and the API filters by millisecond): that is where a cut read
  // resumes, re-reading at most that millisecond's spans (duplicates are dropped by span id).
  auto cut_at = [&] {
    if (last_start != INT64_MIN) {
      out.read_to = std::clamp(last_start / kMsNanos * kMsNanos, from, to);
    }
  };
  auto stop_at_error = [&](const absl::Status& s) {
    out.stop =
        absl::StrCat("spans ", FormatRfc3339(from), " to ", FormatRfc3339(to), ": ", s.message());
    cut_at();
  };
  if (!start_fetch()) return out;
  while (true) {
    absl::StatusOr<PageFetcher::Head> head = next.head.get();
    if (!head.ok()) {
      stop_at_error(head.status());
      return out;
    }
    std::future<absl::StatusOr<PageFetcher::Page>> this_page = std::move(next.page);
    // A short page that Datadog marks complete is the range's last: no extra empty call.
    const bool last = head->next_cursor.empty() || head->items == 0 ||
                      (head->items < static_cast<size_t>(q.limit) && !head->partial);
    bool stop_after_this = false;
    if (!last) {
      q.cursor = head->next_cursor;
      stop_after_this = !start_fetch();
    }
    absl::StatusOr<PageFetcher::Page> parsed = this_page.get();
    if (!parsed.ok()) {  // its paging read, its spans not
      stop_at_error(parsed.status());
      return out;
    }
    PageFetcher::Page page = *std::move(parsed);
    const uint64_t n = static_cast<uint64_t>(page->spans.size());
    const uint64_t skipped = page->skipped.size();
    for (const datadog::SpanPage::SkippedSpan& s : page->skipped) {
      Log().Warn("skipping a span that cannot be parsed",
                 {{"trace_id", s.trace_id}, {"span_id", s.span_id}, {"reason", s.reason}});
    }
    if (skipped > 0) {
      ports_.metrics.AddSpansUnparsed(skipped);
      p.job.set_spans_unparsed(p.job.spans_unparsed() + skipped);
    }
    // One SpanBatch per trace, in first-seen order, serialised straight from the page's spans.
    // One producer span per page: its context rides in the batch's headers, which every record
    // carries, so the analyzer's batch span continues this sync's trace.
    PageBatches encoded = EncodeSpanBatches(page->spans, window_id, p.job.id());
    fetcher_.Recycle(std::move(page));  // encoded: the next fetch may read into it
    last_start = std::max(last_start, encoded.last_start_unix_nano);
    std::vector<bus::OutgoingBatch> batches(1);
    batches[0].topic = topics_.spans;
    batches[0].headers = bus::ProtoHeaders(v1::SpanBatch::default_instance());
    batches[0].records = std::move(encoded.records);
    if (absl::Status s = Produce(topics_.spans, std::move(batches)); !s.ok()) {
      out.fatal = s;
      return out;
    }
    result.pages++;
    result.spans += n;
    p.job.set_pages(result.pages);
    p.job.set_spans(result.spans);
    ports_.metrics.AddPages(1);
    ports_.metrics.AddSpansPublished(n);
    if (result.pages % 10 == 0) (void)PublishJob(p, v1::SYNC_STATE_RUNNING, "");
    if (last) {
      out.complete = true;
      out.read_to = to;
      return out;
    }
    if (stop_after_this) {
      cut_at();
      return out;
    }
  }
}

absl::Status App::PublishProgress(JobProgress& p, const std::string& window_id, int64_t watermark,
                                  const std::vector<v1::ReadInterval>& intervals,
                                  int64_t checkpoint) {
  // A watermark to every partition, then the checkpoint, each durable before the next step
  // so that a crash re-publishes at most this range.
  // The round of watermarks: one group, one producer span.
  v1::SpanBatch mark;
  mark.set_watermark_unix_nano(watermark);
  mark.set_window_id(window_id);
  mark.set_job_id(p.job.id());
  for (const v1::ReadInterval& r : intervals) *mark.add_read_intervals() = r;
  std::vector<bus::OutgoingBatch> marks;
  for (int32_t part = 0; part < spans_partitions_; ++part) {
    APMCOV_RETURN_IF_ERROR(AddProto(marks, topics_.spans, "", mark, part));
  }
  APMCOV_RETURN_IF_ERROR(Produce(topics_.spans, std::move(marks)));
  // Nothing is read while this waits: the share of a sync it takes is in the metrics.
  const auto flush_start = std::chrono::steady_clock::now();
  if (absl::Status s =
          ports_.publisher.Flush(std::chrono::seconds(config_.kafka_flush_timeout_seconds));
      !s.ok()) {
    ports_.metrics.AddPublishError();
    return Annotate(s, "flushing span window to Kafka");
  }
  v1::CollectorCheckpoint cp;
  cp.set_source(kSource);
  cp.set_span_window_end_unix_nano(checkpoint);
  cp.set_job_id(p.job.id());
  *cp.mutable_updated_at() = TimeUtil::NanosecondsToTimestamp(ports_.clock.NowUnixNanos());
  APMCOV_RETURN_IF_ERROR(Publish(topics_.collector_state, kSource, cp));
  if (absl::Status s =
          ports_.publisher.Flush(std::chrono::seconds(config_.kafka_flush_timeout_seconds));
      !s.ok()) {
    ports_.metrics.AddPublishError();
    return Annotate(s, "flushing the checkpoint to Kafka");
  }
  ports_.metrics.ObserveWindowFlush(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - flush_start).count());
  {
    std::lock_guard lock(mu_);
    checkpoint_ = checkpoint;
  }
  p.job.set_checkpoint_unix_nano(checkpoint);
  return absl::OkStatus();
}

absl::Status App::SyncSpans(JobProgress& p, SyncResult& result, std::vector<std::string>& issues) {
  const int64_t now = ports_.clock.NowUnixNanos();
  const int64_t end = now - ToNanos(std::chrono::seconds(config_.span_lag_seconds));
  int64_t start;
  {
    std::lock_guard lock(mu_);
    start =
        checkpoint_.value_or(now - ToNanos(std::chrono::minutes(config_.span_backfill_minutes)));
  }
  result.checkpoint_unix_nano = start;
  if (start >= end) return absl::OkStatus();
  absl::StatusOr<int32_t> partitions = ports_.publisher.PartitionCount(topics_.spans);
  if (!partitions.ok()) return Annotate(partitions.status(), "partitions of the spans topic");
  spans_partitions_ = *partitions;

  // Density first: does the range fit the budget?
  SliceOptions options;
  options.budget_pages = config_.span_page_budget;
  options.min_slice_ns = ToNanos(std::chrono::seconds(config_.span_slice_min_seconds));
  {
    std::lock_guard lock(mu_);
    options.phase = std::uniform_real_distribution<double>(0.0, 1.0)(phase_rng_);
  }
  SpanReadPlan plan;
  plan.range = {start, end};
  if (absl::StatusOr<std::vector<DensityBucket>> density = ReadDensity(start, end); density.ok()) {
    plan = PlanSpanRead({start, end}, *density, options);
  } else {
    // Without the density, read whole: a budget cut resumes next time, nothing is skipped.
    issues.push_back(
        absl::StrCat("span density: ", density.status().message(), "; reading the range whole"));
  }
  uint64_t pages_left = static_cast<uint64_t>(std::max<int64_t>(0, config_.span_page_budget));
  int64_t sampled_ns = 0;

  if (plan.whole) {
    const int64_t window = ToNanos(std::chrono::seconds(config_.span_window_seconds));
    while (start < end) {
      const int64_t wend = std::min(start + window, end);
      const std::string window_id = absl::StrCat(start, "-", wend);
      RangeRead r = ReadRange(p, result, window_id, start, wend, pages_left, /*cut_on_pause=*/true);
      APMCOV_RETURN_IF_ERROR(r.fatal);
      if (r.read_to > start) {
        APMCOV_RETURN_IF_ERROR(PublishProgress(p, window_id, r.read_to,
                                               {Interval(start, r.read_to, true)}, r.read_to));
        sampled_ns += r.read_to - start;
        result.checkpoint_unix_nano = r.read_to;
        result.windows++;
      }
      if (!r.complete && r.paused && r.read_to > start) {
        // Watermarked up to the cut: the analyzer can judge and commit what it holds while
        // the next read waits out the pause.
        Log().Info(
            "progress published before a backpressure pause",
            {{"job_id", p.job.id()}, {"read_to", FormatRfc3339(r.read_to)}, {"reason", r.stop}});
        start = r.read_to;
        continue;
      }
      if (!r.complete) {
        issues.push_back(absl::StrCat(r.stop, " at ", FormatRfc3339(r.read_to),
                                      "; the next sync resumes there"));
        break;
      }
      start = wend;
    }
  } else {
    const std::string window_id = absl::StrCat(start, "-", end);
    std::vector<v1::ReadInterval> intervals;
    uint64_t incomplete = 0;
    for (const TimeRange& slice : plan.slices) {
      // Slices are watermarked together at the end: a pause waits (an over-budget range is
      // read a slice at a time, far from what the analyzer holds in flight).
      RangeRead r = ReadRange(p, result, window_id, slice.from_ns, slice.to_ns, pages_left,
                              /*cut_on_pause=*/false);
      APMCOV_RETURN_IF_ERROR(r.fatal);
      if (!r.complete && r.read_to == slice.from_ns && r.budget) break;  // nothing read
      intervals.push_back(Interval(slice.from_ns, slice.to_ns, r.complete));
      if (r.complete) {
        sampled_ns += slice.length();
      } else {
        ++incomplete;
        if (!r.budget) issues.push_back(r.stop);
      }
    }
    Log().Info("span range sampled", {{"job_id", p.job.id()},
                                      {"from", FormatRfc3339(start)},
                                      {"to", FormatRfc3339(end)},
                                      {"expected_spans", static_cast<int64_t>(plan.expected_spans)},
                                      {"expected_pages", plan.expected_pages},
                                      {"slices", static_cast<int64_t>(intervals.size())},
                                      {"incomplete_slices", incomplete},
                                      {"sampled_seconds", sampled_ns / 1'000'000'000}});
    // The unread rest of the range is skipped on purpose: the checkpoint moves to its end.
    APMCOV_RETURN_IF_ERROR(PublishProgress(p, window_id, end, intervals, end));
    result.checkpoint_unix_nano = end;
    result.windows++;
  }
  const int64_t covered = result.checkpoint_unix_nano - plan.range.from_ns;
  const int64_t skipped_ns = std::max<int64_t>(0, covered - sampled_ns);
  // Whole seconds, rounded: slices of a second or two must not all round down to nothing.
  p.job.set_sampled_seconds(p.job.sampled_seconds() +
                            static_cast<uint64_t>((sampled_ns + 500'000'000) / 1'000'000'000));
  p.job.set_skipped_seconds(p.job.skipped_seconds() +
                            static_cast<uint64_t>((skipped_ns + 500'000'000) / 1'000'000'000));
  result.sampled_seconds = static_cast<double>(sampled_ns) / 1e9;
  result.skipped_seconds = static_cast<double>(skipped_ns) / 1e9;
  if (covered > 0) {
    ports_.metrics.ObserveSampling(result.sampled_seconds, result.skipped_seconds);
  }
  return absl::OkStatus();
}

}  // namespace apmcov::collector
