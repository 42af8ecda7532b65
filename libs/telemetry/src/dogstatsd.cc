#include "apmcov/telemetry/dogstatsd.h"

#include <netdb.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "apmcov/base/config.h"
#include "apmcov/base/status.h"

namespace apmcov::telemetry {
namespace {

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.';
}

bool BreaksTag(char c, bool in_key) {
  const auto u = static_cast<unsigned char>(c);
  return u < 0x20 || u == 0x7f || c == '|' || c == ',' || c == '#' || (in_key && c == ':');
}

void AppendSanitized(std::string* out, std::string_view text, bool in_key) {
  for (char c : text) out->push_back(BreaksTag(c, in_key) ? '_' : c);
}

void AppendTag(std::string* out, std::string_view key, std::string_view value) {
  if (key.empty()) return;
  if (!out->empty()) out->push_back(',');
  AppendSanitized(out, key, /*in_key=*/true);
  if (!value.empty()) {
    out->push_back(':');
    AppendSanitized(out, value, /*in_key=*/false);
  }
}

char TypeCode(DogStatsdType type) {
  switch (type) {
    case DogStatsdType::kCount:
      return 'c';
    case DogStatsdType::kGauge:
      return 'g';
    case DogStatsdType::kDistribution:
      return 'd';
  }
  return 'g';
}

}  // namespace

absl::Status DogStatsdConfig::Validate() const {
  if (!enabled) return absl::OkStatus();
  if (host.empty()) {
    return absl::InvalidArgumentError("DD_AGENT_HOST: DogStatsD is enabled but has no host");
  }
  if (port == 0) {
    return absl::InvalidArgumentError("DD_DOGSTATSD_PORT: must be between 1 and 65535");
  }
  for (const auto& [key, value] : constant_tags) {
    if (key.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("DogStatsD constant tag with value '", value, "' has an empty key"));
    }
  }
  return absl::OkStatus();
}

absl::Status ParseDogStatsdUrl(std::string_view url, std::string* host, uint16_t* port) {
  constexpr std::string_view kScheme = "udp://";
  if (url.substr(0, kScheme.size()) != kScheme) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", AbslView(url), "' is not udp://host:port (only UDP is supported)"));
  }
  std::string_view rest = url.substr(kScheme.size());
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  std::string_view host_part;
  std::string_view port_part;
  if (!rest.empty() && rest.front() == '[') {
    size_t close = rest.find(']');
    if (close == std::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", AbslView(url), "': unclosed '[' in the IPv6 host"));
    }
    host_part = rest.substr(1, close - 1);
    std::string_view after = rest.substr(close + 1);
    if (after.empty() || after.front() != ':') {
      return absl::InvalidArgumentError(absl::StrCat("'", AbslView(url), "' has no port"));
    }
    port_part = after.substr(1);
  } else {
    size_t colon = rest.rfind(':');
    if (colon == std::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("'", AbslView(url), "' has no port"));
    }
    host_part = rest.substr(0, colon);
    port_part = rest.substr(colon + 1);
    if (host_part.find(':') != std::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", AbslView(url), "': put an IPv6 host in brackets, udp://[::1]:8125"));
    }
  }
  if (host_part.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("'", AbslView(url), "' has no host"));
  }
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(port_part.data(), port_part.data() + port_part.size(), value);
  if (port_part.empty() || ec != std::errc() || ptr != port_part.data() + port_part.size() ||
      value == 0 || value > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", AbslView(url), "': port '", AbslView(port_part), "' is not in 1..65535"));
  }
  *host = std::string(host_part);
  *port = static_cast<uint16_t>(value);
  return absl::OkStatus();
}

DogStatsdConfig DogStatsdConfig::Read(ConfigReader& reader) {
  DogStatsdConfig config;
  const std::string url = reader.String("DD_DOGSTATSD_URL", "");
  const std::string agent_host = reader.String("DD_AGENT_HOST", "");
  const int64_t port = reader.Int("DD_DOGSTATSD_PORT", 8125, 1, 65535);
  if (!url.empty()) {
    absl::Status s = ParseDogStatsdUrl(url, &config.host, &config.port);
    if (!s.ok()) {
      reader.AddError("DD_DOGSTATSD_URL", StdView(s.message()));
      return DogStatsdConfig{};
    }
    config.enabled = true;
  } else if (!agent_host.empty()) {
    config.enabled = true;
    config.host = agent_host;
    config.port = static_cast<uint16_t>(port >= 1 && port <= 65535 ? port : 8125);
  }
  return config;
}

