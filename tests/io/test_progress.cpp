// The progress bar's "done in" is what a user reads to know how long sampling took; it
// must count the work done before the first update (one batch of images can be all of it).
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "io/progress.h"

using trilemma::io::ProgressBar;

TEST(ProgressBar, DoneInCountsTheWorkBeforeTheFirstUpdate) {
  ::testing::internal::CaptureStdout();
  ProgressBar bar("sampling", 200, 10);
  std::this_thread::sleep_for(std::chrono::milliseconds(1600));  // one batch of 200 images
  bar.update(200);
  bar.finish();
  const std::string out = ::testing::internal::GetCapturedStdout();
  EXPECT_NE(out.find("sampling done in 00:02"), std::string::npos) << out;
  EXPECT_EQ(out.find("ETA --:--"), std::string::npos) << out;
}

TEST(ProgressBar, ResumedPositionCountsOnlyTheNewWork) {
  ::testing::internal::CaptureStdout();
  ProgressBar bar("train", 1000, 1, 990);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  bar.update(991);  // 1 step in 0.1 s, 9 left: ETA about 1 s, not 0 (990 steps' worth)
  const std::string out = ::testing::internal::GetCapturedStdout();
  // (Up to 00:02 when the machine is busy and the sleep overshoots.)
  EXPECT_TRUE(out.find("ETA 00:01") != std::string::npos || out.find("ETA 00:02") != std::string::npos) << out;
}
