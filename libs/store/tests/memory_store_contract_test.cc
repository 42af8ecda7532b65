#include "apmcov/store/memory_store.h"
#include "coverage_store_contract.h"

namespace apmcov::store::testing {
namespace {

class MemoryHarness {
 public:
  absl::Status SetUp() { return absl::OkStatus(); }
  CoverageStore& store() { return store_; }

 private:
  MemoryCoverageStore store_;
};

INSTANTIATE_TYPED_TEST_SUITE_P(Memory, CoverageStoreContract, MemoryHarness);

TEST(MemoryCoverageStoreTest, FailNextApplyChangesNothingThenRecovers) {
  MemoryCoverageStore store;
  store.FailNextApply(absl::UnavailableError("down"));
  WriteBatch b;
  b.catalog_services = {Svc("s1", "a", kT0)};
  EXPECT_EQ(store.Apply(b).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(store.LoadServices(true)->empty());
  EXPECT_TRUE(store.Apply(b).ok());
  EXPECT_EQ(store.LoadServices(true)->size(), 1u);
  EXPECT_EQ(store.apply_count(), 1);
  store.SetUnavailable(true);
  EXPECT_EQ(store.Ping().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(store.LoadServices(true).status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace apmcov::store::testing
