// The progress display: redraws on a terminal at most ten times a second,
// and plain lines without carriage returns anywhere else.

#include <gtest/gtest.h>

#include <sstream>

#include "nn/progress_bar.h"

namespace actgrad::nn {
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

TEST(ProgressBarTest, AttachedToTheLoopItNamesEveryFigureAndKeepsEarlierCallbacks) {
  FakeClock clock;
  std::ostringstream out;
  ProgressBar bar(out, /*interactive=*/false, 2, clock.Get());
  TrainOptions options;
  options.metrics = {AccuracyMetric(), RmseMetric()};
  int epochs_seen = 0;
  options.on_epoch = [&](const EpochReport&) { ++epochs_seen; };
  bar.AttachTo(options);
  options.on_batch({.epoch = 0, .batch = 1, .batches = 1, .samples = 8, .metrics = {0.5, 0.1}});
  options.on_epoch({.epoch = 0,
                    .train_loss = 0.25,
                    .validation = Scores{.loss = 0.5, .metrics = {0.75, 0.125}},
                    .test = Scores{.loss = 0.375, .metrics = {0.875, 0.0625}},
                    .learning_rate = 0.01,
                    .best = true});
  EXPECT_EQ(epochs_seen, 1);
  EXPECT_NE(out.str().find("epoch 1/2  loss 0.2500  val_loss 0.5000  val_accuracy 0.7500  "
                           "val_rmse 0.1250  test_loss 0.3750  test_accuracy 0.8750  "
                           "test_rmse 0.0625  lr 0.01  best"),
            std::string::npos)
      << out.str();
}

}  // namespace
}  // namespace actgrad::nn
