#include "args.h"

#include <cctype>
#include <cmath>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "apmcov/base/status.h"
#include "apmcov/base/time.h"

namespace apmcov::cli {
namespace {

constexpr int64_t kSecond = 1'000'000'000;

absl::Status Bad(std::string_view flag, std::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(AbslView(flag), ": ", AbslView(message)));
}

absl::StatusOr<double> Percent(std::string_view flag, const std::string& v) {
  double d = 0;
  std::string s = v;
  if (!s.empty() && s.back() == '%') s.pop_back();
  if (!absl::SimpleAtod(s, &d) || !std::isfinite(d) || d < 0 || d > 100) {
    return Bad(flag, absl::StrCat("must be a percentage from 0 to 100, got '", v, "'"));
  }
  return d;
}

absl::StatusOr<int64_t> Seconds(std::string_view flag, const std::string& v, int64_t max) {
  int64_t n = 0;
  if (!absl::SimpleAtoi(v, &n) || n < 1 || n > max) {
    return Bad(
        flag, absl::StrCat("must be a whole number of seconds from 1 to ", max, ", got '", v, "'"));
  }
  return n;
}

}  // namespace

absl::StatusOr<int64_t> ParseSince(std::string_view text, int64_t now_ns) {
  if (text.empty()) return absl::InvalidArgumentError("empty");
  if (text.size() == 10 && text[4] == '-' && text[7] == '-') {
    auto t = ParseRfc3339(absl::StrCat(AbslView(text), "T00:00:00Z"));
    if (!t.ok())
      return absl::InvalidArgumentError(absl::StrCat("'", AbslView(text), "' is not a date"));
    if (*t > now_ns) return absl::InvalidArgumentError("lies in the future");
    return *t;
  }
  if (text.find('T') != std::string_view::npos || text.find(':') != std::string_view::npos) {
    auto t = ParseRfc3339(text);
    if (!t.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", AbslView(text), "' is neither a duration (7d, 36h) nor an RFC 3339 time"));
    }
    if (*t > now_ns) return absl::InvalidArgumentError("lies in the future");
    return *t;
  }
  int64_t total = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t j = i;
    while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j]))) ++j;
    if (j == i || j == text.size() || j - i > 6) {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", AbslView(text),
          "' is not a duration: use a number and a unit s, m, h, d or w (7d, 36h, 1w2d)"));
    }
    int64_t n = 0;
    (void)absl::SimpleAtoi(AbslView(text.substr(i, j - i)), &n);
    int64_t unit = 0;
    switch (text[j]) {
      case 's':
        unit = 1;
        break;
      case 'm':
        unit = 60;
        break;
      case 'h':
        unit = 3600;
        break;
      case 'd':
        unit = 86400;
        break;
      case 'w':
        unit = 7 * 86400;
        break;
      default:
        return absl::InvalidArgumentError(absl::StrCat("'", AbslView(text), "': unknown unit '",
                                                       AbslView(text.substr(j, 1)),
                                                       "' (use s, m, h, d or w)"));
    }
    total += n * unit;
    i = j + 1;
  }
  if (total <= 0) return absl::InvalidArgumentError("must be longer than zero");
  if (total > int64_t{3660} * 86400) return absl::InvalidArgumentError("longer than ten years");
  return now_ns - total * kSecond;
}

std::string Usage() {
  return R"(usage: apmcov [--gateway HOST:PORT] [--format text|json|markdown] [--timeout SECONDS] COMMAND

Asks the APM Coverage Tracker's gateway (gRPC) and answers for scripts and CI.

commands:
  check [--team T] [--env E] [--min-coverage PCT] [--max-broken-rate PCT]
        [--no-regression-since DURATION|DATE]
      exit 0 when every condition holds, 1 when one fails (naming the team and services),
      2 when the gateway could not be asked or the flags are wrong
  report [--team T] [--env E]       coverage by team, services without APM, broken traces
  services [--apm=true|false] [--team T] [--env E]
  sync [--wait] [--wait-timeout SECONDS]
      asks for a sync now (GATEWAY_API_TOKEN is sent as a bearer token); --wait follows the job
      and exits 1 if it failed

DURATION: 7d, 36h, 90m, 1w2d; DATE: 2026-11-30 or an RFC 3339 time.
environment: APMCOV_GATEWAY (default 127.0.0.1:9090), GATEWAY_API_TOKEN.
)";
}

