#include "ddsim/intake/received.h"

#include <algorithm>
#include <charconv>
#include <msgpack.hpp>
#include <mutex>
#include <optional>
#include <set>
#include <variant>

#include "ddsim/world/cat.h"

namespace apmcov::ddsim {
namespace {

constexpr size_t kMaxServiceBytes = 100, kMaxNameBytes = 100, kMaxResourceBytes = 5000;
constexpr size_t kMaxDepth = 32;
constexpr int64_t kYear2000Ns = 946'684'800'000'000'000LL;

struct Nil {};
struct Bin {
  std::string_view bytes;
};
using Scalar = std::variant<Nil, bool, uint64_t, int64_t, double, std::string_view, Bin>;

std::string_view TypeName(const Scalar& v) {
  switch (v.index()) {
    case 0:
      return "nil";
    case 1:
      return "a boolean";
    case 2:
    case 3:
      return "an integer";
    case 4:
      return "a float";
    case 5:
      return "a string";
    default:
      return "binary";
  }
}

// Walks a v0.4 payload with msgpack-cxx's parser, building spans as it goes.
class V04Visitor {
 public:
  explicit V04Visitor(const IntakeRequestInfo& info) : info_(info) {}

  DecodedPayload& result() { return out_; }
  const std::string& error() const { return error_; }
  bool finished() const { return finished_; }

  // Scalars.
  bool visit_nil() { return OnScalar(Nil{}); }
  bool visit_boolean(bool v) { return OnScalar(v); }
  bool visit_positive_integer(uint64_t v) { return OnScalar(v); }
  bool visit_negative_integer(int64_t v) { return OnScalar(v); }
  bool visit_float32(float v) { return OnScalar(static_cast<double>(v)); }
  bool visit_float64(double v) { return OnScalar(v); }
  bool visit_str(const char* v, uint32_t size) { return OnScalar(std::string_view(v, size)); }
  bool visit_bin(const char* v, uint32_t size) { return OnScalar(Bin{std::string_view(v, size)}); }
  bool visit_ext(const char*, uint32_t) { return OnScalar(Bin{}); }

  // Containers.
  bool start_array(uint32_t) { return OnContainer(/*map=*/false); }
  bool start_array_item() { return true; }
  bool end_array_item() { return true; }
  bool end_array() { return OnEnd(); }
  bool start_map(uint32_t) { return OnContainer(/*map=*/true); }
  bool start_map_key() {
    in_key_ = true;
    return true;
  }
  bool end_map_key() {
    in_key_ = false;
    return true;
  }
  bool start_map_value() { return true; }
  bool end_map_value() { return true; }
  bool end_map() { return OnEnd(); }

  void parse_error(size_t, size_t error_offset) {
    if (error_.empty()) error_ = Cat("body is not valid msgpack (at byte ", error_offset, ")");
  }
  void insufficient_bytes(size_t, size_t error_offset) {
    if (error_.empty())
      error_ = Cat("body ends inside a msgpack value (at byte ", error_offset, ")");
  }
  bool referenced() const { return false; }
  void set_referenced(bool) {}

 private:
  enum class Ctx { kTraces, kTrace, kSpan, kMeta, kMetrics, kSkip };

  bool Fail(std::string message) {
    if (error_.empty()) error_ = std::move(message);
    return false;
  }
  std::string Where() const { return Cat("trace ", trace_index_, ", span ", span_index_, ": "); }

