#include <pthread.h>

#include <string>
#include <string_view>
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

// The name a new thread reads back after naming itself `name`.
std::string NamedInANewThread(std::string_view name) {
  std::string read_back;
  std::thread t([&] {
    NameThisThread(name);
    read_back = NameOf(pthread_self());
  });
  t.join();
  return read_back;
}

TEST(NameThisThreadTest, NamesTheCallingThreadOnly) {
  const std::string before = NameOf(pthread_self());
  EXPECT_EQ(NamedInANewThread("pg-writer"), "pg-writer");
  EXPECT_EQ(NameOf(pthread_self()), before);
}

TEST(NameThisThreadTest, CutsANameToTheKernelsFifteenBytes) {
  EXPECT_EQ(NamedInANewThread("a-name-longer-than-fifteen-bytes"), "a-name-longer-t");
}

}  // namespace
}  // namespace apmcov
