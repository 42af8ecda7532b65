// DependencyObservations: each edge's names held once, the observations read back in the
// order they were added.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "apmcov/store/records.h"

namespace apmcov::store {
namespace {

std::vector<DependencyObservation> All(const DependencyObservations& d) {
  return {d.begin(), d.end()};
}

TEST(DependencyObservations, HoldsEachEdgeOnceAndReadsBackEveryObservationInOrder) {
  DependencyObservations d;
  d.Add("checkout", "payments", "call", "service", 1, 10);
  d.Add("checkout", "postgres", "db", "datastore", 1, 11);
  d.Add("checkout", "payments", "call", "service", 2, 12);
  d.Add("checkout", "payments", "call", "external", 3, 13);  // another to_kind: another edge
  EXPECT_EQ(d.size(), 4u);
  ASSERT_EQ(d.edges().size(), 3u);
  EXPECT_EQ(d.edges()[0],
            (DependencyObservations::Edge{"checkout", "payments", "call", "service"}));
  EXPECT_EQ(d.sightings()[2], (DependencyObservations::Sighting{0, 2, 12}));
  EXPECT_EQ(All(d), (std::vector<DependencyObservation>{
                        {"checkout", "payments", "call", "service", 1, 10},
                        {"checkout", "postgres", "db", "datastore", 1, 11},
                        {"checkout", "payments", "call", "service", 2, 12},
                        {"checkout", "payments", "call", "external", 3, 13}}));
  EXPECT_EQ(d[1], (DependencyObservation{"checkout", "postgres", "db", "datastore", 1, 11}));
}

TEST(DependencyObservations, ACopyKeepsFindingTheEdgesItHolds) {
  DependencyObservations d{{"a", "b", "call", "service", 1, 1}};
  DependencyObservations copy = d;
  copy.push_back({"a", "b", "call", "service", 2, 2});
  EXPECT_EQ(copy.edges().size(), 1u);
  EXPECT_EQ(copy.size(), 2u);
  EXPECT_EQ(d.size(), 1u);  // the original is untouched
  DependencyObservations moved = std::move(copy);
  moved.Add("a", "b", "call", "service", 3, 3);
  EXPECT_EQ(moved.edges().size(), 1u);
  EXPECT_EQ(moved.size(), 3u);
}

TEST(DependencyObservations, ClearAndAssignStartOver) {
  DependencyObservations d{{"a", "b", "call", "service", 1, 1},
                           {"a", "c", "db", "datastore", 1, 1}};
  d = {{"x", "y", "messaging", "queue", 9, 9}};
  EXPECT_EQ(All(d), (std::vector<DependencyObservation>{{"x", "y", "messaging", "queue", 9, 9}}));
  d.clear();
  EXPECT_TRUE(d.empty());
  EXPECT_TRUE(d.edges().empty());
  d.Add("x", "y", "messaging", "queue", 1, 1);
  EXPECT_EQ(d.sightings()[0].edge, 0u);
}

TEST(DependencyObservations, AnEdgeRewrittenIsFoundByItsNewText) {
  DependencyObservations d{{std::string("a\0", 2), "b", "call", "service", 1, 1}};
  d.RewriteEdges([](DependencyObservations::Edge& e) { std::erase(e.from_service, '\0'); });
  d.Add("a", "b", "call", "service", 2, 2);
  EXPECT_EQ(d.edges().size(), 1u);
  EXPECT_EQ(All(d), (std::vector<DependencyObservation>{{"a", "b", "call", "service", 1, 1},
                                                        {"a", "b", "call", "service", 2, 2}}));
  d.Add(std::string_view("a\0", 2), "b", "call", "service", 3, 3);  // the old text: a new edge
  EXPECT_EQ(d.edges().size(), 2u);
}

TEST(DependencyObservations, EqualWhenTheSameObservationsWereAddedInTheSameOrder) {
  DependencyObservations a{{"a", "b", "call", "service", 1, 1},
                           {"a", "b", "call", "service", 2, 2}};
  DependencyObservations b;
  b.Add("a", "b", "call", "service", 1, 1);
  EXPECT_NE(a, b);
  b.Add("a", "b", "call", "service", 2, 2);
  EXPECT_EQ(a, b);
}

}  // namespace
}  // namespace apmcov::store