  bool OnContainer(bool map) {
    if (stack_.size() >= kMaxDepth) return Fail("msgpack nested deeper than 32 levels");
    if (stack_.empty()) {
      if (map || finished_) return Fail("body is not a msgpack array of traces");
      stack_.push_back(Ctx::kTraces);
      return true;
    }
    switch (stack_.back()) {
      case Ctx::kTraces:
        if (map) return Fail(Cat("trace ", trace_index_, " is not an array of spans"));
        chunk_.clear();
        span_index_ = 0;
        stack_.push_back(Ctx::kTrace);
        return true;
      case Ctx::kTrace:
        if (!map) return Fail(Cat(Where(), "a span is not a map"));
        span_ = ReceivedSpan{};
        meta_.clear();
        metrics_.clear();
        stack_.push_back(Ctx::kSpan);
        return true;
      case Ctx::kSpan:
        if (in_key_) return Fail(Cat(Where(), "a span key is not a string"));
        if (key_ == "meta" || key_ == "metrics") {
          if (!map) return Fail(Cat(Where(), key_, " is not a map"));
          stack_.push_back(key_ == "meta" ? Ctx::kMeta : Ctx::kMetrics);
          return true;
        }
        if (IsKnownScalarKey(key_)) {
          return Fail(Cat(Where(), key_, " is ", map ? "a map" : "an array"));
        }
        stack_.push_back(Ctx::kSkip);  // meta_struct, span_links, ...: not used here
        return true;
      case Ctx::kMeta:
      case Ctx::kMetrics:
        return Fail(Cat(Where(), stack_.back() == Ctx::kMeta ? "meta" : "metrics", " entry ",
                        in_key_ ? "key" : "value", " is ", map ? "a map" : "an array"));
      case Ctx::kSkip:
        stack_.push_back(Ctx::kSkip);
        return true;
    }
    return false;
  }

  bool OnEnd() {
    const Ctx ctx = stack_.back();
    stack_.pop_back();
    switch (ctx) {
      case Ctx::kTraces:
        finished_ = true;
        return true;
      case Ctx::kTrace:
        FinishChunk();
        ++trace_index_;
        return true;
      case Ctx::kSpan:
        return FinishSpan();
      default:
        return true;
    }
  }

  static bool IsKnownScalarKey(std::string_view k) {
    return k == "trace_id" || k == "span_id" || k == "parent_id" || k == "service" || k == "name" ||
           k == "resource" || k == "type" || k == "start" || k == "duration" || k == "error";
  }

  static std::optional<std::string_view> AsString(const Scalar& v) {
    if (const auto* s = std::get_if<std::string_view>(&v)) return *s;
    if (const auto* b = std::get_if<Bin>(&v)) return b->bytes;
    if (std::holds_alternative<Nil>(v)) return std::string_view();
    return std::nullopt;
  }
  static std::optional<int64_t> AsInt(const Scalar& v) {
    if (const auto* u = std::get_if<uint64_t>(&v)) return static_cast<int64_t>(*u);
    if (const auto* i = std::get_if<int64_t>(&v)) return *i;
    if (const auto* d = std::get_if<double>(&v)) {
      if (!(*d >= -9.2e18 && *d <= 9.2e18)) return std::nullopt;
      return static_cast<int64_t>(*d);
    }
    if (std::holds_alternative<Nil>(v)) return 0;
    return std::nullopt;
  }
  static std::optional<double> AsDouble(const Scalar& v) {
    if (const auto* u = std::get_if<uint64_t>(&v)) return static_cast<double>(*u);
    if (const auto* i = std::get_if<int64_t>(&v)) return static_cast<double>(*i);
    if (const auto* d = std::get_if<double>(&v)) return *d;
    return std::nullopt;
  }

  bool OnScalar(const Scalar& v) {
    if (stack_.empty()) return Fail("body is not a msgpack array of traces");
    switch (stack_.back()) {
      case Ctx::kTraces:
        return Fail(Cat("trace ", trace_index_, " is not an array of spans"));
      case Ctx::kTrace:
        return Fail(Cat(Where(), "a span is not a map"));
      case Ctx::kSpan:
        return in_key_ ? SpanKey(v) : SpanValue(v);
      case Ctx::kMeta:
      case Ctx::kMetrics:
        return MetaEntry(v, stack_.back() == Ctx::kMeta);
      case Ctx::kSkip:
        return true;
    }
    return false;
  }

  bool SpanKey(const Scalar& v) {
    auto k = AsString(v);
    if (!k || std::holds_alternative<Nil>(v))
      return Fail(Cat(Where(), "a span key is not a string"));
    key_.assign(*k);
    return true;
  }

