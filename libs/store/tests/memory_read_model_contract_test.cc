#include "apmcov/store/memory_read_model.h"
#include "apmcov/store/memory_store.h"
#include "read_model_contract.h"

namespace apmcov::store::testing {
namespace {

class MemoryHarness {
 public:
  absl::Status SetUp() { return absl::OkStatus(); }
  CoverageStore& store() { return store_; }
  ReadModel& read_model() { return model_; }

 private:
  MemoryCoverageStore store_;
  MemoryReadModel model_{store_};
};

INSTANTIATE_TYPED_TEST_SUITE_P(Memory, ReadModelContract, MemoryHarness);

TEST(MemoryReadModelTest, AnUnavailableStoreFailsEveryRead) {
  MemoryCoverageStore store;
  MemoryReadModel model(store);
  store.SetUnavailable(true);
  EXPECT_EQ(model.Ping().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(model.LoadCatalog().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(model.ListDependencies("", std::nullopt, 10).status().code(),
            absl::StatusCode::kUnavailable);
  store.SetUnavailable(false);
  EXPECT_TRUE(model.Ping().ok());
}

}  // namespace
}  // namespace apmcov::store::testing
