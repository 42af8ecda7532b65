#include "apmcov/tracing/propagation.h"

#include <charconv>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "apmcov/base/status.h"

namespace apmcov::tracing {
namespace {

constexpr std::string_view kPropagatedPrefix = "_dd.p.";
constexpr size_t kMaxOriginBytes = 256;
constexpr size_t kMaxTracestateMembers = 32;

// The pieces of `s` between `sep` characters (empty pieces included).
std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    const size_t end = s.find(sep, start);
    if (end == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
}

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool Printable(std::string_view s) {
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u > 0x7e) return false;
  }
  return true;
}

bool ParsePriority(std::string_view text, int* out) {
  text = TrimOws(text);
  if (text.empty() || text.size() > 4) return false;
  int v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size()) return false;
  *out = v;
  return true;
}

bool IsTid(std::string_view value, uint64_t* high) {
  return value.size() == 16 && ParseLowerHex64(value, high) && *high != 0;
}

// "_dd.p.k=v,_dd.p.k2=v2": false (and nothing taken) when any member is malformed.
bool ParseDatadogTags(std::string_view text, SpanContext* ctx) {
  if (text.empty() || text.size() > kMaxDatadogTagsBytes || !Printable(text)) return false;
  std::vector<std::pair<std::string, std::string>> tags;
  uint64_t high = 0;
  for (std::string_view member : Split(text, ',')) {
    member = TrimOws(member);
    if (member.empty()) continue;
    const size_t eq = member.find('=');
    if (eq == std::string_view::npos || eq == 0 || eq + 1 == member.size()) return false;
    std::string_view key = member.substr(0, eq);
    std::string_view value = member.substr(eq + 1);
    if (key.substr(0, kPropagatedPrefix.size()) != kPropagatedPrefix ||
        key.size() == kPropagatedPrefix.size() || key.find(' ') != std::string_view::npos) {
      return false;
    }
    if (key == tags::kTraceIdHigh) {
      // A malformed tid is dropped on its own: the 64-bit trace still continues.
      if (!IsTid(value, &high)) high = 0;
      continue;
    }
    tags.emplace_back(std::string(key), std::string(value));
  }
  ctx->trace_id.high = high;
  ctx->trace_tags = std::move(tags);
  return true;
}

std::optional<SpanContext> ExtractDatadog(const HeaderReader& headers) {
  auto trace = headers(kDatadogTraceIdHeader);
  auto parent = headers(kDatadogParentIdHeader);
  if (!trace || !parent) return std::nullopt;
  SpanContext ctx;
  if (!ParseDecimalU64(TrimOws(*trace), &ctx.trace_id.low) || ctx.trace_id.low == 0) {
    return std::nullopt;
  }
  if (!ParseDecimalU64(TrimOws(*parent), &ctx.span_id) || ctx.span_id == 0) return std::nullopt;
  if (auto p = headers(kDatadogSamplingPriorityHeader)) {
    int priority = 0;
    if (ParsePriority(*p, &priority)) ctx.sampling_priority = priority;
  }
  if (auto o = headers(kDatadogOriginHeader)) {
    std::string_view origin = TrimOws(*o);
    if (origin.size() <= kMaxOriginBytes && Printable(origin)) ctx.origin = std::string(origin);
  }
  if (auto t = headers(kDatadogTagsHeader)) ParseDatadogTags(TrimOws(*t), &ctx);
  return ctx;
}

bool IsLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// tracestate's dd member value: "s:2;o:rum;p:00f067aa0ba902b7;t.dm:-4". Bad entries are
// skipped one by one.
void ParseDdMember(std::string_view value, SpanContext* ctx, std::optional<int>* priority) {
  for (std::string_view entry : Split(value, ';')) {
    const size_t colon = entry.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == entry.size()) continue;
    std::string_view key = entry.substr(0, colon);
    std::string_view v = entry.substr(colon + 1);
    if (key == "s") {
      int p = 0;
      if (ParsePriority(v, &p)) *priority = p;
    } else if (key == "o") {
      if (v.size() <= kMaxOriginBytes) {
        std::string origin(v);
        for (char& c : origin) {
          if (c == '~') c = '=';
        }
        ctx->origin = std::move(origin);
      }
    } else if (key == "p") {
      uint64_t p = 0;
      if (v.size() == 16 && ParseLowerHex64(v, &p)) ctx->datadog_parent_hex = std::string(v);
    } else if (key.size() > 2 && key.substr(0, 2) == "t.") {
      if (key == "t.tid") continue;  // the traceparent's own high bits are authoritative
      std::string tag_value(v);
      for (char& c : tag_value) {
        if (c == '~') c = '=';
      }
      ctx->trace_tags.emplace_back(
          absl::StrCat(AbslView(kPropagatedPrefix), AbslView(key.substr(2))), std::move(tag_value));
    }
  }
}

