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
#include "span_page_kernels.h"

namespace apmcov::datadog {
namespace internal {

absl::Status Malformed(std::string_view what, std::string_view detail) {
  return absl::InvalidArgumentError(
      absl::StrCat("malformed Datadog ", AbslView(what), ": ", AbslView(detail)));
}

}  // namespace internal
namespace {

using internal::Malformed;

using google::protobuf::util::TimeUtil;
using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::object;

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

}  // namespace

namespace internal {

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

}  // namespace internal

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

absl::StatusOr<AggregateResult> ParseAggregate(std::string_view body) {
  simdjson::dom::parser parser;
  APMCOV_ASSIGN_OR_RETURN(element root, ParseDom(parser, body, "spans aggregate"));
  array data;
  if (root["data"].get_array().get(data)) {
    // The spec puts buckets under data.buckets; the recordings put them in data[].
    if (root["data"]["buckets"].get_array().get(data)) {
      return Malformed("spans aggregate", "no \"data\" array of buckets");
    }
  }
  AggregateResult result;
  std::string_view status;
  result.partial = !root["meta"]["status"].get_string().get(status) && status == "timeout";
  std::vector<AggregateBucket>& out = result.buckets;
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
  return result;
}

namespace {

struct SpanPageKernel {
  std::string_view name;
  absl::Status (*parse)(std::string_view, size_t, SpanPage*);
  absl::Status (*scan)(std::string*, SpanPage*);
};

// The best kernel compiled in that the running CPU (and OS) supports, as simdjson's own
// runtime detection sees it (it honours SIMDJSON_FORCE_IMPLEMENTATION).
#define APMCOV_SPAN_PAGE_KERNEL(ns) \
  SpanPageKernel { ns::SimdjsonKernel(), ns::ParseSpanPage, ns::ScanSpanPage }
SpanPageKernel ChooseSpanPageKernel() {
  [[maybe_unused]] const std::string active = simdjson::get_active_implementation()->name();
#if APMCOV_SIMDJSON_X86_KERNELS
  if (active == "icelake") return APMCOV_SPAN_PAGE_KERNEL(kernel_icelake);
  if (active == "haswell") return APMCOV_SPAN_PAGE_KERNEL(kernel_haswell);
  if (active == "westmere") return APMCOV_SPAN_PAGE_KERNEL(kernel_westmere);
#endif
  return APMCOV_SPAN_PAGE_KERNEL(kernel_baseline);
}
#undef APMCOV_SPAN_PAGE_KERNEL

const SpanPageKernel& ActiveSpanPageKernel() {
  static const SpanPageKernel kernel = ChooseSpanPageKernel();
  return kernel;
}

}  // namespace

std::string_view SpanPageSimdjsonKernel() { return ActiveSpanPageKernel().name; }

static_assert(kJsonPadding >= simdjson::SIMDJSON_PADDING);

absl::Status ParseSpanPage(std::string_view body, SpanPage* page) {
  return ActiveSpanPageKernel().parse(body, body.size(), page);
}

absl::Status ParseSpanPageInPlace(const std::string& body, SpanPage* page) {
  return ActiveSpanPageKernel().parse(body, body.capacity(), page);
}

absl::Status ScanSpanPage(std::string* body, SpanPage* page) {
  return ActiveSpanPageKernel().scan(body, page);
}

absl::StatusOr<SpanPage> ParseSpanPageInPlace(const std::string& body) {
  SpanPage page;
  APMCOV_RETURN_IF_ERROR(ParseSpanPageInPlace(body, &page));
  return page;
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
