#include "apmcov/coverage/infra_aliases.h"

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "apmcov/base/status.h"

namespace apmcov::coverage {
namespace {

bool ValidName(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

const InfraAliases& DefaultInfraAliases() {
  static const InfraAliases* const kDefaults = new InfraAliases{{"aks", "kubernetes"},
                                                                {"eks", "kubernetes"},
                                                                {"gke", "kubernetes"},
                                                                {"k8s", "kubernetes"},
                                                                {"lambda", "serverless"}};
  return *kDefaults;
}

absl::StatusOr<InfraAliases> ParseInfraAliases(std::string_view spec) {
  InfraAliases aliases = DefaultInfraAliases();
  std::set<std::string> seen;
  for (absl::string_view raw : absl::StrSplit(AbslView(spec), ',', absl::SkipWhitespace())) {
    const std::string pair = absl::AsciiStrToLower(absl::StripAsciiWhitespace(raw));
    const size_t eq = pair.find('=');
    if (eq == std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", pair, "' is not alias=canonical (e.g. k8s=kubernetes)"));
    }
    const std::string alias(absl::StripAsciiWhitespace(absl::string_view(pair).substr(0, eq)));
    const std::string canonical(absl::StripAsciiWhitespace(absl::string_view(pair).substr(eq + 1)));
    if (!ValidName(alias) || !ValidName(canonical)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", pair, "': both sides must be non-empty and use only a-z, 0-9, '.', '_', '-'"));
    }
    if (!seen.insert(alias).second) {
      return absl::InvalidArgumentError(absl::StrCat("alias '", alias, "' is given twice"));
    }
    if (alias == canonical) {
      aliases.erase(alias);  // "lambda=lambda": keep it as written
    } else {
      aliases[alias] = canonical;
    }
  }
  for (const auto& [alias, canonical] : aliases) {
    if (aliases.contains(canonical)) {
      return absl::InvalidArgumentError(absl::StrCat("'", alias, "=", canonical, "': '", canonical,
                                                     "' is itself an alias; name the final "
                                                     "platform instead"));
    }
  }
  return aliases;
}

std::string CanonicalInfra(const InfraAliases& aliases, std::string_view value) {
  std::string lower = absl::AsciiStrToLower(AbslView(value));
  auto it = aliases.find(lower);
  return it == aliases.end() ? lower : it->second;
}

}  // namespace apmcov::coverage