absl::StatusOr<Invocation> ParseArgs(
    const std::vector<std::string>& args,
    const std::function<std::optional<std::string>(const std::string&)>& getenv, int64_t now_ns) {
  Invocation inv;
  if (auto g = getenv("APMCOV_GATEWAY"); g && !g->empty()) inv.gateway = *g;
  if (auto t = getenv("GATEWAY_API_TOKEN"); t) inv.token = *t;
  bool apm_given = false, wait_timeout_given = false;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string arg = args[i];
    std::string value;
    bool has_value = false;
    if (absl::StartsWith(arg, "--")) {
      if (size_t eq = arg.find('='); eq != std::string::npos) {
        value = arg.substr(eq + 1);
        arg = arg.substr(0, eq);
        has_value = true;
      }
    }
    auto take = [&]() -> absl::StatusOr<std::string> {
      if (has_value) return value;
      if (i + 1 >= args.size()) return Bad(arg, "needs a value");
      return args[++i];
    };
    if (arg == "-h" || arg == "--help" || arg == "help") {
      inv.command = "help";
      return inv;
    }
    if (!absl::StartsWith(arg, "-")) {
      if (!inv.command.empty()) {
        return absl::InvalidArgumentError(absl::StrCat("unexpected argument '", arg, "'"));
      }
      if (arg != "check" && arg != "report" && arg != "services" && arg != "sync") {
        return absl::InvalidArgumentError(
            absl::StrCat("unknown command '", arg, "' (one of check, report, services, sync)"));
      }
      inv.command = arg;
      continue;
    }
    if (arg == "--gateway") {
      APMCOV_ASSIGN_OR_RETURN(inv.gateway, take());
      if (inv.gateway.empty() || inv.gateway.find(':') == std::string::npos) {
        return Bad(arg, "must be host:port");
      }
    } else if (arg == "--format") {
      APMCOV_ASSIGN_OR_RETURN(std::string f, take());
      if (f == "text") {
        inv.format = Format::kText;
      } else if (f == "json") {
        inv.format = Format::kJson;
      } else if (f == "markdown" || f == "md") {
        inv.format = Format::kMarkdown;
      } else {
        return Bad(arg, absl::StrCat("must be text, json or markdown, got '", f, "'"));
      }
    } else if (arg == "--timeout") {
      APMCOV_ASSIGN_OR_RETURN(std::string v, take());
      APMCOV_ASSIGN_OR_RETURN(int64_t s, Seconds(arg, v, 3600));
      inv.timeout_ms = s * 1000;
    } else if (arg == "--team") {
      APMCOV_ASSIGN_OR_RETURN(inv.check.team, take());
    } else if (arg == "--env") {
      APMCOV_ASSIGN_OR_RETURN(inv.check.env, take());
    } else if (arg == "--min-coverage") {
      APMCOV_ASSIGN_OR_RETURN(std::string v, take());
      APMCOV_ASSIGN_OR_RETURN(inv.check.min_coverage_pct, Percent(arg, v));
    } else if (arg == "--max-broken-rate") {
      APMCOV_ASSIGN_OR_RETURN(std::string v, take());
      APMCOV_ASSIGN_OR_RETURN(inv.check.max_broken_rate_pct, Percent(arg, v));
    } else if (arg == "--no-regression-since") {
      APMCOV_ASSIGN_OR_RETURN(std::string v, take());
      auto since = ParseSince(v, now_ns);
      if (!since.ok()) return Bad(arg, StdView(since.status().message()));
      inv.check.no_regression_since_ns = *since;
    } else if (arg == "--apm") {
      std::string v = has_value ? value : "true";
      if (v != "true" && v != "false") return Bad(arg, "must be --apm=true or --apm=false");
      inv.apm = v;
      apm_given = true;
    } else if (arg == "--wait") {
      if (has_value) return Bad(arg, "takes no value");
      inv.wait = true;
    } else if (arg == "--wait-timeout") {
      APMCOV_ASSIGN_OR_RETURN(std::string v, take());
      APMCOV_ASSIGN_OR_RETURN(int64_t s, Seconds(arg, v, 86400));
      inv.wait_timeout_ms = s * 1000;
      wait_timeout_given = true;
    } else if (arg == "--token" || arg == "--api-token") {
      return Bad(arg,
                 "is not a flag: set GATEWAY_API_TOKEN (a command line is readable by any "
                 "user of the machine)");
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag '", arg, "'"));
    }
  }
  if (inv.command.empty()) return absl::InvalidArgumentError("no command given");
  const CheckOptions& c = inv.check;
  const bool conditions = c.min_coverage_pct || c.max_broken_rate_pct || c.no_regression_since_ns;
  if (inv.command == "check" && !conditions) {
    return absl::InvalidArgumentError(
        "check needs at least one of --min-coverage, --max-broken-rate, --no-regression-since");
  }
  if (inv.command != "check" && conditions) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--min-coverage, --max-broken-rate and --no-regression-since belong to check, not ",
        inv.command));
  }
  if (inv.command != "services" && apm_given) {
    return absl::InvalidArgumentError("--apm belongs to services");
  }
  if (inv.command != "sync" && (inv.wait || wait_timeout_given)) {
    return absl::InvalidArgumentError("--wait and --wait-timeout belong to sync");
  }
  if (inv.command == "sync" && (!c.team.empty() || !c.env.empty())) {
    return absl::InvalidArgumentError("sync syncs everything: --team and --env do not apply");
  }
  return inv;
}

}  // namespace apmcov::cli
