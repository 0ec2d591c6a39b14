// Nothing is lost: a process killed in the middle of saving leaves the
// previous file complete, because files are written to a temporary name and
// renamed over the old one.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "actgrad.h"
#include "nn/nn.h"

namespace actgrad {
namespace {

TEST(AtomicSaveTest, KillingASaveLeavesTheOldFileValid) {
  Generator gen(0);
  nn::MlpModel model;
  model.options = {
      .inputs = 64, .hidden = {512, 512}, .outputs = 10, .output_activation = &ops::kSoftmax};
  model.task = nn::Task::kMulticlass;
  model.feature_names.assign(64, "f");
  model.target_name = "label";
  model.scaler = nn::Scaler::Fit(nn::Scaling::kUnit, Uniform({4, 64}, 0, 1, gen));
  model.network = nn::Mlp(model.options, gen);
  const std::string path = ::testing::TempDir() + "/killed.safetensors";
  ASSERT_TRUE(nn::SaveMlpModel(path, model).ok());

  for (int round = 0; round < 20; ++round) {
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      // Saves over and over until killed.
      while (true) nn::SaveMlpModel(path, model).IgnoreError();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(3 + 7 * round % 23));
    kill(child, SIGKILL);
    int status = 0;
    waitpid(child, &status, 0);
    absl::StatusOr<nn::MlpModel> loaded = nn::LoadMlpModel(path);
    ASSERT_TRUE(loaded.ok()) << "round " << round << ": " << loaded.status();
  }
  // The child was always saving, so kills landed mid-write: their temporary
  // files are left behind, and the real file never suffered.
  int interrupted = 0;
  for (const auto& entry : std::filesystem::directory_iterator(::testing::TempDir())) {
    if (entry.path().filename().string().rfind("killed.safetensors.tmp", 0) == 0) {
      ++interrupted;
      std::filesystem::remove(entry.path());
    }
  }
  EXPECT_GT(interrupted, 0);
}

}  // namespace
}  // namespace actgrad