  bool SpanValue(const Scalar& v) {
    auto type_error = [&](std::string_view want) {
      return Fail(Cat(Where(), key_, " is ", TypeName(v), ", not ", want));
    };
    if (key_ == "trace_id" || key_ == "span_id" || key_ == "parent_id") {
      auto i = AsInt(v);
      if (!i || std::holds_alternative<double>(v)) return type_error("an integer");
      const uint64_t id = static_cast<uint64_t>(*i);
      (key_ == "trace_id"  ? span_.trace_lo
       : key_ == "span_id" ? span_.span_id
                           : span_.parent_id) = id;
    } else if (key_ == "service" || key_ == "name" || key_ == "resource" || key_ == "type") {
      auto s = AsString(v);
      if (!s) return type_error("a string");
      (key_ == "service"    ? span_.service
       : key_ == "name"     ? span_.name
       : key_ == "resource" ? span_.resource
                            : span_.type)
          .assign(*s);
    } else if (key_ == "start" || key_ == "duration") {
      auto i = AsInt(v);
      if (!i) return type_error("an integer");
      (key_ == "start" ? span_.start_ns : span_.duration_ns) = *i;
    } else if (key_ == "error") {
      if (const auto* b = std::get_if<bool>(&v)) {
        span_.error = *b;
      } else {
        auto i = AsInt(v);
        if (!i || std::holds_alternative<double>(v)) return type_error("an integer");
        span_.error = *i != 0;
      }
    }
    return true;  // other keys (meta_struct's scalars, ...) are ignored
  }

  bool MetaEntry(const Scalar& v, bool meta) {
    const std::string_view what = meta ? "meta" : "metrics";
    if (in_key_) {
      auto k = AsString(v);
      if (!k) return Fail(Cat(Where(), what, " key is ", TypeName(v), ", not a string"));
      entry_key_.assign(*k);
      return true;
    }
    if (std::holds_alternative<Nil>(v)) return true;
    if (meta) {
      auto s = AsString(v);
      if (!s)
        return Fail(Cat(Where(), "meta \"", entry_key_, "\" is ", TypeName(v), ", not a string"));
      meta_[entry_key_] = std::string(*s);
    } else {
      auto d = AsDouble(v);
      if (!d)
        return Fail(Cat(Where(), "metric \"", entry_key_, "\" is ", TypeName(v), ", not a number"));
      metrics_[entry_key_] = *d;
    }
    return true;
  }

  // Invalid UTF-8 becomes U+FFFD, as the Agent's normaliser does: every string ddsim serves
  // again must be valid JSON text.
  static void FixUtf8(std::string& s) {
    size_t i = 0;
    while (i < s.size() && static_cast<unsigned char>(s[i]) < 0x80) ++i;
    if (i == s.size()) return;
    std::string out = s.substr(0, i);
    while (i < s.size()) {
      const auto c = static_cast<unsigned char>(s[i]);
      size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
      bool ok = n > 0 && i + n <= s.size();
      for (size_t k = 1; ok && k < n; ++k)
        ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
      if (ok && n > 1) {
        // Overlong forms, surrogates and values past U+10FFFF are invalid too.
        const auto c1 = static_cast<unsigned char>(s[i + 1]);
        ok = !(n == 2 && c < 0xC2) && !(n == 3 && c == 0xE0 && c1 < 0xA0) &&
             !(n == 3 && c == 0xED && c1 >= 0xA0) && !(n == 4 && c == 0xF0 && c1 < 0x90) &&
             !(n == 4 && (c > 0xF4 || (c == 0xF4 && c1 >= 0x90)));
      }
      if (ok) {
        out.append(s, i, n);
        i += n;
      } else {
        out.append("\xEF\xBF\xBD");
        ++i;
      }
    }
    s = std::move(out);
  }

  static void Cut(std::string& s, size_t max) {
    if (s.size() <= max) return;
    size_t n = max;
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;  // whole UTF-8 chars
    s.resize(n);
  }

