// The simulated organisation behind ddsim: services with their catalog metadata, the
// instrumentation state ddsim decided for each, and the call graph with datastores, queues
// and external APIs. Everything is a pure function of WorldOptions (seed, size), so two
// processes given the same options build byte-identical worlds. Immutable once built and
// safe to share between threads.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"

namespace apmcov::ddsim {

// What ddsim decided a service does with APM. Only kInstrumented and kShadow report spans.
enum class Instrumentation : uint8_t {
  kInstrumented,     // catalogued, traced
  kNotInstrumented,  // catalogued, invisible to APM
  kUsmOnly,          // catalogued, seen only by USM (isTraced:false, isUsm:true)
  kPropagatesOnly,   // catalogued, forwards trace context but reports no spans
  kShadow,           // traced, absent from the catalog
};
std::string_view InstrumentationName(Instrumentation s);

enum class Infra : uint8_t { kKubernetes, kEcs, kServerless, kHost };
std::string_view InfraName(Infra i);  // "kubernetes", "ecs", "serverless", "host"

enum class DepKind : uint8_t { kService, kDatastore, kQueue, kExternal };

// How a client span names its target (design §6 target precedence).
enum class TargetForm : uint8_t {
  kPeerService,   // peer.service: payments
  kPeerHostname,  // peer.hostname: payments.internal:8443 (hostname only)
  kOutHost,       // out.host: payments.internal
  kHttpUrl,       // http.url: http://payments.internal:8443/v1/...
  kRpcService,    // rpc.service: payments
};

struct Dependency {
  DepKind kind = DepKind::kService;
  uint32_t index = 0;  // into World::services / datastores / queues / externals
  TargetForm form = TargetForm::kPeerService;
};

// Catalog and runtime facts of one service. Empty strings mean "not set in the catalog".
struct Service {
  std::string name;
  std::string id;              // 32 hex, the service-definition id
  std::string schema_version;  // v1, v2, v2.1, v2.2 (as ingested)
  std::string team;
  std::string application;
  std::string tier;
  std::string lifecycle;                   // v2.1+ only
  std::vector<std::string> languages;      // catalog languages (v2.2 only); empty otherwise
  std::string catalog_type;                // v2.2 type
  uint8_t language = 0;                    // index into kLanguages (what the tracer reports)
  std::vector<uint8_t> envs;               // indexes into World::envs; where it runs
  bool env_tagged = false;                 // catalog has env:X tags for all its envs
  Infra infra = Infra::kHost;              // where it really runs (span tags show it)
  std::string infra_tag;                   // e.g. "infra:kubernetes", "platform:ECS"; "" = none
  std::string customer_facing_tag;         // e.g. "customer-facing:true"; "" = none
  bool customer_facing_extension = false;  // extensions["myorg/customer-facing"]: true
  Instrumentation state = Instrumentation::kInstrumented;
  std::vector<Dependency> calls;
  int64_t modified_unix_s = 0;
  std::string version;  // deployed version, e.g. "1.12.3" (span tag version:)
  std::string host;     // a host it runs on (span attribute host)

  bool catalogued() const { return state != Instrumentation::kShadow; }
  bool reports_spans() const {
    return state == Instrumentation::kInstrumented || state == Instrumentation::kShadow;
  }
  bool customer_facing() const { return !customer_facing_tag.empty() || customer_facing_extension; }
  bool deprecated() const { return lifecycle == "deprecated"; }
};

struct Datastore {
  std::string name;    // e.g. "orders-postgres"
  std::string system;  // db.system: postgresql, mysql, redis, mongodb
  std::string type;    // span type: sql, redis, db
};
struct Queue {
  std::string name;    // messaging.destination.name
  std::string system;  // messaging.system: kafka, rabbitmq, sqs
};
struct External {
  std::string host;  // api.stripe.com
};

// Tracer language names as written in spans (custom.language), and the catalog spelling.
inline constexpr std::string_view kSpanLanguages[] = {"python", "go",     "jvm", "nodejs",
                                                      "ruby",   "dotnet", "php"};
inline constexpr std::string_view kCatalogLanguages[] = {"python", "go",     "java", "js",
                                                         "ruby",   "dotnet", "php"};
inline constexpr int kNumLanguages = 7;

struct WorldOptions {
  uint64_t seed = 1;
  int services = 200;  // 10 .. 50,000 (shadow services included)
  // Catalog entries for the tracker's own services (kSelfServices, team apm-coverage), so
  // that the traces it sends to ddsim's Agent intake find them in the catalog (design §12).
  bool self_catalog = true;
};

// The tracker's own services, catalogued when WorldOptions::self_catalog is set.
inline constexpr std::string_view kSelfServices[] = {"apmcov-analyzer", "apmcov-collector",
                                                     "apmcov-gateway"};
inline constexpr std::string_view kSelfTeam = "apm-coverage";

struct World {
  WorldOptions options;
  std::vector<std::string> envs;  // "prod", "staging", "dev"
  std::vector<Service> services;  // index = service id inside ddsim
  std::vector<Datastore> datastores;
  std::vector<Queue> queues;
  std::vector<External> externals;
  std::vector<uint32_t> catalog_order;  // catalogued services, in listing order (by id)
  std::unordered_map<std::string, uint32_t> by_name;
  // Reporting services per env (roots and callees of generated traces).
  std::vector<std::vector<uint32_t>> reporting_by_env;
  std::vector<uint32_t> not_traced;       // catalogued kNotInstrumented + kUsmOnly
  std::vector<uint32_t> propagates_only;  // catalogued kPropagatesOnly
  std::vector<uint32_t> instrumented;     // catalogued kInstrumented
  // Catalog entries that generated traffic never touches: the tracker's own services. Whether
  // they are instrumented depends only on what the Agent intake received. Sorted by name.
  std::vector<Service> self_services;

  // A generated service (catalogued or shadow) by name.
  const Service* Find(std::string_view name) const;
  // One of self_services by name.
  const Service* FindSelf(std::string_view name) const;
  bool RunsIn(uint32_t service, uint8_t env) const;
};

// Builds the organisation. InvalidArgument when services is outside 10..50,000.
absl::StatusOr<World> GenerateWorld(const WorldOptions& options);

// Deterministic pseudo-random numbers (splitmix64 stream). Cheap to construct per bucket.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  uint64_t Below(uint64_t n) { return n == 0 ? 0 : Next() % n; }  // [0, n)
  int64_t Range(int64_t lo, int64_t hi) {                         // [lo, hi]
    return lo + static_cast<int64_t>(Below(static_cast<uint64_t>(hi - lo + 1)));
  }
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  bool Chance(double p) { return Uniform() < p; }

 private:
  uint64_t state_;
};

// Mixes several values into one seed.
uint64_t MixSeed(uint64_t a, uint64_t b, uint64_t c = 0);

}  // namespace apmcov::ddsim
