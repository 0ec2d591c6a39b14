// The progress display: redraws on a terminal at most ten times a second,
// and plain lines without carriage returns anywhere else.

#include "tools/progress.h"

#include <gtest/gtest.h>

#include <sstream>

namespace actgrad::tools {
namespace {

struct FakeClock {
  std::chrono::steady_clock::time_point now{};
  ProgressBar::Clock Get() {
    return [this] { return now; };
  }
};

TEST(ProgressBarTest, PlainLinesWhenNotATerminal) {
  FakeClock clock;
  std::ostringstream out;
  ProgressBar bar(out, /*interactive=*/false, 2, clock.Get());
  for (int b = 1; b <= 10; ++b) {
    clock.now += std::chrono::seconds(1);
    bar.Update(0, b, 10, b * 32, 0.5);
  }
  bar.EndEpoch(0, "loss 0.5000");
  const std::string text = out.str();
  EXPECT_EQ(text.find('\r'), std::string::npos);
  EXPECT_EQ(text, "epoch 1/2  loss 0.5000  (10.000 s)\n");
}

TEST(ProgressBarTest, RedrawsAtMostTenTimesASecondOnATerminal) {
  FakeClock clock;
  std::ostringstream out;
  ProgressBar bar(out, /*interactive=*/true, 1, clock.Get());
  for (int b = 1; b <= 100; ++b) {
    clock.now += std::chrono::milliseconds(10);  // 100 batches in one second
    bar.Update(0, b, 100, b * 32, 0.25, 0.875);
  }
  const std::string text = out.str();
  const size_t redraws = std::count(text.begin(), text.end(), '\r');
  EXPECT_GE(redraws, 9u);
  EXPECT_LE(redraws, 11u);  // ten by the clock, plus the final batch
  EXPECT_NE(text.find("100/100"), std::string::npos);
  EXPECT_NE(text.find("3200 samples/s"), std::string::npos);
  EXPECT_NE(text.find("acc 0.875"), std::string::npos);
  bar.EndEpoch(0, "done");
  EXPECT_EQ(out.str().back(), '\n');
}

}  // namespace
}  // namespace actgrad::tools
