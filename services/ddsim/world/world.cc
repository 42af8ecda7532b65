#include "ddsim/world/world.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <unordered_set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "ddsim/world/cat.h"

namespace apmcov::ddsim {
namespace {

constexpr std::string_view kWords[] = {
    "payments", "checkout", "orders",   "cart",    "inventory", "shipping",  "billing",  "accounts",
    "auth",     "search",   "catalog",  "pricing", "reviews",   "ratings",   "profile",  "session",
    "ledger",   "fraud",    "risk",     "loyalty", "coupons",   "invoice",   "refunds",  "tax",
    "currency", "wallet",   "notify",   "email",   "sms",       "push",      "media",    "images",
    "video",    "upload",   "export",   "report",  "metrics",   "audit",     "identity", "consent",
    "geo",      "routing",  "dispatch", "fleet",   "tracking",  "warehouse", "supplier", "partner",
    "booking",  "calendar", "chat",     "support", "ticket",    "feedback",  "survey",   "content",
    "feed",     "ranking",  "recs",     "ads",     "campaign",  "signup",    "onboard",  "kyc",
    "settle",   "payout",   "quote",    "policy",  "claims",    "ledgerx"};
constexpr std::string_view kSuffixes[] = {"api",       "service", "worker",   "gateway", "svc",
                                          "processor", "backend", "handler",  "engine",  "sync",
                                          "scheduler", "web",     "consumer", "store"};
constexpr std::string_view kTeams[] = {"team-payments", "team-checkout", "team-platform",
                                       "team-growth",   "team-identity", "team-data",
                                       "team-mobile",   "team-search",   "team-logistics",
                                       "team-finance",  "team-support",  "team-ml"};
constexpr std::string_view kTiers[] = {"1", "2", "3", "High", "Medium", "Low"};
constexpr std::string_view kLifecycles[] = {"production", "production", "production",
                                            "staging",    "sandbox",    "experimental"};
constexpr std::string_view kApplications[] = {"storefront", "backoffice", "mobile-app",
                                              "data-platform", "core-banking"};
constexpr std::string_view kCatalogTypes[] = {"web", "web", "function", "custom", "db", "cache"};
constexpr std::string_view kSchemaVersions[] = {"v1", "v2", "v2.1", "v2.2"};

struct DatastoreKind {
  std::string_view suffix, system, type;
};
constexpr DatastoreKind kDatastoreKinds[] = {{"postgres", "postgresql", "sql"},
                                             {"mysql", "mysql", "sql"},
                                             {"redis", "redis", "redis"},
                                             {"mongo", "mongodb", "db"}};
constexpr std::string_view kExternalHosts[] = {"api.stripe.com",      "api.twilio.com",
                                               "hooks.slack.com",     "api.sendgrid.com",
                                               "maps.googleapis.com", "api.github.com"};

// Infra tag spellings per real infra: the catalog writes these, lowercased by readers.
constexpr std::string_view kInfraTags[][3] = {
    {"infra:kubernetes", "platform:Kubernetes", "infra:k8s"},
    {"infra:ecs", "platform:ECS", "infrastructure:ecs"},
    {"infra:serverless", "platform:lambda", "infra:Serverless"},
    {"infra:host", "infrastructure:vm", "platform:Host"}};

std::string Hex32(Rng& rng) { return absl::StrFormat("%016x%016x", rng.Next(), rng.Next()); }

}  // namespace

std::string_view InstrumentationName(Instrumentation s) {
  switch (s) {
    case Instrumentation::kInstrumented:
      return "instrumented";
    case Instrumentation::kNotInstrumented:
      return "not_instrumented";
    case Instrumentation::kUsmOnly:
      return "usm_only";
    case Instrumentation::kPropagatesOnly:
      return "propagates_only";
    case Instrumentation::kShadow:
      return "shadow";
  }
  return "unknown";
}

std::string_view InfraName(Infra i) {
  switch (i) {
    case Infra::kKubernetes:
      return "kubernetes";
    case Infra::kEcs:
      return "ecs";
    case Infra::kServerless:
      return "serverless";
    case Infra::kHost:
      return "host";
  }
  return "unknown";
}

uint64_t MixSeed(uint64_t a, uint64_t b, uint64_t c) {
  Rng r(a ^ 0x5851F42D4C957F2DULL);
  uint64_t x = r.Next() ^ b;
  Rng r2(x);
  uint64_t y = r2.Next() ^ c;
  Rng r3(y);
  return r3.Next();
}

const Service* World::Find(std::string_view name) const {
  auto it = by_name.find(std::string(name));
  return it == by_name.end() ? nullptr : &services[it->second];
}

const Service* World::FindSelf(std::string_view name) const {
  for (const Service& s : self_services) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

bool World::RunsIn(uint32_t service, uint8_t env) const {
  const auto& e = services[service].envs;
  return std::find(e.begin(), e.end(), env) != e.end();
}

absl::StatusOr<World> GenerateWorld(const WorldOptions& options) {
  if (options.services < 10 || options.services > 50000) {
    return absl::InvalidArgumentError(
        Cat("--services must be between 10 and 50000, got ", options.services));
  }
  World w;
  w.options = options;
  w.envs = {"prod", "staging", "dev"};
  Rng rng(MixSeed(options.seed, 0xD0D0));
  const int n = options.services;

  // Unique names: word-suffix pairs in a seeded order, then numbered repeats.
  std::vector<std::string> names;
  names.reserve(n);
  {
    std::vector<std::pair<int, int>> pairs;
    for (int a = 0; a < static_cast<int>(std::size(kWords)); ++a) {
      for (int b = 0; b < static_cast<int>(std::size(kSuffixes)); ++b) pairs.emplace_back(a, b);
    }
    for (size_t i = pairs.size(); i > 1; --i) std::swap(pairs[i - 1], pairs[rng.Below(i)]);
    for (int i = 0; i < n; ++i) {
      const auto& [a, b] = pairs[i % pairs.size()];
      int round = i / static_cast<int>(pairs.size());
      names.push_back(round == 0 ? Cat(kWords[a], "-", kSuffixes[b])
                                 : Cat(kWords[a], "-", kSuffixes[b], "-", round + 1));
    }
  }

  const int ndatastores = std::max(4, n / 4);
  for (int i = 0; i < ndatastores; ++i) {
    const auto& k = kDatastoreKinds[rng.Below(std::size(kDatastoreKinds))];
    w.datastores.push_back(
        {Cat(kWords[i % std::size(kWords)], "-", k.suffix,
             i >= static_cast<int>(std::size(kWords)) ? Cat("-", i / std::size(kWords) + 1) : ""),
         std::string(k.system), std::string(k.type)});
  }
  const int nqueues = std::max(2, n / 10);
  constexpr std::string_view kQueueSystems[] = {"kafka", "rabbitmq", "sqs"};
  for (int i = 0; i < nqueues; ++i) {
    w.queues.push_back({Cat(kWords[(i * 7) % std::size(kWords)], "-events-topic-", i),
                        std::string(kQueueSystems[rng.Below(3)])});
  }
  for (auto h : kExternalHosts) w.externals.push_back({std::string(h)});

  w.services.resize(n);
  for (int i = 0; i < n; ++i) {
    Service& s = w.services[i];
    s.name = names[i];
    s.id = Hex32(rng);
    s.schema_version = std::string(kSchemaVersions[rng.Below(4)]);
    s.team = rng.Chance(0.9) ? std::string(kTeams[rng.Below(std::size(kTeams))]) : "";
    const bool v21 = s.schema_version == "v2.1" || s.schema_version == "v2.2";
    const bool v1 = s.schema_version == "v1";
    if (v21 || v1) s.application = std::string(kApplications[rng.Below(std::size(kApplications))]);
    if ((v21 || v1) && rng.Chance(0.85)) s.tier = std::string(kTiers[rng.Below(std::size(kTiers))]);
    if (v21) {
      s.lifecycle = rng.Chance(0.12) ? "deprecated"
                                     : std::string(kLifecycles[rng.Below(std::size(kLifecycles))]);
    }
    s.language = static_cast<uint8_t>(rng.Below(kNumLanguages));
    if (s.schema_version == "v2.2") {
      s.catalog_type = std::string(kCatalogTypes[rng.Below(std::size(kCatalogTypes))]);
      if (rng.Chance(0.8)) s.languages.emplace_back(kCatalogLanguages[s.language]);
    }
    s.envs.push_back(0);
    if (rng.Chance(0.45)) s.envs.push_back(1);
    if (rng.Chance(0.1)) s.envs.push_back(2);
    s.env_tagged = rng.Chance(0.7);
    const uint64_t inf = rng.Below(100);
    s.infra = inf < 50   ? Infra::kKubernetes
              : inf < 70 ? Infra::kEcs
              : inf < 85 ? Infra::kServerless
                         : Infra::kHost;
    if (rng.Chance(0.6))
      s.infra_tag = std::string(kInfraTags[static_cast<int>(s.infra)][rng.Below(3)]);
    const uint64_t cf = rng.Below(100);
    if (cf < 12) {
      constexpr std::string_view kCf[] = {"customer-facing:true", "customer_facing:yes",
                                          "customer-facing:1"};
      s.customer_facing_tag = std::string(kCf[rng.Below(3)]);
    } else if (cf < 22) {
      s.customer_facing_extension = true;
    }
    const uint64_t st = rng.Below(100);
    s.state = st < 58   ? Instrumentation::kInstrumented
              : st < 72 ? Instrumentation::kNotInstrumented
              : st < 80 ? Instrumentation::kUsmOnly
              : st < 86 ? Instrumentation::kPropagatesOnly
                        : Instrumentation::kShadow;
    if (s.state == Instrumentation::kUsmOnly) s.env_tagged = true;  // USM sees where it runs
    s.modified_unix_s = 1'690'000'000 + static_cast<int64_t>(rng.Below(60'000'000));
    s.version = Cat(1 + rng.Below(3), ".", rng.Below(30), ".", rng.Below(10));
    s.host = absl::StrFormat("ip-10-%d-%d-%d.ec2.internal", rng.Below(256), rng.Below(256),
                             rng.Below(256));
  }
  // Guarantee every state exists, whatever the seed (tests and demos rely on it).
  const Instrumentation kEvery[] = {Instrumentation::kInstrumented,
                                    Instrumentation::kNotInstrumented, Instrumentation::kUsmOnly,
                                    Instrumentation::kPropagatesOnly, Instrumentation::kShadow};
  for (Instrumentation want : kEvery) {
    std::map<Instrumentation, int> count;
    for (const auto& s : w.services) ++count[s.state];
    if (count[want] > 0) continue;
    for (auto& s : w.services) {  // take a service from a state that has several
      if (count[s.state] > 1) {
        s.state = want;
        break;
      }
    }
  }
  for (auto& s : w.services) {
    if (s.state == Instrumentation::kUsmOnly) s.env_tagged = true;
  }

  // Call graph: a DAG (callees have higher indexes), plus leaf dependencies.
  for (int i = 0; i < n; ++i) {
    Service& s = w.services[i];
    const int ncalls = static_cast<int>(rng.Range(0, 4));
    for (int c = 0; c < ncalls && i + 1 < n; ++c) {
      const uint32_t callee = static_cast<uint32_t>(i + 1 + rng.Below(std::min(n - i - 1, 60)));
      const uint64_t f = rng.Below(100);
      const TargetForm form = f < 45   ? TargetForm::kPeerService
                              : f < 60 ? TargetForm::kPeerHostname
                              : f < 70 ? TargetForm::kOutHost
                              : f < 90 ? TargetForm::kHttpUrl
                                       : TargetForm::kRpcService;
      s.calls.push_back({DepKind::kService, callee, form});
    }
    if (rng.Chance(0.6)) {
      s.calls.push_back({DepKind::kDatastore, static_cast<uint32_t>(rng.Below(w.datastores.size())),
                         TargetForm::kPeerService});
    }
    if (rng.Chance(0.25)) {
      s.calls.push_back({DepKind::kQueue, static_cast<uint32_t>(rng.Below(w.queues.size())),
                         TargetForm::kPeerService});
    }
    if (rng.Chance(0.15)) {
      s.calls.push_back({DepKind::kExternal, static_cast<uint32_t>(rng.Below(w.externals.size())),
                         TargetForm::kHttpUrl});
    }
  }

  for (uint32_t i = 0; i < static_cast<uint32_t>(n); ++i) w.by_name.emplace(w.services[i].name, i);
  for (uint32_t i = 0; i < static_cast<uint32_t>(n); ++i) {
    if (w.services[i].catalogued()) w.catalog_order.push_back(i);
  }
  std::sort(w.catalog_order.begin(), w.catalog_order.end(),
            [&](uint32_t a, uint32_t b) { return w.services[a].id < w.services[b].id; });
  w.reporting_by_env.resize(w.envs.size());
  for (uint32_t i = 0; i < static_cast<uint32_t>(n); ++i) {
    const Service& s = w.services[i];
    if (s.reports_spans()) {
      for (uint8_t e : s.envs) w.reporting_by_env[e].push_back(i);
    }
    switch (s.state) {
      case Instrumentation::kInstrumented:
        w.instrumented.push_back(i);
        break;
      case Instrumentation::kNotInstrumented:
      case Instrumentation::kUsmOnly:
        w.not_traced.push_back(i);
        break;
      case Instrumentation::kPropagatesOnly:
        w.propagates_only.push_back(i);
        break;
      case Instrumentation::kShadow:
        break;
    }
  }
  if (options.self_catalog) {
    // Fixed definitions, not drawn from the seed: the same three entries in every world.
    for (std::string_view name : kSelfServices) {
      Service s;
      s.name = std::string(name);
      uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a: the same ids on every platform
      for (char c : name) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
      Rng id_rng(MixSeed(0xA9C0, h));
      s.id = Hex32(id_rng);
      s.schema_version = "v2.2";
      s.team = std::string(kSelfTeam);
      s.application = "apm-coverage-tracker";
      s.tier = "2";
      s.lifecycle = "production";
      s.languages = {"cpp"};
      s.catalog_type = name == "apmcov-gateway" ? "web" : "custom";
      s.state = Instrumentation::kNotInstrumented;  // until the intake says otherwise
      s.modified_unix_s = 1'750'000'000;
      w.self_services.push_back(std::move(s));
    }
  }
  return w;
}

}  // namespace apmcov::ddsim
