#include "ddsim/world/world.h"

#include <set>

#include "gtest/gtest.h"

namespace apmcov::ddsim {
namespace {

TEST(WorldTest, SameSeedSameWorldDifferentSeedDifferentWorld) {
  auto a = GenerateWorld({42, 300});
  auto b = GenerateWorld({42, 300});
  auto c = GenerateWorld({43, 300});
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  ASSERT_EQ(a->services.size(), 300u);
  int differing = 0;
  for (size_t i = 0; i < 300; ++i) {
    EXPECT_EQ(a->services[i].name, b->services[i].name);
    EXPECT_EQ(a->services[i].id, b->services[i].id);
    EXPECT_EQ(a->services[i].state, b->services[i].state);
    EXPECT_EQ(a->services[i].calls.size(), b->services[i].calls.size());
    differing += a->services[i].id != c->services[i].id;
  }
  EXPECT_EQ(differing, 300);
}

TEST(WorldTest, RejectsSizesOutsideTheRange) {
  EXPECT_EQ(GenerateWorld({1, 9}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GenerateWorld({1, 50001}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(GenerateWorld({1, 10}).ok());
}

TEST(WorldTest, LargestWorldHasUniqueNamesAndEveryKindOfService) {
  auto w = GenerateWorld({7, 50000});
  ASSERT_TRUE(w.ok());
  std::set<std::string> names, ids;
  std::set<Instrumentation> states;
  std::set<std::string> versions, infra_tag_keys;
  int cf_tag = 0, cf_ext = 0, deprecated = 0, v22_languages = 0;
  for (const auto& s : w->services) {
    names.insert(s.name);
    ids.insert(s.id);
    states.insert(s.state);
    versions.insert(s.schema_version);
    EXPECT_EQ(s.id.size(), 32u);
    if (!s.infra_tag.empty()) infra_tag_keys.insert(s.infra_tag.substr(0, s.infra_tag.find(':')));
    cf_tag += !s.customer_facing_tag.empty();
    cf_ext += s.customer_facing_extension;
    deprecated += s.deprecated();
    v22_languages += !s.languages.empty();
    EXPECT_NE(s.name.find('-'), std::string::npos);
    EXPECT_EQ(s.name.find('.'), std::string::npos);
  }
  EXPECT_EQ(names.size(), 50000u);
  EXPECT_EQ(ids.size(), 50000u);
  EXPECT_EQ(states.size(), 5u);
  EXPECT_EQ(versions, (std::set<std::string>{"v1", "v2", "v2.1", "v2.2"}));
  EXPECT_EQ(infra_tag_keys, (std::set<std::string>{"infra", "platform", "infrastructure"}));
  EXPECT_GT(cf_tag, 0);
  EXPECT_GT(cf_ext, 0);
  EXPECT_GT(deprecated, 0);
  EXPECT_GT(v22_languages, 0);
}

TEST(WorldTest, SmallWorldStillHasEveryInstrumentationState) {
  for (uint64_t seed = 0; seed < 20; ++seed) {
    auto w = GenerateWorld({seed, 10});
    ASSERT_TRUE(w.ok());
    std::set<Instrumentation> states;
    for (const auto& s : w->services) states.insert(s.state);
    EXPECT_EQ(states.size(), 5u) << "seed " << seed;
  }
}

TEST(WorldTest, CallGraphIsAcyclicAndDependenciesNeverLookLikeServices) {
  auto w = GenerateWorld({5, 2000});
  ASSERT_TRUE(w.ok());
  for (size_t i = 0; i < w->services.size(); ++i) {
    for (const auto& d : w->services[i].calls) {
      if (d.kind == DepKind::kService) {
        EXPECT_GT(d.index, i);
      }
    }
  }
  // External hosts and datastores must never resolve to a catalog service (design §6).
  for (const auto& e : w->externals) {
    EXPECT_EQ(w->Find(e.host.substr(0, e.host.find('.'))), nullptr) << e.host;
  }
  for (const auto& d : w->datastores) EXPECT_EQ(w->Find(d.name), nullptr) << d.name;
  for (const auto& q : w->queues) EXPECT_EQ(w->Find(q.name), nullptr) << q.name;
}

}  // namespace
}  // namespace apmcov::ddsim
