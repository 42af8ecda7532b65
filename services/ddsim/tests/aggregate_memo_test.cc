// AggregateMemo (pure): pieces keyed by shape and bucket, interned keys, and both bounds.
#include "ddsim/http/aggregate_memo.h"

#include "gtest/gtest.h"

namespace apmcov::ddsim {
namespace {

AggregateMemo::Tallies OneKey(const std::string& service, int64_t own, int64_t next) {
  AggregateMemo::Tallies t;
  t[{service}] = {own, next};
  return t;
}

TEST(AggregateMemoTest, APieceSplitsItsCountsBySecondAndSharesItsKeys) {
  AggregateMemo memo(10, 2);
  EXPECT_EQ(memo.Find("*", 7), nullptr);
  AggregateMemo::Tallies t = OneKey("a", 3, 0);
  t[{"b"}] = {1, 2};
  auto piece = memo.Store("*", 7, t);
  ASSERT_NE(piece, nullptr);
  EXPECT_EQ(memo.Find("*", 7), piece);
  EXPECT_EQ(piece->by_second[0].size(), 2u);
  ASSERT_EQ(piece->by_second[1].size(), 1u);  // a zero count is not kept
  EXPECT_EQ(*piece->by_second[1][0].first, AggregateMemo::Key{"b"});
  EXPECT_EQ(piece->by_second[1][0].second, 2);
  // The same key in another bucket of the shape is the same interned key.
  auto other = memo.Store("*", 8, OneKey("b", 5, 0));
  const AggregateMemo::Key* b7 = nullptr;
  for (const auto& [k, n] : piece->by_second[0]) {
    if (*k == AggregateMemo::Key{"b"}) b7 = k.get();
  }
  EXPECT_EQ(other->by_second[0][0].first.get(), b7);
  EXPECT_EQ(memo.Find("env:prod", 7), nullptr) << "another shape";
}

TEST(AggregateMemoTest, KeepsTheNewestBucketsOfAShapeAndTheRecentShapes) {
  AggregateMemo memo(3, 2);
  for (int64_t b = 1; b <= 5; ++b) memo.Store("*", b, OneKey("a", b, 0));
  EXPECT_EQ(memo.Find("*", 1), nullptr);
  EXPECT_EQ(memo.Find("*", 2), nullptr);
  for (int64_t b = 3; b <= 5; ++b) EXPECT_NE(memo.Find("*", b), nullptr) << b;
  // An older bucket stored late is kept (it was just asked for); the oldest other one goes.
  memo.Store("*", 1, OneKey("a", 1, 0));
  EXPECT_NE(memo.Find("*", 1), nullptr);
  EXPECT_EQ(memo.Find("*", 3), nullptr);
  EXPECT_EQ(memo.pieces(), 3u);

  memo.Store("q2", 1, OneKey("a", 1, 0));
  (void)memo.Find("*", 4);                 // "*" used last
  memo.Store("q3", 1, OneKey("a", 1, 0));  // a third shape: q2, the least recent, goes
  EXPECT_EQ(memo.Find("q2", 1), nullptr);
  EXPECT_NE(memo.Find("*", 4), nullptr);
  EXPECT_NE(memo.Find("q3", 1), nullptr);
}

TEST(AggregateMemoTest, APieceOutlivesItsEvictedShape) {
  AggregateMemo memo(10, 1);
  auto piece = memo.Store("*", 1, OneKey("a", 4, 0));
  memo.Store("q2", 1, OneKey("z", 1, 0));  // evicts "*"
  EXPECT_EQ(memo.Find("*", 1), nullptr);
  ASSERT_EQ(piece->by_second[0].size(), 1u);
  EXPECT_EQ(*piece->by_second[0][0].first, AggregateMemo::Key{"a"});
}

}  // namespace
}  // namespace apmcov::ddsim