absl::StatusOr<std::string> FormatDogStatsdLine(std::string_view name, double value,
                                                DogStatsdType type, const DogStatsdTags& tags,
                                                std::string_view constant_tags) {
  if (name.empty()) return absl::InvalidArgumentError("DogStatsD metric name is empty");
  if (!std::isfinite(value)) {
    return absl::InvalidArgumentError(
        absl::StrCat("DogStatsD metric ", AbslView(name), " has a non-finite value"));
  }
  std::string line;
  line.reserve(name.size() + 32 + constant_tags.size());
  for (char c : name) line.push_back(IsNameChar(c) ? c : '_');
  line.push_back(':');
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  if (ec != std::errc()) return absl::InternalError("cannot format a DogStatsD value");
  line.append(buf, end);
  line.push_back('|');
  line.push_back(TypeCode(type));
  std::string tag_list;
  for (const DogStatsdTag& tag : tags) AppendTag(&tag_list, tag.key, tag.value);
  if (!constant_tags.empty()) {
    if (!tag_list.empty()) tag_list.push_back(',');
    tag_list.append(constant_tags);
  }
  if (!tag_list.empty()) {
    line.append("|#");
    line.append(tag_list);
  }
  return line;
}

std::unique_ptr<DogStatsdSink> DogStatsdSink::Disabled() {
  return std::unique_ptr<DogStatsdSink>(new DogStatsdSink(-1, ""));
}

absl::StatusOr<std::unique_ptr<DogStatsdSink>> DogStatsdSink::Create(
    const DogStatsdConfig& config) {
  APMCOV_RETURN_IF_ERROR(config.Validate());
  if (!config.enabled) return Disabled();

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(config.port);
  if (int rc = getaddrinfo(config.host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    return absl::UnavailableError(
        absl::StrCat("DogStatsD host ", config.host, " does not resolve: ", gai_strerror(rc)));
  }
  int fd = -1;
  std::string last_error = "no address";
  for (addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      last_error = std::strerror(errno);
      continue;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) break;
    last_error = std::strerror(errno);
    close(fd);
    fd = -1;
  }
  freeaddrinfo(found);
  if (fd < 0) {
    return absl::UnavailableError(absl::StrCat("cannot open a UDP socket to DogStatsD at ",
                                               config.host, ":", config.port, ": ", last_error));
  }
  std::string constant;
  for (const auto& [key, value] : config.constant_tags) AppendTag(&constant, key, value);
  return std::unique_ptr<DogStatsdSink>(new DogStatsdSink(fd, std::move(constant)));
}

DogStatsdSink::DogStatsdSink(int fd, std::string constant_tags)
    : fd_(fd), constant_tags_(std::move(constant_tags)) {}

DogStatsdSink::~DogStatsdSink() {
  if (fd_ >= 0) close(fd_);
}

void DogStatsdSink::Count(std::string_view name, double value, const DogStatsdTags& tags) {
  Send(name, value, DogStatsdType::kCount, tags);
}

void DogStatsdSink::Gauge(std::string_view name, double value, const DogStatsdTags& tags) {
  Send(name, value, DogStatsdType::kGauge, tags);
}

void DogStatsdSink::Distribution(std::string_view name, double value, const DogStatsdTags& tags) {
  Send(name, value, DogStatsdType::kDistribution, tags);
}

void DogStatsdSink::Send(std::string_view name, double value, DogStatsdType type,
                         const DogStatsdTags& tags) {
  if (fd_ < 0) return;
  absl::StatusOr<std::string> line = FormatDogStatsdLine(name, value, type, tags, constant_tags_);
  if (!line.ok()) {
    send_errors_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  ssize_t n = send(fd_, line->data(), line->size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  if (n == static_cast<ssize_t>(line->size())) {
    sent_.fetch_add(1, std::memory_order_relaxed);
  } else {
    send_errors_.fetch_add(1, std::memory_order_relaxed);
  }
}

}  // namespace apmcov::telemetry