  bool FinishSpan() {
    ReceivedSpan& s = span_;
    for (auto& [k, v] : meta_) {
      std::string key = k;
      FixUtf8(key);
      FixUtf8(v);
      s.meta.emplace_back(std::move(key), std::move(v));
    }
    for (const auto& [k, v] : metrics_) {
      std::string key = k;
      FixUtf8(key);
      s.metrics.emplace_back(std::move(key), v);
    }
    // Repairs can make two keys equal: keep them sorted and unique.
    auto by_key = [](const auto& a, const auto& b) { return a.first < b.first; };
    auto same_key = [](const auto& a, const auto& b) { return a.first == b.first; };
    std::stable_sort(s.meta.begin(), s.meta.end(), by_key);
    s.meta.erase(std::unique(s.meta.begin(), s.meta.end(), same_key), s.meta.end());
    std::stable_sort(s.metrics.begin(), s.metrics.end(), by_key);
    s.metrics.erase(std::unique(s.metrics.begin(), s.metrics.end(), same_key), s.metrics.end());
    for (std::string* str : {&s.service, &s.name, &s.resource, &s.type}) FixUtf8(*str);
    Cut(s.service, kMaxServiceBytes);
    Cut(s.name, kMaxNameBytes);
    Cut(s.resource, kMaxResourceBytes);
    if (s.service.empty()) s.service = "unnamed-service";
    if (s.name.empty()) s.name = "unnamed_operation";
    if (s.resource.empty()) s.resource = s.name;
    if (s.duration_ns < 0) s.duration_ns = 0;
    if (s.start_ns < kYear2000Ns) s.start_ns = info_.now_ns - s.duration_ns;
    const std::string* env = s.Meta("env");
    s.env = env != nullptr && !env->empty() ? *env : "none";
    if (const std::string* v = s.Meta("version")) s.version = *v;
    const std::string* lang = s.Meta("language");
    s.language = lang != nullptr && !lang->empty() ? *lang : info_.language;
    const std::string* host = s.Meta("_dd.hostname");
    s.host = host != nullptr && !host->empty() ? *host : info_.host;
    chunk_.push_back(std::move(s));
    ++span_index_;
    return true;
  }

  // The Agent drops spans with a zero trace or span id, and whole chunks mixing trace ids.
  void FinishChunk() {
    ++out_.traces;
    std::vector<ReceivedSpan> kept;
    uint64_t trace = 0, high = 0;
    bool mixed = false;
    for (ReceivedSpan& s : chunk_) {
      if (s.trace_lo == 0 || s.span_id == 0) {
        ++out_.dropped_spans;
        continue;
      }
      if (trace == 0) trace = s.trace_lo;
      mixed |= s.trace_lo != trace;
      if (const std::string* tid = s.Meta("_dd.p.tid"); tid != nullptr && tid->size() == 16) {
        uint64_t h = 0;
        auto r = std::from_chars(tid->data(), tid->data() + 16, h, 16);
        if (r.ec == std::errc() && r.ptr == tid->data() + 16) high = h;
      }
      kept.push_back(std::move(s));
    }
    chunk_.clear();
    if (mixed) {
      out_.dropped_spans += kept.size();
      return;
    }
    for (ReceivedSpan& s : kept) {
      s.trace_hi = high;
      out_.spans.push_back(std::move(s));
    }
  }

  const IntakeRequestInfo& info_;
  DecodedPayload out_;
  std::string error_;
  std::vector<Ctx> stack_;
  bool in_key_ = false;
  bool finished_ = false;
  std::string key_, entry_key_;
  size_t trace_index_ = 0, span_index_ = 0;
  std::vector<ReceivedSpan> chunk_;
  ReceivedSpan span_;
  std::map<std::string, std::string> meta_;
  std::map<std::string, double> metrics_;
};

std::string_view U64(uint64_t v, std::string& scratch) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  scratch.assign(buf, r.ptr);
  return scratch;
}

bool MetaValue(const ReceivedSpan& span, std::string_view key, std::string_view* out) {
  const std::string* v = span.Meta(key);
  if (v == nullptr) return false;
  *out = *v;
  return true;
}

}  // namespace