std::optional<SpanContext> ExtractW3c(const HeaderReader& headers) {
  auto header = headers(kTraceparentHeader);
  if (!header) return std::nullopt;
  std::string_view tp = TrimOws(*header);
  // version "-" trace-id "-" parent-id "-" flags; later versions may append "-" fields.
  if (tp.size() < 55 || tp[2] != '-' || tp[35] != '-' || tp[52] != '-') return std::nullopt;
  std::string_view version = tp.substr(0, 2);
  if (!IsLowerHex(version) || version == "ff") return std::nullopt;
  if (version == "00" ? tp.size() != 55 : (tp.size() > 55 && tp[55] != '-')) return std::nullopt;
  std::string_view trace_hex = tp.substr(3, 32), parent_hex = tp.substr(36, 16),
                   flags_hex = tp.substr(53, 2);
  if (!IsLowerHex(trace_hex) || !IsLowerHex(parent_hex) || !IsLowerHex(flags_hex)) {
    return std::nullopt;
  }
  SpanContext ctx;
  uint64_t flags = 0;
  if (!ParseLowerHex64(trace_hex.substr(0, 16), &ctx.trace_id.high) ||
      !ParseLowerHex64(trace_hex.substr(16), &ctx.trace_id.low) ||
      !ParseLowerHex64(parent_hex, &ctx.span_id) || !ParseLowerHex64(flags_hex, &flags)) {
    return std::nullopt;
  }
  // Zero low 64 bits are a valid W3C id but no Datadog one: the span's `trace_id` would be 0,
  // which the Agent drops (and the Datadog headers could not carry it on). Found by fuzzing.
  if (ctx.trace_id.low == 0 || ctx.span_id == 0) return std::nullopt;
  const bool sampled = (flags & 1) != 0;

  std::optional<int> dd_priority;
  if (auto state = headers(kTracestateHeader)) {
    std::string_view ts = TrimOws(*state);
    std::vector<std::string_view> members;
    for (std::string_view m : Split(ts, ',')) {
      m = TrimOws(m);
      if (!m.empty()) members.push_back(m);
    }
    if (ts.size() <= kMaxTracestateBytes && members.size() <= kMaxTracestateMembers &&
        Printable(ts)) {
      std::string foreign;
      for (std::string_view m : members) {
        const size_t eq = m.find('=');
        if (eq == std::string_view::npos || eq == 0) continue;  // not a member: dropped
        if (m.substr(0, eq) == "dd") {
          ParseDdMember(m.substr(eq + 1), &ctx, &dd_priority);
        } else {
          if (!foreign.empty()) foreign.push_back(',');
          foreign.append(m);
        }
      }
      ctx.foreign_tracestate = std::move(foreign);
    }
  }
  // p: names the last Datadog span; worth keeping only when a W3C-only hop came after it.
  if (ctx.datadog_parent_hex == Hex16(ctx.span_id)) ctx.datadog_parent_hex.clear();
  // The sampled flag wins over a contradicting dd priority (W3C-only hops may have changed it).
  if (dd_priority && (*dd_priority > 0) == sampled) {
    ctx.sampling_priority = *dd_priority;
  } else {
    ctx.sampling_priority = sampled ? kAutoKeep : kAutoReject;
  }
  return ctx;
}

// tracestate dd values: '=' becomes '~'; ',', ';', '~' and non-printables become '_'.
std::string TracestateValue(std::string_view v) {
  std::string out(v);
  for (char& c : out) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '=') {
      c = '~';
    } else if (u < 0x20 || u > 0x7e || c == ',' || c == ';' || c == '~') {
      c = '_';
    }
  }
  return out;
}

// tracestate keys: lowercase letters, digits, '_', '-', '*', '/', '.'.
std::string TracestateKey(std::string_view k) {
  std::string out(k);
  for (char& c : out) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '*' ||
          c == '/' || c == '.')) {
      c = '_';
    }
  }
  return out;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return absl::EqualsIgnoreCase(AbslView(a), AbslView(b));
}

}  // namespace

std::optional<SpanContext> ExtractStyle(const HeaderReader& headers, PropagationStyle style) {
  return style == PropagationStyle::kDatadog ? ExtractDatadog(headers) : ExtractW3c(headers);
}

std::optional<SpanContext> Extract(const HeaderReader& headers) {
  std::optional<SpanContext> dd = ExtractDatadog(headers);
  std::optional<SpanContext> w3c = ExtractW3c(headers);
  if (!dd) return w3c;
  if (!w3c) return dd;
  const bool same_trace = dd->trace_id.low == w3c->trace_id.low &&
                          (dd->trace_id.high == 0 || dd->trace_id.high == w3c->trace_id.high);
  if (!same_trace) return dd;
  dd->trace_id.high = w3c->trace_id.high;
  if (w3c->span_id != dd->span_id) {
    dd->datadog_parent_hex =
        w3c->datadog_parent_hex.empty() ? Hex16(dd->span_id) : w3c->datadog_parent_hex;
    dd->span_id = w3c->span_id;
  }
  dd->foreign_tracestate = std::move(w3c->foreign_tracestate);
  return dd;
}

