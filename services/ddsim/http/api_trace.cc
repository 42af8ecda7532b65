// The trace family: GET /api/v2/trace/{id}, a generated trace found from its id alone, else
// one the Agent intake received.
#include <algorithm>
#include <cctype>
#include <charconv>

#include "ddsim/http/api.h"
#include "ddsim/http/json_writer.h"
#include "ddsim/http/responses.h"
#include "ddsim/intake/received_render.h"

namespace apmcov::ddsim {
namespace {

__extension__ typedef unsigned __int128 Uint128;

}  // namespace

HttpResponse DdsimApi::Trace(const std::string& id) {
  uint64_t lo = 0, hi = 0;
  bool ok = !id.empty();
  bool has_hi = false;
  if (id.size() == 32 && std::all_of(id.begin(), id.end(), [](char c) {
        return std::isxdigit(static_cast<unsigned char>(c));
      })) {
    ok = std::from_chars(id.data(), id.data() + 16, hi, 16).ec == std::errc() &&
         std::from_chars(id.data() + 16, id.data() + 32, lo, 16).ec == std::errc();
    has_hi = true;
  } else if (id.size() <= 39 &&
             std::all_of(id.begin(), id.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    // std::from_chars stops at 64 bits; a 39-digit decimal needs 128.
    Uint128 v = 0;
    for (char c : id) v = v * 10 + static_cast<unsigned>(c - '0');
    lo = static_cast<uint64_t>(v);
    hi = static_cast<uint64_t>(v >> 64);
    has_hi = hi != 0;
  } else {
    ok = false;
  }
  if (!ok)
    return JsonApiError(400, "trace_id must be 32 hex characters or a decimal of up to 39 digits");
  auto d = DecodeTraceId(traffic_.seed, lo);
  const int64_t now = clock_.NowUnixNanos();
  if (d) {
    auto b = GetBucket(d->bucket);
    if (d->index < b->traces.size() && b->traces[d->index].trace_lo == lo &&
        (!has_hi || b->traces[d->index].trace_hi == hi) && b->traces[d->index].start_ns <= now) {
      const TraceTruth& t = b->traces[d->index];
      std::string out = "{\"data\":{\"type\":\"trace\",\"id\":\"";
      AppendHex16(out, t.trace_hi);
      AppendHex16(out, t.trace_lo);
      out.append("\",\"attributes\":{\"is_truncated\":false,\"spans\":[");
      bool first = true;
      for (uint32_t i = t.first_span; i < t.first_span + t.span_count; ++i) {
        if (b->spans[i].start_ns > now) continue;
        if (!first) out.push_back(',');
        first = false;
        renderer_.AppendTraceSpan(out, b->spans[i]);
      }
      out.append("]}}}");
      HttpResponse resp;
      resp.body = std::move(out);
      return resp;
    }
  }
  return ReceivedTrace(lo, hi, has_hi);
}

HttpResponse DdsimApi::ReceivedTrace(uint64_t lo, uint64_t hi, bool has_hi) {
  const int64_t now = clock_.NowUnixNanos();
  std::vector<ReceivedStore::SecondSpans> seconds;
  std::vector<const ReceivedSpan*> spans;
  uint64_t high = 0;
  for (int64_t second : received_.SecondsOfTrace(lo)) {
    ReceivedStore::SecondSpans ss = received_.Second(second);
    if (ss == nullptr) continue;
    for (const ReceivedSpan& s : *ss) {
      if (s.trace_lo != lo || s.start_ns > now) continue;
      spans.push_back(&s);
      high = std::max(high, s.trace_hi);
    }
    seconds.push_back(std::move(ss));
  }
  if (spans.empty() || (has_hi && high != 0 && high != hi)) {
    return JsonApiError(404, "trace not found");
  }
  std::string out = "{\"data\":{\"type\":\"trace\",\"id\":\"";
  AppendHex16(out, high);
  AppendHex16(out, lo);
  out.append("\",\"attributes\":{\"is_truncated\":false,\"spans\":[");
  for (size_t i = 0; i < spans.size(); ++i) {
    if (i > 0) out.push_back(',');
    AppendReceivedTraceSpan(out, *spans[i]);
  }
  out.append("]}}}");
  HttpResponse resp;
  resp.body = std::move(out);
  return resp;
}

}  // namespace apmcov::ddsim