const std::string* ReceivedSpan::Meta(std::string_view key) const {
  auto it = std::lower_bound(meta.begin(), meta.end(), key,
                             [](const auto& e, std::string_view k) { return e.first < k; });
  return it != meta.end() && it->first == key ? &it->second : nullptr;
}

absl::StatusOr<DecodedPayload> DecodeTracesV04(std::string_view body,
                                               const IntakeRequestInfo& info) {
  if (body.empty())
    return absl::InvalidArgumentError("empty body: expected a msgpack array of traces");
  V04Visitor visitor(info);
  size_t off = 0;
  bool ok = false;
  try {
    ok = msgpack::v2::parse(body.data(), body.size(), off, visitor);
  } catch (const std::exception& e) {  // msgpack-cxx reports some limits by throwing
    return absl::InvalidArgumentError(Cat("body is not valid msgpack: ", e.what()));
  }
  if (!ok || !visitor.error().empty()) {
    return absl::InvalidArgumentError(visitor.error().empty() ? "body is not valid msgpack"
                                                              : visitor.error());
  }
  if (!visitor.finished())
    return absl::InvalidArgumentError("body is not a msgpack array of traces");
  if (off != body.size()) {
    return absl::InvalidArgumentError(
        Cat("body has ", body.size() - off, " bytes after the array of traces"));
  }
  return std::move(visitor.result());
}

bool ReceivedFieldValue(const ReceivedSpan& span, SpanField field, std::string& scratch,
                        std::string_view* out) {
  switch (field) {
    case SpanField::kService:
      *out = span.service;
      return true;
    case SpanField::kEnv:
      *out = span.env;
      return true;
    case SpanField::kTraceId:
      *out = U64(span.trace_lo, scratch);
      return true;
    case SpanField::kSpanId:
      *out = U64(span.span_id, scratch);
      return true;
    case SpanField::kParentId:
      *out = U64(span.parent_id, scratch);
      return true;
    case SpanField::kResourceName:
      *out = span.resource;
      return true;
    case SpanField::kOperationName:
      *out = span.name;
      return true;
    case SpanField::kType:
      *out = span.type;
      return true;
    case SpanField::kStatus:
      *out = span.error ? "error" : "ok";
      return true;
    case SpanField::kHost:
      *out = span.host;
      return true;
    case SpanField::kVersion:
      *out = span.version;
      return !span.version.empty();
    case SpanField::kRetainedBy:
      *out = "flat_sampled";
      return true;
    case SpanField::kIngestionReason:
      *out = "auto";
      return true;
    case SpanField::kLanguage:
      *out = span.language;
      return !span.language.empty();
    case SpanField::kDuration:
      *out = U64(static_cast<uint64_t>(span.duration_ns), scratch);
      return true;
    case SpanField::kSpanKind:
      return MetaValue(span, "span.kind", out);
    case SpanField::kPeerService:
      return MetaValue(span, "peer.service", out);
    case SpanField::kPeerHostname:
      return MetaValue(span, "peer.hostname", out);
    case SpanField::kOutHost:
      return MetaValue(span, "out.host", out);
    case SpanField::kDbSystem:
      return MetaValue(span, "db.system", out);
    case SpanField::kMessagingSystem:
      return MetaValue(span, "messaging.system", out);
    case SpanField::kMessagingDestination:
      return MetaValue(span, "messaging.destination.name", out);
    case SpanField::kHttpStatusCode:
      return MetaValue(span, "http.status_code", out);
    case SpanField::kHttpMethod:
      return MetaValue(span, "http.method", out);
    case SpanField::kHttpUrl:
      return MetaValue(span, "http.url", out);
    case SpanField::kRpcService:
      return MetaValue(span, "rpc.service", out);
    case SpanField::kComponent:
      return MetaValue(span, "component", out);
    case SpanField::kKubeClusterName:
      return MetaValue(span, "kube_cluster_name", out);
    case SpanField::kEcsClusterName:
      return MetaValue(span, "ecs_cluster_name", out);
    case SpanField::kFunctionArn:
      return MetaValue(span, "function_arn", out);
    case SpanField::kUnknown:
      return false;
  }
  return false;
}

