#include "apmcov/coverage/infra_aliases.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace apmcov::coverage {
namespace {

using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

TEST(InfraAliasesTest, DefaultsMapManagedKubernetesAndLambda) {
  const InfraAliases& d = DefaultInfraAliases();
  EXPECT_THAT(d, UnorderedElementsAre(Pair("aks", "kubernetes"), Pair("eks", "kubernetes"),
                                      Pair("gke", "kubernetes"), Pair("k8s", "kubernetes"),
                                      Pair("lambda", "serverless")));
  EXPECT_EQ(CanonicalInfra(d, "K8s"), "kubernetes");
  EXPECT_EQ(CanonicalInfra(d, "lambda"), "serverless");
  EXPECT_EQ(CanonicalInfra(d, "vm"), "vm");
  EXPECT_EQ(CanonicalInfra(d, "kubernetes"), "kubernetes");
}

TEST(InfraAliasesTest, EmptySpecIsTheDefaults) {
  auto a = ParseInfraAliases("");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(*a, DefaultInfraAliases());
  a = ParseInfraAliases(" , ");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(*a, DefaultInfraAliases());
}

TEST(InfraAliasesTest, SpecExtendsOverridesAndRemovesDefaults) {
  auto a = ParseInfraAliases(" VM = host ,openshift=kubernetes, lambda=faas,gke=gke");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(CanonicalInfra(*a, "vm"), "host");
  EXPECT_EQ(CanonicalInfra(*a, "OpenShift"), "kubernetes");
  EXPECT_EQ(CanonicalInfra(*a, "lambda"), "faas");
  EXPECT_EQ(CanonicalInfra(*a, "gke"), "gke");  // removed: kept as written
  EXPECT_EQ(CanonicalInfra(*a, "eks"), "kubernetes");
}

TEST(InfraAliasesTest, BadSpecsNameThePair) {
  struct Case {
    const char* spec;
    const char* says;
  } cases[] = {
      {"k8s", "'k8s' is not alias=canonical"},
      {"=kubernetes", "both sides"},
      {"k8s=", "both sides"},
      {"k 8s=kubernetes", "both sides"},
      {"a=b,a=c", "alias 'a' is given twice"},
      {"vm=host,host=metal", "'vm=host': 'host' is itself an alias"},
      {"kubernetes=k8s", "is itself an alias"},
  };
  for (const Case& c : cases) {
    auto a = ParseInfraAliases(c.spec);
    ASSERT_FALSE(a.ok()) << c.spec;
    EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument) << c.spec;
    EXPECT_THAT(std::string(a.status().message()), HasSubstr(c.says)) << c.spec;
  }
}

}  // namespace
}  // namespace apmcov::coverage
