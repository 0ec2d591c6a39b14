// Outputs never destroy: an input, a device, a FIFO, a directory or a
// symbolic link is refused before any work, links are followed only when
// asked, and temporary files that killed writers left are cleaned up.

#include "io/output_path.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "io/file.h"

namespace actgrad::io {
namespace {

using ::testing::HasSubstr;

class OutputPathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           absl::StrCat("output_path_", ::getpid(), "_",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  // What a case made read-only is opened up again first, for a user whom
  // permissions bind.
  void TearDown() override {
    std::error_code ignored, error;
    std::filesystem::permissions(dir_, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::add, ignored);
    for (std::filesystem::recursive_directory_iterator it(dir_, error), end; !error && it != end;
         it.increment(error)) {
      if (!it->is_symlink()) {
        std::filesystem::permissions(it->path(), std::filesystem::perms::owner_all,
                                     std::filesystem::perm_options::add, ignored);
      }
    }
    std::filesystem::remove_all(dir_, ignored);
  }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }
  void Write(const std::string& name, const std::string& text) const {
    std::ofstream(Path(name)) << text;
  }
  std::string Error(const std::string& path, const OutputCheck& check = {}) const {
    absl::StatusOr<std::string> target = CheckOutputPath(path, "--save", check);
    return target.ok() ? "" : std::string(target.status().message());
  }

  std::filesystem::path dir_;
};

TEST_F(OutputPathTest, ANewFileOrARegularOneMayBeWritten) {
  EXPECT_EQ(Error(Path("new.safetensors")), "");
  Write("old.safetensors", "x");
  EXPECT_EQ(Error(Path("old.safetensors")), "");
}

TEST_F(OutputPathTest, AnInputIsRefusedByInodeWhateverItIsCalled) {
  Write("data.csv", "a,b\n1,2\n");
  std::filesystem::create_hard_link(Path("data.csv"), Path("alias.csv"));
  const OutputCheck check{.inputs = {Path("data.csv")}};
  EXPECT_THAT(Error(Path("data.csv"), check), HasSubstr("is one of this command's inputs"));
  EXPECT_THAT(Error(dir_.string() + "/./data.csv", check),
              HasSubstr("one of this command's inputs"));
  EXPECT_THAT(Error(Path("alias.csv"), check), HasSubstr("one of this command's inputs"));
}

TEST_F(OutputPathTest, WhatIsNotARegularFileIsRefused) {
  EXPECT_THAT(Error("/dev/null"), HasSubstr("--save /dev/null: exists and is a character device"));
  ASSERT_EQ(::mkfifo(Path("fifo").c_str(), 0644), 0);
  EXPECT_THAT(Error(Path("fifo")), HasSubstr("exists and is a FIFO, not a regular file"));
  EXPECT_THAT(Error(dir_.string()), HasSubstr("exists and is a directory"));
}

TEST_F(OutputPathTest, ALinkIsRefusedUnlessFollowedAndThenItsTargetIsChecked) {
  Write("data.csv", "a,b\n1,2\n");
  std::filesystem::create_symlink("data.csv", Path("link"));
  std::filesystem::create_symlink("missing.st", Path("dangling"));
  EXPECT_THAT(Error(Path("link")), HasSubstr("is a symbolic link; refusing to replace it"));
  EXPECT_THAT(Error(Path("link"), {.inputs = {Path("data.csv")}, .follow_symlinks = true}),
              HasSubstr("one of this command's inputs"));
  absl::StatusOr<std::string> target =
      CheckOutputPath(Path("dangling"), "--save", {.follow_symlinks = true});
  ASSERT_TRUE(target.ok()) << target.status();
  EXPECT_EQ(*target, dir_.string() + "/missing.st");
  std::filesystem::create_symlink("loop_b", Path("loop_a"));
  std::filesystem::create_symlink("loop_a", Path("loop_b"));
  EXPECT_THAT(Error(Path("loop_a"), {.follow_symlinks = true}),
              HasSubstr("too many levels of symbolic links"));
}

TEST_F(OutputPathTest, AMissingOrReadOnlyDirectoryIsFoundBeforeTheWork) {
  absl::StatusOr<std::string> missing = CheckOutputPath(Path("nowhere/m.st"), "--save");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("does not exist"));
  if (::geteuid() != 0) {  // root writes anywhere
    std::filesystem::create_directories(Path("ro"));
    std::filesystem::permissions(
        Path("ro"), std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec);
    EXPECT_THAT(Error(Path("ro/m.st")), HasSubstr("cannot write in its directory"));
  }
}

TEST_F(OutputPathTest, DirectoriesForReports) {
  Write("file", "x");
  EXPECT_TRUE(CheckOutputDirectory(Path("report"), "--report").ok());
  EXPECT_TRUE(CheckOutputDirectory(dir_.string(), "--report").ok());
  EXPECT_THAT(std::string(CheckOutputDirectory(Path("file"), "--report").status().message()),
              HasSubstr("exists and is a regular file, not a directory"));
}

TEST_F(OutputPathTest, AtomicWritesRefuseLinksAndDevicesThemselves) {
  Write("data.csv", "keep me");
  std::filesystem::create_symlink("data.csv", Path("link"));
  const absl::string_view pieces[] = {"model"};
  const absl::Status through_link = WriteFileAtomically(Path("link"), pieces);
  EXPECT_THAT(std::string(through_link.message()), HasSubstr("is a symbolic link; refusing"));
  EXPECT_TRUE(std::filesystem::is_symlink(Path("link")));
  ASSERT_EQ(::mkfifo(Path("fifo").c_str(), 0644), 0);
  EXPECT_FALSE(WriteFileAtomically(Path("fifo"), pieces).ok());
  std::ifstream in(Path("data.csv"));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "keep me");
}

TEST_F(OutputPathTest, TemporaryFilesOfDeadWritersAreRemovedByTheNextWrite) {
  // A pid above the kernel's maximum never runs; pid 1 always does.
  Write("m.st.tmp-4194305", "half a model");
  Write("m.st.tmp-1", "someone else's");
  Write("m.st.tmp-abc", "not ours");
  Write("other.st.tmp-4194305", "another target's");
  const absl::string_view pieces[] = {"model"};
  ASSERT_TRUE(WriteFileAtomically(Path("m.st"), pieces).ok());
  EXPECT_FALSE(std::filesystem::exists(Path("m.st.tmp-4194305")));
  EXPECT_TRUE(std::filesystem::exists(Path("m.st.tmp-1")));
  EXPECT_TRUE(std::filesystem::exists(Path("m.st.tmp-abc")));
  EXPECT_TRUE(std::filesystem::exists(Path("other.st.tmp-4194305")));
}

}  // namespace
}  // namespace actgrad::io
