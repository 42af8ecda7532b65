#include <pthread.h>

#include <string>
#include <thread>

#include "apmcov/base/process.h"
#include "gtest/gtest.h"

namespace apmcov {
namespace {

std::string NameOf(pthread_t thread) {
  char buf[64] = {};
  EXPECT_EQ(pthread_getname_np(thread, buf, sizeof(buf)), 0);
  return buf;
}

TEST(NameThisThreadTest, NamesTheCallingThreadOnly) {
  const std::string before = NameOf(pthread_self());
  std::string inside;
  std::thread t([&] {
    NameThisThread("pg-writer");
    inside = NameOf(pthread_self());
  });
  t.join();
  EXPECT_EQ(inside, "pg-writer");
  EXPECT_EQ(NameOf(pthread_self()), before);
}

TEST(NameThisThreadTest, CutsANameToTheKernelsFifteenBytes) {
  std::string inside;
  std::thread t([&] {
    NameThisThread("a-name-longer-than-fifteen-bytes");
    inside = NameOf(pthread_self());
  });
  t.join();
  EXPECT_EQ(inside, "a-name-longer-t");
}

}  // namespace
}  // namespace apmcov
