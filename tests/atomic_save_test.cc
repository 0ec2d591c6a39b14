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

#include "absl/strings/str_cat.h"
#include "actgrad.h"
#include "nn/nn.h"
#include "tests/test_util.h"

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
  const std::string path = testing::TempPath("killed.safetensors");
  ASSERT_TRUE(nn::SaveMlpModel(path, model).ok());

  int interrupted = 0;
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
    // A kill that landed mid-write left the child's temporary file (the
    // next save removes it, its writer being dead).
    interrupted += std::filesystem::exists(absl::StrCat(path, ".tmp-", child));
  }
  // The child was always saving, so kills landed mid-write, and the real
  // file never suffered.
  EXPECT_GT(interrupted, 0);
  ASSERT_TRUE(nn::SaveMlpModel(path, model).ok());
  const std::string temporary = std::filesystem::path(path).filename().string() + ".tmp";
  for (const auto& entry : std::filesystem::directory_iterator(::testing::TempDir())) {
    EXPECT_NE(entry.path().filename().string().rfind(temporary, 0), 0u)
        << entry.path() << " outlived its writer";
  }
}

}  // namespace
}  // namespace actgrad