void InjectStyle(const SpanContext& ctx, const HeaderWriter& headers, PropagationStyle style) {
  if (!ctx.valid()) return;
  if (style == PropagationStyle::kDatadog) {
    headers(kDatadogTraceIdHeader, std::to_string(ctx.trace_id.low));
    headers(kDatadogParentIdHeader, std::to_string(ctx.span_id));
    if (ctx.sampling_priority) {
      headers(kDatadogSamplingPriorityHeader, std::to_string(*ctx.sampling_priority));
    }
    if (!ctx.origin.empty()) headers(kDatadogOriginHeader, ctx.origin);
    std::string tags;
    if (ctx.trace_id.high != 0) {
      absl::StrAppend(&tags, AbslView(tags::kTraceIdHigh), "=", ctx.trace_id.HighHex());
    }
    for (const auto& [k, v] : ctx.trace_tags) {
      if (!tags.empty()) tags.push_back(',');
      absl::StrAppend(&tags, k, "=", v);
    }
    // Too long for receivers: dropped whole, as Datadog's tracers do.
    if (!tags.empty() && tags.size() <= kMaxDatadogTagsBytes) headers(kDatadogTagsHeader, tags);
    return;
  }
  const bool sampled = ctx.sampling_priority.value_or(kAutoKeep) > 0;
  headers(kTraceparentHeader, absl::StrCat("00-", ctx.trace_id.Hex(), "-", Hex16(ctx.span_id),
                                           sampled ? "-01" : "-00"));
  std::string dd = "dd=";
  if (ctx.sampling_priority) absl::StrAppend(&dd, "s:", *ctx.sampling_priority, ";");
  absl::StrAppend(&dd, "p:", Hex16(ctx.span_id));
  if (!ctx.origin.empty()) absl::StrAppend(&dd, ";o:", TracestateValue(ctx.origin));
  if (ctx.trace_id.high != 0) absl::StrAppend(&dd, ";t.tid:", ctx.trace_id.HighHex());
  for (const auto& [k, v] : ctx.trace_tags) {
    if (std::string_view(k).substr(0, kPropagatedPrefix.size()) != kPropagatedPrefix) continue;
    absl::StrAppend(&dd, ";t.", TracestateKey(std::string_view(k).substr(kPropagatedPrefix.size())),
                    ":", TracestateValue(v));
  }
  std::string state = std::move(dd);
  size_t members = 1;
  for (std::string_view m : Split(ctx.foreign_tracestate, ',')) {
    m = TrimOws(m);
    if (m.empty() || m.substr(0, 3) == "dd=") continue;
    if (++members > kMaxTracestateMembers) break;
    absl::StrAppend(&state, ",", AbslView(m));
  }
  headers(kTracestateHeader, state);
}

void Inject(const SpanContext& context, const HeaderWriter& headers) {
  InjectStyle(context, headers, PropagationStyle::kDatadog);
  InjectStyle(context, headers, PropagationStyle::kW3c);
}

HeaderReader ReadFrom(const HeaderList& headers) {
  return [&headers](std::string_view name) -> std::optional<std::string_view> {
    for (auto it = headers.rbegin(); it != headers.rend(); ++it) {
      if (EqualsIgnoreCase(it->first, name)) return std::string_view(it->second);
    }
    return std::nullopt;
  };
}

HeaderWriter WriteTo(HeaderList* headers) {
  return [headers](std::string_view name, std::string_view value) {
    std::erase_if(*headers, [name](const auto& h) { return EqualsIgnoreCase(h.first, name); });
    headers->emplace_back(std::string(name), std::string(value));
  };
}

HeaderReader ReadFrom(const std::map<std::string, std::string>& headers) {
  return [&headers](std::string_view name) -> std::optional<std::string_view> {
    auto exact = headers.find(std::string(name));
    if (exact != headers.end()) return std::string_view(exact->second);
    for (const auto& [k, v] : headers) {
      if (EqualsIgnoreCase(k, name)) return std::string_view(v);
    }
    return std::nullopt;
  };
}

HeaderWriter WriteTo(std::map<std::string, std::string>* headers) {
  return [headers](std::string_view name, std::string_view value) {
    std::erase_if(*headers, [name](const auto& h) { return EqualsIgnoreCase(h.first, name); });
    (*headers)[std::string(name)] = std::string(value);
  };
}

}  // namespace apmcov::tracing
