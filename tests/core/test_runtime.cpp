#include <gtest/gtest.h>

#include "core/error.h"
#include "core/runtime.h"
#include "support/test_support.h"

namespace trilemma {
namespace {

// glibc must accept both allocator settings; a refused one would silently cost the
// 2.5x training speed measured in the README.
// (Under ASan there is no glibc malloc to tune: its mallopt() accepts nothing.)
TEST(Runtime, GlibcAcceptsTheAllocatorSettings) {
  if (testing::kAddressSanitizer) GTEST_SKIP() << "AddressSanitizer's allocator replaces glibc malloc";
  EXPECT_TRUE(keep_freed_memory());
}

TEST(Runtime, ResolvesDeviceNamesAndRejectsOthers) {
  EXPECT_EQ(resolve_device("cpu"), torch::Device(torch::kCPU));
  EXPECT_THROW(resolve_device("tpu"), UserError);
}

}  // namespace
}  // namespace trilemma