ReceivedStore::ReceivedStore(size_t max_spans) : max_spans_(std::max<size_t>(1, max_spans)) {}

size_t ReceivedStore::Add(std::vector<ReceivedSpan> spans) {
  if (spans.empty()) return 0;
  auto second_of = [](int64_t ns) {
    return ns >= 0 ? ns / 1'000'000'000 : -((-ns + 999'999'999) / 1'000'000'000);
  };
  std::map<int64_t, std::vector<ReceivedSpan>> by_second;
  for (ReceivedSpan& s : spans) by_second[second_of(s.start_ns)].push_back(std::move(s));

  std::unique_lock<std::shared_mutex> lock(mu_);
  size_t added = 0;
  for (auto& [second, incoming] : by_second) {
    for (const ReceivedSpan& s : incoming) {
      ServiceEnv& se = service_envs_[{s.service, s.env}];
      if (se.spans == 0 || s.start_ns < se.first_start_ns) se.first_start_ns = s.start_ns;
      se.service = s.service;
      se.env = s.env;
      ++se.spans;
      std::vector<int64_t>& secs = trace_seconds_[s.trace_lo];
      if (std::find(secs.begin(), secs.end(), second) == secs.end()) {
        secs.insert(std::upper_bound(secs.begin(), secs.end(), second), second);
      }
    }
    // Copy on write: readers keep the snapshot they hold.
    auto merged = std::make_shared<std::vector<ReceivedSpan>>();
    auto it = seconds_.find(second);
    if (it != seconds_.end()) *merged = *it->second;
    added += incoming.size();
    for (ReceivedSpan& s : incoming) merged->push_back(std::move(s));
    std::stable_sort(
        merged->begin(), merged->end(), [](const ReceivedSpan& a, const ReceivedSpan& b) {
          return a.start_ns != b.start_ns ? a.start_ns < b.start_ns : a.span_id < b.span_id;
        });
    seconds_[second] = std::move(merged);
  }
  size_t total = size_.load() + added;
  size_t evicted = 0;
  while (total > max_spans_ && !seconds_.empty()) {
    auto oldest = seconds_.begin();
    for (const ReceivedSpan& s : *oldest->second) {
      auto t = trace_seconds_.find(s.trace_lo);
      if (t == trace_seconds_.end()) continue;
      std::erase(t->second, oldest->first);
      if (t->second.empty()) trace_seconds_.erase(t);
    }
    total -= oldest->second->size();
    evicted += oldest->second->size();
    seconds_.erase(oldest);
  }
  size_.store(total);
  evicted_ += static_cast<int64_t>(evicted);
  return evicted;
}

ReceivedStore::SecondSpans ReceivedStore::Second(int64_t second) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  auto it = seconds_.find(second);
  return it == seconds_.end() ? nullptr : it->second;
}

std::vector<std::pair<int64_t, ReceivedStore::SecondSpans>> ReceivedStore::Range(
    int64_t from_s, int64_t to_s) const {
  std::vector<std::pair<int64_t, SecondSpans>> out;
  std::shared_lock<std::shared_mutex> lock(mu_);
  for (auto it = seconds_.lower_bound(from_s); it != seconds_.end() && it->first <= to_s; ++it) {
    out.emplace_back(it->first, it->second);
  }
  return out;
}

std::vector<int64_t> ReceivedStore::SecondsOfTrace(uint64_t trace_lo) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  auto it = trace_seconds_.find(trace_lo);
  return it == trace_seconds_.end() ? std::vector<int64_t>{} : it->second;
}

std::vector<ReceivedStore::ServiceEnv> ReceivedStore::ServiceEnvs() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  std::vector<ServiceEnv> out;
  out.reserve(service_envs_.size());
  for (const auto& [key, se] : service_envs_) out.push_back(se);
  return out;
}

}  // namespace apmcov::ddsim
