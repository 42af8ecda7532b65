// An allocator for the analyzer core's large arrays (the assembler's span slab and trace
// table): a block of 2 MiB or more is 2 MiB-aligned and marked for transparent huge pages
// (madvise), so that reading spans at random across tens of megabytes does not miss the TLB
// at nearly every read where the kernel's THP mode is `madvise` (as on the development
// machines). Smaller blocks come from operator new. Where the kernel has no THP the advice is
// ignored and the memory is ordinary.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace apmcov::coverage {

template <class T>
struct HugePageAllocator {
  using value_type = T;
  static constexpr size_t kHugePage = size_t{2} << 20;

  HugePageAllocator() = default;
  template <class U>
  explicit HugePageAllocator(const HugePageAllocator<U>&) {}

  T* allocate(size_t n) {
    if (n > SIZE_MAX / sizeof(T)) throw std::bad_array_new_length();
    const size_t bytes = n * sizeof(T);
    if (bytes < kHugePage) return static_cast<T*>(::operator new(bytes));
    const size_t rounded = (bytes + kHugePage - 1) / kHugePage * kHugePage;
    void* p = std::aligned_alloc(kHugePage, rounded);
    if (p == nullptr) throw std::bad_alloc();
    madvise(p, rounded, MADV_HUGEPAGE);  // advice only: no error to handle
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t n) {
    if (n * sizeof(T) < kHugePage) {
      ::operator delete(p);
    } else {
      std::free(p);
    }
  }
  bool operator==(const HugePageAllocator&) const { return true; }
};

}  // namespace apmcov::coverage
