#include "apmcov/datadog/parse.h"

#include <curl/curl.h>
#include <simdjson.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cctype>
#include <charconv>
#include <cstring>
#include <new>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "apmcov/base/status.h"
#include "apmcov/base/time.h"
#include "google/protobuf/util/time_util.h"

namespace apmcov::datadog {
namespace {

using google::protobuf::util::TimeUtil;
using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::object;

absl::Status Malformed(std::string_view what, std::string_view detail) {
  return absl::InvalidArgumentError(
      absl::StrCat("malformed Datadog ", AbslView(what), ": ", AbslView(detail)));
}

// Parses a whole body into a DOM element. The parser must outlive the element.
absl::StatusOr<element> ParseDom(simdjson::dom::parser& parser, std::string_view body,
                                 std::string_view what) {
  element root;
  if (auto err = parser.parse(body.data(), body.size()).get(root)) {
    return Malformed(what, absl::StrCat("not JSON (", simdjson::error_message(err), ")"));
  }
  return root;
}

std::string_view Str(element e, std::string_view key) {
  std::string_view out;
  if (e[key].get_string().get(out)) return {};
  return out;
}

std::string Lower(std::string_view s) { return absl::AsciiStrToLower(AbslView(s)); }

std::vector<std::string> StringArray(element e, std::string_view key) {
  std::vector<std::string> out;
  array arr;
  if (e[key].get_array().get(arr)) return out;
  for (element item : arr) {
    std::string_view s;
    if (!item.get_string().get(s)) out.emplace_back(s);
  }
  return out;
}

// Applies the tag conventions of design §5 to a normalised service.
void ApplyTags(const std::vector<std::string>& tags, v1::CatalogService* svc) {
  for (const std::string& tag : tags) {
    svc->add_tags(tag);
    size_t colon = tag.find(':');
    if (colon == std::string::npos) continue;
    std::string key = Lower(std::string_view(tag).substr(0, colon));
    std::string_view value = std::string_view(tag).substr(colon + 1);
    if (key == "env") {
      if (!value.empty() &&
          std::find(svc->envs().begin(), svc->envs().end(), value) == svc->envs().end()) {
        svc->add_envs(std::string(value));
      }
    } else if (key == "infra" || key == "infrastructure" || key == "platform") {
      if (svc->infra().empty()) svc->set_infra(Lower(value));
    } else if (key == "customer-facing" || key == "customer_facing") {
      if (IsTruthy(value)) svc->set_customer_facing(true);
    }
  }
}

void ApplyExtensions(element schema, v1::CatalogService* svc) {
  object ext;
  if (schema["extensions"].get_object().get(ext)) return;
  for (auto [key, value] : ext) {
    std::string k = Lower(key);
    if (!absl::EndsWith(k, "customer-facing") && !absl::EndsWith(k, "customer_facing")) continue;
    bool b = false;
    std::string_view s;
    if (!value.get_bool().get(b)) {
      if (b) svc->set_customer_facing(true);
    } else if (!value.get_string().get(s)) {
      if (IsTruthy(s)) svc->set_customer_facing(true);
    }
  }
}

// Joins the elements of every named array into one JSON array (minified).
// Drops every \u0000 escape from JSON text (an escaped backslash before "u0000" is kept):
// PostgreSQL jsonb cannot hold NUL, and a link is not worth losing the service for.
std::string WithoutNulEscapes(const std::string& json) {
  std::string out;
  out.reserve(json.size());
  for (size_t i = 0; i < json.size(); ++i) {
    if (json[i] != '\\' || i + 1 >= json.size()) {
      out.push_back(json[i]);
      continue;
    }
    if (json.compare(i + 1, 5, "u0000") == 0) {
      i += 5;
      continue;
    }
    out.push_back(json[i]);
    out.push_back(json[++i]);  // the escaped character, never read as an escape itself
  }
  return out;
}

std::string LinksJson(element schema, std::initializer_list<std::string_view> keys) {
  std::vector<std::string> parts;
  for (std::string_view key : keys) {
    array arr;
    if (schema[key].get_array().get(arr)) continue;
    for (element item : arr) parts.push_back(simdjson::minify(item));
  }
  if (parts.empty()) return "";
  return WithoutNulEscapes(absl::StrCat("[", absl::StrJoin(parts, ","), "]"));
}

absl::StatusOr<v1::CatalogService> NormaliseSchema(element schema) {
  if (!schema.is_object()) return Malformed("service definition", "schema is not an object");
  v1::CatalogService svc;
  std::string version(Str(schema, "schema-version"));
  if (version.empty()) version = "v2";
  svc.set_schema_version(version);
  if (version == "v1") {
    element info, org;
    if (!schema["info"].get(info)) {
      svc.set_name(std::string(Str(info, "dd-service")));
      svc.set_description(std::string(Str(info, "description")));
      svc.set_tier(std::string(Str(info, "service-tier")));
    }
    if (!schema["org"].get(org)) {
      svc.set_team(std::string(Str(org, "team")));
      svc.set_application(std::string(Str(org, "application")));
    }
    svc.set_links_json(LinksJson(schema, {"external-resources"}));
  } else {
    svc.set_name(std::string(Str(schema, "dd-service")));
    std::string team(Str(schema, "team"));
    if (team.empty()) team = std::string(Str(schema, "dd-team"));
    svc.set_team(team);
    svc.set_application(std::string(Str(schema, "application")));
    svc.set_description(std::string(Str(schema, "description")));
    svc.set_lifecycle(std::string(Str(schema, "lifecycle")));
    svc.set_type(std::string(Str(schema, "type")));
    // tier is a free string, but some writers use a number.
    element tier;
    if (!schema["tier"].get(tier)) {
      std::string_view s;
      int64_t i;
      if (!tier.get_string().get(s)) {
        svc.set_tier(std::string(s));
      } else if (!tier.get_int64().get(i)) {
        svc.set_tier(std::to_string(i));
      }
    }
    for (std::string& lang : StringArray(schema, "languages")) svc.add_languages(Lower(lang));
    svc.set_links_json(LinksJson(schema, {"links", "repos", "docs"}));
  }
  if (svc.name().empty()) {
    return Malformed("service definition", "no dd-service (service name)");
  }
  ApplyTags(StringArray(schema, "tags"), &svc);
  ApplyExtensions(schema, &svc);
  return svc;
}

uint64_t ParseHex64(std::string_view s, bool* ok) {
  uint64_t v = 0;
  const char* end = s.data() + s.size();
  auto r = std::from_chars(s.data(), end, v, 16);
  *ok = !s.empty() && s.size() <= 16 && r.ec == std::errc() && r.ptr == end;
  return *ok ? v : 0;
}

// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

// Fast path for "YYYY-MM-DDTHH:MM:SS[.fff…]Z"; anything else goes to ParseRfc3339.
// Hand-written on purpose: it runs for every span of every page (measured by
// bench/parse/span_page_bench), so the one form Datadog sends is read digit by digit without
// allocating; the general parser takes every other form.
absl::StatusOr<int64_t> ParseTimestamp(std::string_view s) {
  auto digits = [&](size_t pos, size_t n, int* out) {
    int v = 0;
    for (size_t i = pos; i < pos + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
  };
  int y, mo, d, h, mi, se;
  if (s.size() >= 20 && s.back() == 'Z' && s[4] == '-' && s[7] == '-' &&
      (s[10] == 'T' || s[10] == 't') && s[13] == ':' && s[16] == ':' && digits(0, 4, &y) &&
      digits(5, 2, &mo) && digits(8, 2, &d) && digits(11, 2, &h) && digits(14, 2, &mi) &&
      digits(17, 2, &se) && mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h < 24 && mi < 60 &&
      se < 61) {
    int64_t frac = 0;
    size_t i = 19;
    if (s[i] == '.') {
      ++i;
      int64_t scale = 100'000'000;
      size_t start = i;
      while (i < s.size() - 1 && s[i] >= '0' && s[i] <= '9') {
        frac += (s[i] - '0') * scale;
        scale /= 10;
        ++i;
      }
      if (i == start) i = 0;  // "." with no digits: not the fast format
    }
    if (i == s.size() - 1) {
      int64_t days = DaysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
      return ((days * 86400 + int64_t{h} * 3600 + int64_t{mi} * 60 + se) * 1'000'000'000) + frac;
    }
  }
  return ParseRfc3339(s);
}

// ---- span page (simdjson on-demand) ----

namespace od = simdjson::ondemand;

// Attributes a span may carry in `custom` (nested on dots) that we keep.
enum Slot : int {
  kPeerService,
  kPeerHostname,
  kOutHost,
  kNetPeerName,
  kServerAddress,
  kNetworkDestinationName,
  kHttpUrl,
  kRpcService,
  kMessagingDestinationName,
  kTargetSlots,  // the slots above are the target order of design §6
  kSpanKind = kTargetSlots,
  kLanguage,
  kDbSystem,
  kMessagingSystem,
  kTid,
  kOperationName,
  kEnv,
  kSlotCount
};

struct SlotName {
  std::string_view path;
  Slot slot;
};

constexpr SlotName kSlotNames[] = {
    {"peer.service", kPeerService},
    {"peer.hostname", kPeerHostname},
    {"out.host", kOutHost},
    {"net.peer.name", kNetPeerName},
    {"server.address", kServerAddress},
    {"network.destination.name", kNetworkDestinationName},
    {"http.url", kHttpUrl},
    {"rpc.service", kRpcService},
    {"messaging.destination.name", kMessagingDestinationName},
    {"span.kind", kSpanKind},
    {"language", kLanguage},
    {"db.system", kDbSystem},
    {"messaging.system", kMessagingSystem},
    {"_dd.p.tid", kTid},
    {"operation_name", kOperationName},
    {"env", kEnv},
};

struct CustomFields {
  std::string_view slots[kSlotCount];
  int64_t duration = -1;
  bool error = false;
};

// A field's key without copying it: the raw text when it has no escapes (always, for the keys
// we look for), else the unescaped copy.
simdjson::error_code KeyOf(od::field& field, std::string_view* out) {
  const char* p = field.key().raw();
  size_t n = 0;
  while (p[n] != '"' && p[n] != '\\') ++n;  // stage 1 guarantees a closing quote
  if (p[n] == '"') {
    *out = std::string_view(p, n);
    return simdjson::SUCCESS;
  }
  return field.unescaped_key().get(*out);
}

enum class Attr {
  kOther,
  kService,
  kEnv,
  kHost,
  kType,
  kResource,
  kRetainedBy,
  kStart,
  kEnd,
  kStatus,
  kTraceId,
  kSpanId,
  kParentId,
  kCustom,
  kTags
};

Attr AttrOf(std::string_view k) {
  switch (k.size()) {
    case 3:
      return k == "env" ? Attr::kEnv : Attr::kOther;
    case 4:
      if (k == "host") return Attr::kHost;
      if (k == "type") return Attr::kType;
      if (k == "tags") return Attr::kTags;
      return Attr::kOther;
    case 6:
      if (k == "custom") return Attr::kCustom;
      if (k == "status") return Attr::kStatus;
      return Attr::kOther;
    case 7:
      if (k == "service") return Attr::kService;
      if (k == "span_id") return Attr::kSpanId;
      return Attr::kOther;
    case 8:
      return k == "trace_id" ? Attr::kTraceId : Attr::kOther;
    case 9:
      return k == "parent_id" ? Attr::kParentId : Attr::kOther;
    case 10:
      return k == "attributes" ? Attr::kCustom : Attr::kOther;
    case 11:
      return k == "retained_by" ? Attr::kRetainedBy : Attr::kOther;
    case 13:
      if (k == "resource_name") return Attr::kResource;
      if (k == "end_timestamp") return Attr::kEnd;
      return Attr::kOther;
    case 15:
      return k == "start_timestamp" ? Attr::kStart : Attr::kOther;
    default:
      return Attr::kOther;
  }
}

// Decimal uint64 without allocation; false for anything ParseDecimalId would reject.
bool FastDecimal(std::string_view s, uint64_t* out) {
  const char* end = s.data() + s.size();
  auto r = std::from_chars(s.data(), end, *out);
  return !s.empty() && r.ec == std::errc() && r.ptr == end;
}

class SpanPageParser {
 public:
  // `parser` is reused across pages so its buffers are allocated once per thread.
  SpanPageParser(od::parser& parser, SpanPage* page) : parser_(parser), page_(page) {}

  absl::Status Parse(simdjson::padded_string_view json) {
    od::document doc;
    if (auto err = parser_.iterate(json).get(doc)) return Fail("", err);
    od::object root;
    if (auto err = doc.get_object().get(root)) return Fail("top level", err);
    bool saw_data = false;
    for (auto field : root) {
      std::string_view key;
      if (auto err = field.unescaped_key().get(key)) return Fail("top level", err);
      if (key == "data") {
        saw_data = true;
        od::array data;
        if (auto err = field.value().get_array().get(data)) return Fail("data", err);
        page_->spans.Reserve(page_->spans.size() + 1000);  // the API's maximum page
        for (auto item : data) {
          od::object obj;
          if (auto err = item.get_object().get(obj)) return Fail(SpanWhere(), err);
          APMCOV_RETURN_IF_ERROR(ParseSpan(obj));
          if (!bad_.empty()) {
            // One bad span costs only itself (design §7): the rest of the page is kept.
            page_->spans.RemoveLast();
            page_->skipped.push_back({bad_trace_, bad_span_, std::move(bad_)});
            bad_.clear();
          }
          ++index_;
        }
      } else if (key == "meta") {
        od::object meta;
        if (field.value().get_object().get(meta)) continue;  // tolerate a meta of another shape
        for (auto mf : meta) {
          std::string_view mk;
          if (mf.unescaped_key().get(mk)) continue;
          if (mk == "status") {
            std::string_view status;
            if (!mf.value().get_string().get(status)) page_->partial = status == "timeout";
            continue;
          }
          if (mk != "page") continue;
          od::object pg;
          if (mf.value().get_object().get(pg)) continue;
          for (auto pf : pg) {
            std::string_view pk;
            if (pf.unescaped_key().get(pk) || pk != "after") continue;
            std::string_view after;
            if (!pf.value().get_string().get(after)) page_->next_cursor = std::string(after);
          }
        }
      } else if (key == "errors") {
        return Malformed("span page", "the body is an error response, not a page of spans");
      }
    }
    if (!saw_data) return Malformed("span page", "no \"data\" array");
    return absl::OkStatus();
  }

 private:
  std::string SpanWhere() const { return absl::StrCat("data[", index_, "]"); }

  absl::Status Fail(std::string_view where, simdjson::error_code err) const {
    return Malformed("span page",
                     absl::StrCat(where.empty() ? "" : "at ", AbslView(where),
                                  where.empty() ? "" : ": ", simdjson::error_message(err)));
  }

  // A string field; null counts as absent. Anything else is malformed.
  absl::Status GetString(od::value v, std::string_view name, std::string_view* out) {
    od::json_type t;
    if (auto err = v.type().get(t))
      return Fail(absl::StrCat(SpanWhere(), ".", AbslView(name)), err);
    if (t == od::json_type::null) return absl::OkStatus();
    if (t != od::json_type::string) {
      Bad(absl::StrCat(".attributes.", AbslView(name), " is not a string"));
      return absl::OkStatus();
    }
    if (auto err = v.get_string().get(*out)) return Fail(SpanWhere(), err);
    return absl::OkStatus();
  }

  // Notes why the current span cannot be used (the first reason wins); parsing goes on so
  // that its ids can be named, and the span is dropped once read.
  void Bad(const std::string& reason) {
    if (bad_.empty()) bad_ = absl::StrCat(SpanWhere(), reason);
  }

  absl::Status GetId(od::value v, std::string_view name, uint64_t* out, bool* present) {
    od::json_type t;
    if (auto err = v.type().get(t)) return Fail(SpanWhere(), err);
    if (t == od::json_type::null) return absl::OkStatus();
    if (t == od::json_type::number) {
      if (v.get_uint64().get(*out)) {
        Bad(absl::StrCat(".attributes.", AbslView(name), " is not an unsigned 64-bit integer"));
        return absl::OkStatus();
      }
      *present = true;
      return absl::OkStatus();
    }
    std::string_view s;
    if (t != od::json_type::string || v.get_string().get(s)) {
      Bad(absl::StrCat(".attributes.", AbslView(name), " is not a decimal string"));
      return absl::OkStatus();
    }
    if (!FastDecimal(s, out)) {
      absl::StatusOr<uint64_t> id = ParseDecimalId(s, absl::StrCat(".", AbslView(name)));
      Bad(std::string(id.status().message()));
      return absl::OkStatus();
    }
    *present = true;
    return absl::OkStatus();
  }

  static constexpr uint32_t kAllSlots = (1u << std::size(kSlotNames)) - 1;

  // Bit i of entry b: kSlotNames[i].path starts with byte b.
  static const std::array<uint32_t, 256>& FirstByteMasks() {
    static const std::array<uint32_t, 256> masks = [] {
      std::array<uint32_t, 256> m{};
      for (size_t i = 0; i < std::size(kSlotNames); ++i) {
        m[static_cast<uint8_t>(kSlotNames[i].path[0])] |= 1u << i;
      }
      return m;
    }();
    return masks;
  }

  // Walks `custom` along the wanted paths only: `mask` holds the kSlotNames entries that go on
  // below this object, `offset` how much of their path is already matched. Keys are matched in
  // place (no path string is built), and values of unwanted keys are never touched, so the
  // iterator skips them. Works for nested objects and flat dotted keys alike.
  absl::Status WalkCustom(od::object obj, uint32_t mask, size_t offset, int depth) {
    if (depth > 16) return absl::OkStatus();
    for (auto result : obj) {
      od::field field;
      if (auto err = std::move(result).get(field)) return Fail(SpanWhere(), err);
      std::string_view key;
      if (auto err = KeyOf(field, &key)) return Fail(SpanWhere(), err);
      if (depth == 0 && (key == "duration" || key == "error")) {
        APMCOV_RETURN_IF_ERROR(TopLevelNumberOrError(field.value(), key == "duration"));
        continue;
      }
      uint32_t child = 0;
      int leaf = -1;
      // At the top (offset 0) most keys start with a byte no wanted path starts with.
      const uint32_t candidates = offset == 0 && !key.empty()
                                      ? mask & FirstByteMasks()[static_cast<uint8_t>(key[0])]
                                      : mask;
      for (uint32_t m = candidates; m != 0; m &= m - 1) {
        const SlotName& sn = kSlotNames[std::countr_zero(m)];
        std::string_view rest = sn.path.substr(offset);
        // The first byte rules out most slots without a memcmp call.
        if (rest.size() < key.size() || key.empty() || rest[0] != key[0] ||
            rest.compare(0, key.size(), key) != 0) {
          continue;
        }
        if (rest.size() == key.size()) {
          leaf = sn.slot;
        } else if (rest[key.size()] == '.') {
          child |= m & (~m + 1);
        }
      }
      if (leaf < 0 && child == 0) continue;
      od::value& v = field.value();
      od::json_type t;
      if (auto err = v.type().get(t)) return Fail(SpanWhere(), err);
      if (t == od::json_type::string && leaf >= 0) {
        std::string_view s;
        // Points into the parser's string buffer, valid until the next document.
        if (auto err = v.get_string().get(s)) return Fail(SpanWhere(), err);
        if (custom_.slots[leaf].empty()) custom_.slots[leaf] = s;
      } else if (t == od::json_type::object && child != 0) {
        od::object sub;
        if (auto err = v.get_object().get(sub)) return Fail(SpanWhere(), err);
        APMCOV_RETURN_IF_ERROR(WalkCustom(sub, child, offset + key.size() + 1, depth + 1));
      }
    }
    return absl::OkStatus();
  }

  // custom.duration (ns) or custom.error (a non-zero number, or an object holding any
  // non-empty string such as error.message).
  absl::Status TopLevelNumberOrError(od::value& v, bool duration) {
    od::json_type t;
    if (auto err = v.type().get(t)) return Fail(SpanWhere(), err);
    if (t == od::json_type::number) {
      int64_t i;
      double d;
      if (duration) {
        if (!v.get_int64().get(i)) {
          custom_.duration = i;
        } else if (!v.get_double().get(d)) {
          custom_.duration = static_cast<int64_t>(d);
        }
      } else if (!v.get_int64().get(i) && i != 0) {
        custom_.error = true;
      }
    } else if (t == od::json_type::object && !duration) {
      od::object obj;
      if (auto err = v.get_object().get(obj)) return Fail(SpanWhere(), err);
      APMCOV_RETURN_IF_ERROR(AnyNonEmptyString(obj, 0));
    }
    return absl::OkStatus();
  }

  absl::Status AnyNonEmptyString(od::object obj, int depth) {
    if (depth > 16) return absl::OkStatus();
    for (auto result : obj) {
      od::field field;
      if (auto err = std::move(result).get(field)) return Fail(SpanWhere(), err);
      od::value& v = field.value();
      od::json_type t;
      if (auto err = v.type().get(t)) return Fail(SpanWhere(), err);
      if (t == od::json_type::string) {
        std::string_view s;
        if (auto err = v.get_string().get(s)) return Fail(SpanWhere(), err);
        if (!s.empty()) custom_.error = true;
      } else if (t == od::json_type::object) {
        od::object sub;
        if (auto err = v.get_object().get(sub)) return Fail(SpanWhere(), err);
        APMCOV_RETURN_IF_ERROR(AnyNonEmptyString(sub, depth + 1));
      }
    }
    return absl::OkStatus();
  }

  absl::Status ParseSpan(od::object item) {
    custom_ = CustomFields{};
    v1::Span* span = page_->spans.Add();
    std::string_view service, env, host, type, resource, retained_by, start, end, status;
    bool has_trace = false, has_span = false, has_parent = false;
    bool saw_attributes = false;
    bool kube = false, ecs = false, serverless = false;
    uint64_t trace_id = 0, span_id = 0, parent_id = 0;
    std::string_view tid_tag;
    for (auto result : item) {
      od::field field;
      if (auto err = std::move(result).get(field)) return Fail(SpanWhere(), err);
      std::string_view key;
      if (auto err = KeyOf(field, &key)) return Fail(SpanWhere(), err);
      if (key != "attributes") continue;
      saw_attributes = true;
      od::object attrs;
      if (auto err = field.value().get_object().get(attrs)) {
        return Fail(absl::StrCat(SpanWhere(), ".attributes"), err);
      }
      for (auto aresult : attrs) {
        od::field af;
        if (auto err = std::move(aresult).get(af)) return Fail(SpanWhere(), err);
        std::string_view ak;
        if (auto err = KeyOf(af, &ak)) return Fail(SpanWhere(), err);
        od::value& v = af.value();
        const Attr attr = AttrOf(ak);
        if (attr == Attr::kOther) continue;
        if (attr == Attr::kService) {
          APMCOV_RETURN_IF_ERROR(GetString(v, ak, &service));
        } else if (attr == Attr::kEnv) {
          APMCOV_RETURN_IF_ERROR(GetString(v, ak, &env));
        } else if (attr == Attr::kHost) {
          APMCOV_RETURN_IF_ERROR(GetString(v, ak, &host));
        } else if (attr == Attr::kType) {
          APMCOV_RETURN_IF_ERROR(GetString(v, ak, &type));
        } else if (attr == Attr::kResource) {
          APMCOV_RETURN_IF_ERROR(GetString(v, ak, &resource));
        } else if (attr == Attr::kRetainedBy) {
          APMCOV_RETURN_IF_ERROR(GetString(v, ak, &retained_by));
        } else if (attr == Attr::kStart) {
          APMCOV_RETURN_IF_ERROR(GetString(v, ak, &start));
        } else if (attr == Attr::kEnd) {
          APMCOV_RETURN_IF_ERROR(GetString(v, ak, &end));
        } else if (attr == Attr::kStatus) {
          APMCOV_RETURN_IF_ERROR(GetString(v, ak, &status));
        } else if (attr == Attr::kTraceId) {
          APMCOV_RETURN_IF_ERROR(GetId(v, ak, &trace_id, &has_trace));
        } else if (attr == Attr::kSpanId) {
          APMCOV_RETURN_IF_ERROR(GetId(v, ak, &span_id, &has_span));
        } else if (attr == Attr::kParentId) {
          APMCOV_RETURN_IF_ERROR(GetId(v, ak, &parent_id, &has_parent));
        } else if (attr == Attr::kCustom) {
          od::object custom;
          if (v.get_object().get(custom)) continue;  // null or another shape: nothing to take
          APMCOV_RETURN_IF_ERROR(WalkCustom(custom, kAllSlots, 0, 0));
        } else if (attr == Attr::kTags) {
          od::array tags;
          if (v.get_array().get(tags)) continue;
          for (auto t : tags) {
            // Prefix checks on the raw (still escaped) text: no copy per tag. The document is
            // padded, so reading a prefix's length past a short tag stays in bounds, and the
            // closing quote never matches a prefix character.
            od::raw_json_string raw;
            if (t.get_raw_json_string().get(raw)) continue;
            const char* p = raw.raw();
            auto has = [p](std::string_view prefix) {
              return std::memcmp(p, prefix.data(), prefix.size()) == 0;
            };
            switch (p[0]) {  // one compare for the many tags that match no prefix
              case 'k':
                kube = kube || has("kube_");
                break;
              case 'e':
                ecs = ecs || has("ecs_");
                break;
              case 't':
                ecs = ecs || has("task_arn");
                break;
              case 'f':
                serverless = serverless || has("function_arn");
                break;
              case 'a':
                serverless = serverless || has("aws_lambda");
                break;
              case '_':
                if (has("_dd.p.tid:")) {
                  const char* v = p + 10;
                  size_t n = 0;
                  while (v[n] != '"' && n < 32) ++n;
                  tid_tag = std::string_view(v, n);
                }
                break;
              default:
                break;
            }
          }
        }
      }
    }
    bad_trace_ = trace_id;
    bad_span_ = span_id;
    if (!saw_attributes) {
      Bad(" has no attributes");
    } else if (!has_trace || !has_span) {
      Bad(absl::StrCat(" has no ", has_trace ? "span_id" : "trace_id"));
    }
    if (!bad_.empty()) return absl::OkStatus();
    (void)has_parent;  // absent parent_id: treated as a root, as the API writes "0"
    span->set_trace_id(trace_id);
    span->set_span_id(span_id);
    span->set_parent_id(parent_id);
    span->set_service(std::string(service));
    if (env.empty()) env = custom_.slots[kEnv];
    span->set_env(std::string(env));
    span->set_host(std::string(host));
    span->set_type(std::string(type));
    span->set_resource(std::string(resource));
    span->set_retained_by(std::string(retained_by));
    span->set_operation(std::string(custom_.slots[kOperationName]));
    span->set_kind(std::string(custom_.slots[kSpanKind]));
    span->set_language(std::string(custom_.slots[kLanguage]));
    span->set_db_system(std::string(custom_.slots[kDbSystem]));
    span->set_messaging_system(std::string(custom_.slots[kMessagingSystem]));
    for (int s = 0; s < kTargetSlots; ++s) {
      std::string_view t = custom_.slots[s];
      if (t.empty()) continue;
      span->set_target(std::string(s == kHttpUrl ? UrlHost(t) : t));
      break;
    }
    std::string_view tid = custom_.slots[kTid].empty() ? tid_tag : custom_.slots[kTid];
    if (!tid.empty()) {
      bool ok;
      uint64_t high = ParseHex64(tid, &ok);
      if (!ok) {
        Bad(absl::StrCat(" _dd.p.tid \"", AbslView(tid.substr(0, 40)), "\" is not 16 hex digits"));
        return absl::OkStatus();
      }
      span->set_trace_id_high(high);
    }
    span->set_infra_hint(kube ? "kubernetes" : ecs ? "ecs" : serverless ? "serverless" : "");
    span->set_error(custom_.error || status == "error");
    int64_t start_ns = 0;
    if (!start.empty()) {
      absl::StatusOr<int64_t> t = ParseTimestamp(start);
      if (!t.ok()) {
        Bad(absl::StrCat(".attributes.start_timestamp: ", t.status().message()));
        return absl::OkStatus();
      }
      start_ns = *t;
    }
    span->set_start_unix_nano(start_ns);
    int64_t duration = custom_.duration;
    if (duration < 0 && !end.empty() && start_ns != 0) {
      absl::StatusOr<int64_t> e = ParseTimestamp(end);
      if (e.ok() && *e >= start_ns) duration = *e - start_ns;
    }
    span->set_duration_ns(duration < 0 ? 0 : duration);
    return absl::OkStatus();
  }

  od::parser& parser_;
  SpanPage* page_;
  CustomFields custom_;
  size_t index_ = 0;
  std::string bad_;  // why the span being parsed is unusable; empty when it is fine
  uint64_t bad_trace_ = 0, bad_span_ = 0;
};

}  // namespace

bool IsTruthy(std::string_view value) {
  std::string v = Lower(value);
  return v == "true" || v == "yes" || v == "1";
}

// Hand-written rather than curl_url: it runs once per span with an http.url target on the
// span-page hot path (bench/parse/span_page_bench) and returns a view, allocating nothing.
std::string_view UrlHost(std::string_view url) {
  size_t scheme = url.find("://");
  if (scheme != std::string_view::npos) url.remove_prefix(scheme + 3);
  size_t end = url.find_first_of("/?#");
  if (end != std::string_view::npos) url = url.substr(0, end);
  size_t at = url.rfind('@');
  if (at != std::string_view::npos) url.remove_prefix(at + 1);
  if (!url.empty() && url.front() == '[') {  // [ipv6]:port
    size_t close = url.find(']');
    return close == std::string_view::npos ? url : url.substr(1, close - 1);
  }
  size_t colon = url.find(':');
  if (colon != std::string_view::npos) url = url.substr(0, colon);
  return url;
}

absl::StatusOr<uint64_t> ParseDecimalId(std::string_view text, std::string_view field) {
  if (text.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(AbslView(field), " is empty"));
  }
  if (text.size() > 20) {
    return absl::InvalidArgumentError(
        absl::StrCat(AbslView(field), " \"", AbslView(text), "\" has more than 20 digits"));
  }
  uint64_t v = 0;
  const char* end = text.data() + text.size();
  auto r = std::from_chars(text.data(), end, v);
  if (r.ec == std::errc::result_out_of_range) {
    return absl::InvalidArgumentError(
        absl::StrCat(AbslView(field), " \"", AbslView(text), "\" does not fit in 64 bits"));
  }
  if (r.ec != std::errc() || r.ptr != end) {
    return absl::InvalidArgumentError(
        absl::StrCat(AbslView(field), " \"", AbslView(text), "\" is not a decimal number"));
  }
  return v;
}

absl::StatusOr<v1::CatalogService> ParseServiceSchema(std::string_view schema_json) {
  simdjson::dom::parser parser;
  APMCOV_ASSIGN_OR_RETURN(element root, ParseDom(parser, schema_json, "service definition"));
  return NormaliseSchema(root);
}

absl::StatusOr<ServiceDefinitionPage> ParseServiceDefinitions(std::string_view body) {
  simdjson::dom::parser parser;
  APMCOV_ASSIGN_OR_RETURN(element root, ParseDom(parser, body, "service definitions page"));
  array data;
  if (root["data"].get_array().get(data)) {
    return Malformed("service definitions page", "no \"data\" array");
  }
  ServiceDefinitionPage page;
  for (element item : data) {
    size_t index = page.raw_items++;
    element attrs, schema;
    if (item["attributes"].get(attrs) || attrs["schema"].get(schema)) {
      page.skipped.push_back(absl::StrCat("data[", index, "]: no attributes.schema"));
      continue;
    }
    absl::StatusOr<v1::CatalogService> svc = NormaliseSchema(schema);
    if (!svc.ok()) {
      page.skipped.push_back(absl::StrCat("data[", index, "] (id ", AbslView(Str(item, "id")),
                                          "): ", svc.status().message()));
      continue;
    }
    element meta;
    if (!attrs["meta"].get(meta)) {
      std::string_view modified = Str(meta, "last-modified-time");
      if (!modified.empty()) {
        if (absl::StatusOr<int64_t> t = ParseRfc3339(modified); t.ok()) {
          *svc->mutable_last_modified() = TimeUtil::NanosecondsToTimestamp(*t);
        }
      }
    }
    page.services.push_back(*std::move(svc));
  }
  return page;
}

namespace {

// page[offset] of a `links.next` URL (relative or absolute), read with libcurl's URL parser;
// nullopt when it has none.
std::optional<int64_t> OffsetOfNextLink(std::string_view next) {
  CURLU* url = curl_url();
  if (url == nullptr) throw std::bad_alloc();
  // A relative link resolves against any base: only the query matters.
  std::optional<int64_t> offset;
  char* query = nullptr;
  if (curl_url_set(url, CURLUPART_URL, "https://api.invalid/", 0) == CURLUE_OK &&
      curl_url_set(url, CURLUPART_URL, std::string(next).c_str(), 0) == CURLUE_OK &&
      curl_url_get(url, CURLUPART_QUERY, &query, 0) == CURLUE_OK) {
    std::string_view rest(query);
    while (!rest.empty()) {
      const size_t amp = rest.find('&');
      const std::string_view pair = rest.substr(0, amp);
      rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
      const size_t eq = pair.find('=');
      int length = 0;
      char* key = curl_easy_unescape(nullptr, pair.data(),
                                     static_cast<int>(pair.substr(0, eq).size()), &length);
      const bool is_offset = key != nullptr && std::string_view(key, length) == "page[offset]";
      curl_free(key);
      if (!is_offset || eq == std::string_view::npos) continue;
      int64_t v = 0;
      std::string_view value = pair.substr(eq + 1);
      auto r = std::from_chars(value.data(), value.data() + value.size(), v);
      if (r.ec == std::errc() && r.ptr == value.data() + value.size() && v >= 0) offset = v;
    }
    curl_free(query);
  }
  curl_url_cleanup(url);
  return offset;
}

}  // namespace

absl::StatusOr<CatalogEntityPage> ParseCatalogEntities(std::string_view body) {
  simdjson::dom::parser parser;
  APMCOV_ASSIGN_OR_RETURN(element root, ParseDom(parser, body, "catalog entity page"));
  array data;
  if (root["data"].get_array().get(data)) {
    return Malformed("catalog entity page", "no \"data\" array");
  }
  CatalogEntityPage page;
  for (element item : data) {
    ++page.raw_items;
    element attrs;
    if (item["attributes"].get(attrs)) continue;
    if (Str(attrs, "kind") != "service") continue;
    v1::CatalogService svc;
    svc.set_name(std::string(Str(attrs, "name")));
    if (svc.name().empty()) continue;
    std::string version(Str(attrs, "apiVersion"));
    svc.set_schema_version(version.empty() ? "v3" : version);
    svc.set_team(std::string(Str(attrs, "owner")));
    svc.set_description(std::string(Str(attrs, "description")));
    ApplyTags(StringArray(attrs, "tags"), &svc);
    page.services.push_back(std::move(svc));
  }
  std::string_view next;
  if (!root["links"]["next"].get_string().get(next) && !next.empty()) {
    page.next_offset = OffsetOfNextLink(next);
  }
  return page;
}

absl::StatusOr<std::vector<v1::ApmObservation>> ParseApmServices(std::string_view body) {
  simdjson::dom::parser parser;
  APMCOV_ASSIGN_OR_RETURN(element root, ParseDom(parser, body, "APM service list"));
  element attrs;
  if (root["data"]["attributes"].get(attrs)) {
    return Malformed("APM service list", "no data.attributes");
  }
  array services;
  if (attrs["services"].get_array().get(services)) {
    return Malformed("APM service list", "data.attributes.services is not an array");
  }
  array metadata;
  bool has_meta = !attrs["metadata"].get_array().get(metadata);
  std::vector<element> meta;
  if (has_meta) {
    for (element m : metadata) meta.push_back(m);
  }
  std::vector<v1::ApmObservation> out;
  size_t i = 0;
  for (element s : services) {
    std::string_view name;
    if (s.get_string().get(name)) {
      return Malformed("APM service list", absl::StrCat("services[", i, "] is not a string"));
    }
    v1::ApmObservation obs;
    obs.set_service(std::string(name));
    obs.set_env("*");
    obs.set_source("service_list");
    obs.set_traced(true);  // listed without metadata: seen by APM
    if (i < meta.size()) {
      bool traced = true, usm = false;
      if (meta[i]["isTraced"].get_bool().get(traced)) traced = true;
      if (meta[i]["isUsm"].get_bool().get(usm)) usm = false;
      obs.set_traced(traced);
      obs.set_usm(usm);
    }
    out.push_back(std::move(obs));
    ++i;
  }
  return out;
}

absl::StatusOr<std::vector<AggregateBucket>> ParseAggregateBuckets(std::string_view body) {
  simdjson::dom::parser parser;
  APMCOV_ASSIGN_OR_RETURN(element root, ParseDom(parser, body, "spans aggregate"));
  array data;
  if (root["data"].get_array().get(data)) {
    // The spec puts buckets under data.buckets; the recordings put them in data[].
    if (root["data"]["buckets"].get_array().get(data)) {
      return Malformed("spans aggregate", "no \"data\" array of buckets");
    }
  }
  std::vector<AggregateBucket> out;
  size_t i = 0;
  for (element b : data) {
    element attrs;
    if (b["attributes"].get(attrs)) attrs = b;
    AggregateBucket bucket;
    object by;
    if (!attrs["by"].get_object().get(by)) {
      for (auto [k, v] : by) {
        std::string_view s;
        double d;
        if (!v.get_string().get(s)) {
          bucket.by[std::string(k)] = std::string(s);
        } else if (!v.get_double().get(d)) {
          bucket.by[std::string(k)] = std::to_string(static_cast<int64_t>(d));
        }
      }
    }
    element compute;
    if (attrs["compute"].get(compute) && attrs["computes"].get(compute)) {
      return Malformed("spans aggregate", absl::StrCat("bucket ", i, " has no compute"));
    }
    element c0;
    if (compute["c0"].get(c0)) {
      // `computes` keyed by metric name: take the first value.
      object obj;
      if (compute.get_object().get(obj) || obj.begin() == obj.end()) {
        return Malformed("spans aggregate", absl::StrCat("bucket ", i, " has no c0"));
      }
      c0 = (*obj.begin()).value;
    }
    double value = 0;
    array points;
    if (!c0.get_double().get(value)) {
      bucket.count = value;
    } else if (!c0.get_array().get(points)) {
      for (element p : points) {
        double pv;
        if (p["value"].get_double().get(pv)) continue;  // null: no data in that interval
        bucket.count += pv;
        std::string_view time;
        int64_t ms;
        AggregateBucket::Point point{0, pv};
        if (!p["time"].get_string().get(time)) {
          absl::StatusOr<int64_t> t = ParseRfc3339(time);
          if (!t.ok()) {
            return Malformed("spans aggregate",
                             absl::StrCat("bucket ", i, " point time: ", t.status().message()));
          }
          point.time_unix_nano = *t;
        } else if (!p["time"].get_int64().get(ms)) {
          point.time_unix_nano = ms * 1'000'000;
        }
        bucket.points.push_back(point);
      }
    } else if (!c0.is_null()) {
      return Malformed("spans aggregate", absl::StrCat("bucket ", i, " c0 is not a number"));
    }
    out.push_back(std::move(bucket));
    ++i;
  }
  return out;
}

absl::Status ParseSpanPage(std::string_view body, SpanPage* page) {
  thread_local std::string buffer;
  buffer.reserve(body.size() + simdjson::SIMDJSON_PADDING);
  buffer.assign(body.data(), body.size());
  thread_local od::parser od_parser;
  SpanPageParser parser(od_parser, page);
  return parser.Parse(
      simdjson::padded_string_view(buffer.data(), buffer.size(), buffer.capacity()));
}

absl::StatusOr<SpanPage> ParseSpanPage(std::string_view body) {
  SpanPage page;
  APMCOV_RETURN_IF_ERROR(ParseSpanPage(body, &page));
  return page;
}

std::string DescribeErrorBody(std::string_view body) {
  simdjson::dom::parser parser;
  element root;
  array errors;
  if (parser.parse(body.data(), body.size()).get(root) || root["errors"].get_array().get(errors)) {
    std::string text(body.substr(0, 200));
    for (char& c : text) {
      if (c == '\n' || c == '\r') c = ' ';
    }
    return text;
  }
  std::vector<std::string> parts;
  for (element e : errors) {
    std::string_view s;
    if (!e.get_string().get(s)) {
      parts.emplace_back(s);
      continue;
    }
    std::vector<std::string> bits;
    for (const char* key : {"status", "title", "detail"}) {
      std::string_view v = Str(e, key);
      if (!v.empty()) bits.emplace_back(v);
    }
    std::string_view param;
    if (!e["source"]["parameter"].get_string().get(param) && !param.empty()) {
      bits.push_back(absl::StrCat("parameter ", AbslView(param)));
    }
    if (!bits.empty()) parts.push_back(absl::StrJoin(bits, ": "));
  }
  if (parts.empty()) return "no error detail";
  return absl::StrJoin(parts, "; ");
}

}  // namespace apmcov::datadog
