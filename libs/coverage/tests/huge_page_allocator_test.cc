#include "apmcov/coverage/huge_page_allocator.h"

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"

namespace apmcov::coverage {
namespace {

TEST(HugePageAllocatorTest, LargeBlocksAreHugePageAlignedAndKeepTheirContentsAcrossGrowth) {
  std::vector<uint64_t, HugePageAllocator<uint64_t>> v;
  for (uint64_t i = 0; i < 1'000'000; ++i) v.push_back(i * 7);  // 8 MB: several reallocations
  EXPECT_EQ(reinterpret_cast<uintptr_t>(v.data()) % HugePageAllocator<uint64_t>::kHugePage, 0u);
  for (uint64_t i = 0; i < v.size(); ++i) ASSERT_EQ(v[i], i * 7) << i;
  std::vector<uint64_t, HugePageAllocator<uint64_t>> small(16, 3);  // from operator new
  EXPECT_EQ(small[15], 3u);
  v.clear();
  v.shrink_to_fit();  // a large block given back, then a small one
  EXPECT_EQ(v.capacity(), 0u);
}

}  // namespace
}  // namespace apmcov::coverage
