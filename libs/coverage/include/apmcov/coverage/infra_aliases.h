// Infra aliases (design §5, INFRA_ALIASES): several spellings of one platform count as one key
// of the infra dimension, so the overview never splits one platform across two bars. The
// defaults map k8s, eks, gke and aks to kubernetes and lambda to serverless; INFRA_ALIASES
// ("alias=canonical,...") overrides or extends them. Pure: no I/O, no clock.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace apmcov::coverage {

// alias → canonical, both lowercase. A canonical value is never itself an alias (checked by
// ParseInfraAliases), so one lookup resolves any value.
using InfraAliases = std::map<std::string, std::string, std::less<>>;

// k8s, eks, gke, aks → kubernetes; lambda → serverless.
const InfraAliases& DefaultInfraAliases();

// The defaults, then each "alias=canonical" pair of `spec` (comma-separated, blanks around
// names ignored, lowercased) added or replacing the default of that alias; "alias=alias"
// removes a default. Empty spec: the defaults. InvalidArgument, naming the pair, when a pair
// lacks '=', either side is empty or has a character other than [a-z0-9._-], an alias repeats
// within the spec, or a canonical value is itself an alias (a chain).
absl::StatusOr<InfraAliases> ParseInfraAliases(std::string_view spec);

// The canonical form of an infra value (lowercased first): its alias target, else itself.
std::string CanonicalInfra(const InfraAliases& aliases, std::string_view value);

}  // namespace apmcov::coverage
