// The architecture as a test: every #include of every room (top-level
// folder of the library) must be allowed by the table in docs/layers.md.
// The scanner is tested on small trees of its own too, so that a checker
// that finds nothing cannot pass unnoticed.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

// Folders that use the library without being part of it.
const std::set<std::string> kClients = {"tests", "bench", "examples", "fuzz"};
// Folders without C++ sources of the library (or not the project's own).
const std::set<std::string> kNotCode = {"build", "cmake", "data", "docs", "scripts", ".git", ".ci"};
constexpr char kCompat[] = "compat";

struct LayerTable {
  std::map<std::string, std::set<std::string>> allowed;  // room -> rooms it may include
  std::map<std::string, std::string> main_file;          // room -> "check/gradcheck.h"
};

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Rows "| room | a, b | `room/main.h` | ... |" after the header row
// "| room | may include | main file |".
absl::StatusOr<LayerTable> ParseLayerTable(const std::string& text) {
  LayerTable table;
  bool in_table = false;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (!absl::StartsWith(line, "|")) {
      in_table = false;
      continue;
    }
    std::vector<std::string> cells = absl::StrSplit(line, '|');
    for (std::string& cell : cells) absl::StripAsciiWhitespace(&cell);
    if (cells.size() < 5) continue;
    if (cells[1] == "room" && cells[2] == "may include" && cells[3] == "main file") {
      in_table = true;
      continue;
    }
    if (!in_table || absl::StartsWith(cells[1], "---")) continue;
    table.main_file[cells[1]] =
        std::string(absl::StripSuffix(absl::StripPrefix(cells[3], "`"), "`"));
    std::set<std::string>& allowed = table.allowed[cells[1]];
    for (absl::string_view dep : absl::StrSplit(cells[2], ',', absl::SkipWhitespace())) {
      allowed.insert(std::string(absl::StripAsciiWhitespace(dep)));
    }
  }
  if (table.allowed.empty()) {
    return absl::InvalidArgumentError("no \"| room | may include |\" table found");
  }
  for (const auto& [room, deps] : table.allowed) {
    for (const std::string& dep : deps) {
      if (!table.allowed.contains(dep)) {
        return absl::InvalidArgumentError(
            absl::StrCat("room ", room, " may include \"", dep, "\", which is not a room"));
      }
    }
  }
  // A circle would make two rooms one: refuse it, naming the circle.
  std::map<std::string, int> state;  // 0 unvisited, 1 on the path, 2 done
  std::vector<std::string> path;
  std::string circle;
  std::function<bool(const std::string&)> visit = [&](const std::string& room) {
    state[room] = 1;
    path.push_back(room);
    for (const std::string& dep : table.allowed[room]) {
      if (state[dep] == 1) {
        auto from = std::find(path.begin(), path.end(), dep);
        circle = absl::StrCat(absl::StrJoin(from, path.end(), " -> "), " -> ", dep);
        return false;
      }
      if (state[dep] == 0 && !visit(dep)) return false;
    }
    path.pop_back();
    state[room] = 2;
    return true;
  };
  for (const auto& [room, deps] : table.allowed) {
    if (state[room] == 0 && !visit(room)) {
      return absl::InvalidArgumentError(absl::StrCat("the rooms include each other: ", circle));
    }
  }
  return table;
}

// Whether the leading comment of `path` has a line "// ROOM/ ...": the main
// file of a room opens by saying what the room is for.
bool OpensWithRoom(const fs::path& path, const std::string& room) {
  std::istringstream lines(ReadFile(path));
  std::string line;
  while (std::getline(lines, line) && absl::StartsWith(line, "//")) {
    if (absl::StartsWith(line, absl::StrCat("// ", room, "/ "))) return true;
  }
  return false;
}

// "graph/apply.cc:11: includes \"ops/kernels.h\" ..." for each include the
// table does not allow, for folders the table does not know, and for main
// files that are missing or do not say what their room is for.
std::vector<std::string> ScanTree(const fs::path& root, const LayerTable& table) {
  std::vector<std::string> violations;
  auto allowed_list = [&](const std::string& room) {
    const std::set<std::string>& deps = table.allowed.at(room);
    return deps.empty() ? std::string("nothing outside itself")
                        : absl::StrCat("only ", absl::StrJoin(deps, ", "));
  };
  std::vector<fs::path> top;
  for (const fs::directory_entry& entry : fs::directory_iterator(root)) top.push_back(entry.path());
  std::sort(top.begin(), top.end());
  for (const fs::path& folder : top) {
    const std::string room = folder.filename().string();
    if (!fs::is_directory(folder) || kNotCode.contains(room) || kClients.contains(room) ||
        room == kCompat || absl::StartsWith(room, ".")) {
      continue;
    }
    if (!table.allowed.contains(room)) {
      violations.push_back(absl::StrCat(room, "/: a folder that docs/layers.md does not place"));
      continue;
    }
    const std::string& main_file = table.main_file.at(room);
    if (!fs::is_regular_file(root / main_file)) {
      violations.push_back(absl::StrCat(main_file, ": the main file of ", room, " is missing"));
    } else if (!OpensWithRoom(root / main_file, room)) {
      violations.push_back(absl::StrCat(main_file, ": its leading comment does not say what ", room,
                                        "/ is for (a line \"// ", room, "/ ...\")"));
    }
    std::vector<fs::path> files;
    for (const fs::directory_entry& entry : fs::recursive_directory_iterator(folder)) {
      const std::string ext = entry.path().extension().string();
      if (entry.is_regular_file() && (ext == ".h" || ext == ".cc")) files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    for (const fs::path& file : files) {
      const std::string name = fs::relative(file, root).string();
      std::istringstream lines(ReadFile(file));
      std::string line;
      for (int number = 1; std::getline(lines, line); ++number) {
        absl::string_view rest = absl::StripLeadingAsciiWhitespace(line);
        if (!absl::ConsumePrefix(&rest, "#")) continue;
        rest = absl::StripLeadingAsciiWhitespace(rest);
        if (!absl::ConsumePrefix(&rest, "include")) continue;
        rest = absl::StripLeadingAsciiWhitespace(rest);
        if (!absl::ConsumePrefix(&rest, "\"")) continue;  // <system> headers
        const std::string header(rest.substr(0, rest.find('"')));
        const std::string where = absl::StrCat(name, ":", number, ": includes \"", header, "\"");
        const std::string first = header.substr(0, header.find('/'));
        if (header.find('/') == std::string::npos) {
          // A header beside the file is its own room's; one at the root
          // (actgrad.h) is the umbrella for clients.
          if (fs::exists(root / header) && !fs::exists(file.parent_path() / header)) {
            violations.push_back(absl::StrCat(where, ", the umbrella header; ", room,
                                              " may include ", allowed_list(room),
                                              " (docs/layers.md)"));
          }
          continue;
        }
        if (first == kCompat ||
            (!fs::exists(root / header) && fs::exists(root / kCompat / header))) {
          violations.push_back(absl::StrCat(where,
                                            ", a forwarding header in compat/; include "
                                            "the header it forwards to"));
          continue;
        }
        if (kClients.contains(first)) {
          violations.push_back(absl::StrCat(where, ", from ", first, "/, which uses the library; ",
                                            room, " may include ", allowed_list(room)));
          continue;
        }
        if (!table.allowed.contains(first)) continue;  // absl/, boost/, ...: not ours
        if (first == room || table.allowed.at(room).contains(first)) continue;
        violations.push_back(absl::StrCat(where, ", but ", room, " may include ",
                                          allowed_list(room), " (docs/layers.md)"));
      }
    }
  }
  return violations;
}

LayerTable ProjectTable() {
  absl::StatusOr<LayerTable> table =
      ParseLayerTable(ReadFile(fs::path(ACTGRAD_SOURCE_DIR) / "docs" / "layers.md"));
  EXPECT_TRUE(table.ok()) << table.status();
  return table.ok() ? *table : LayerTable{};
}

// A scratch tree with the given files, removed at the end of the test.
class ScratchTree {
 public:
  explicit ScratchTree(const std::map<std::string, std::string>& files)
      : root_(fs::temp_directory_path() /
              absl::StrCat("layering_test_",
                           ::testing::UnitTest::GetInstance()->current_test_info()->name())) {
    fs::remove_all(root_);
    for (const auto& [name, text] : files) {
      fs::create_directories((root_ / name).parent_path());
      std::ofstream(root_ / name) << text;
    }
  }
  ~ScratchTree() { fs::remove_all(root_); }
  const fs::path& root() const { return root_; }

 private:
  fs::path root_;
};

TEST(LayeringTest, EveryIncludeOfTheProjectIsAllowedByTheTable) {
  const LayerTable table = ProjectTable();
  ASSERT_TRUE(table.allowed.contains("graph"));
  EXPECT_THAT(table.allowed.at("graph"), IsEmpty()) << "the ground floor includes nothing";
  const std::vector<std::string> violations = ScanTree(ACTGRAD_SOURCE_DIR, table);
  EXPECT_THAT(violations, IsEmpty()) << absl::StrJoin(violations, "\n");
}

TEST(LayeringTest, AnUpwardIncludeIsReportedWithFileAndLine) {
  const ScratchTree tree({
      {"graph/apply.cc", "#include \"graph/tensor.h\"\n\n#include \"ops/kernels.h\"\n"},
      {"graph/tensor.h", "// graph/ is the ground floor.\n"},
      {"ops/kernels.h", "#include \"graph/tensor.h\"\n"},
      {"ops/functional.h", "// ops/ is the op table.\n"},
      {"nn/module.cc", "  #  include \"profile/profiler.h\"  // a peer it may not use\n"},
      {"nn/nn.h", "// nn/ is the first use.\n"},
      {"profile/profiler.h", "// profile/ is the third use.\n"},
  });
  const std::vector<std::string> violations = ScanTree(tree.root(), ProjectTable());
  ASSERT_THAT(violations, SizeIs(2)) << absl::StrJoin(violations, "\n");
  EXPECT_THAT(violations[0], HasSubstr("graph/apply.cc:3: includes \"ops/kernels.h\""));
  EXPECT_THAT(violations[0], HasSubstr("graph may include nothing outside itself"));
  EXPECT_THAT(violations[1], HasSubstr("nn/module.cc:1: includes \"profile/profiler.h\""));
  EXPECT_THAT(violations[1], HasSubstr("nn may include only graph, io, ops, optim"));
}

TEST(LayeringTest, CommentsSystemHeadersAndOutsideLibrariesAreNotIncludes) {
  const ScratchTree tree({
      {"graph/a.cc",
       "// #include \"ops/kernels.h\" is how an op would do it\n#include <vector>\n"
       "#include \"absl/strings/str_cat.h\"\n#include \"b.h\"\n"},
      {"graph/b.h", "\n"},
      {"graph/tensor.h", "// -----\n// File: tensor.h\n//\n// graph/ is the ground floor.\n"},
  });
  EXPECT_THAT(ScanTree(tree.root(), ProjectTable()), IsEmpty());
}

TEST(LayeringTest, ForwardingHeadersClientsAndTheUmbrellaAreRefusedToRooms) {
  const ScratchTree tree({
      {"compat/graph/gradcheck.h", "#include \"check/gradcheck.h\"\n"},
      {"check/gradcheck.h", "// check/ is the second use.\n"},
      {"actgrad.h", "\n"},
      {"ops/a.cc",
       "#include \"graph/gradcheck.h\"\n#include \"actgrad.h\"\n"
       "#include \"tests/test_util.h\"\n"},
      {"ops/functional.h", "// ops/ is the op table.\n"},
      {"tests/test_util.h", "#include \"compat/graph/gradcheck.h\"\n"},
  });
  const std::vector<std::string> violations = ScanTree(tree.root(), ProjectTable());
  ASSERT_THAT(violations, SizeIs(3)) << absl::StrJoin(violations, "\n");
  EXPECT_THAT(violations[0], HasSubstr("ops/a.cc:1: includes \"graph/gradcheck.h\", a forwarding"));
  EXPECT_THAT(violations[1], HasSubstr("ops/a.cc:2: includes \"actgrad.h\", the umbrella"));
  EXPECT_THAT(violations[2], HasSubstr("ops/a.cc:3: includes \"tests/test_util.h\""));
}

TEST(LayeringTest, EveryRoomsMainFileSaysWhatTheRoomIsFor) {
  const ScratchTree tree({
      {"ops/kernels.h", "\n"},  // and no ops/functional.h
      {"check/gradcheck.h", "// Compares gradients.\n// check is here.\n"},
      {"nn/nn.h", "// nn/ is the first use.\n"},
  });
  const std::vector<std::string> violations = ScanTree(tree.root(), ProjectTable());
  ASSERT_THAT(violations, SizeIs(2)) << absl::StrJoin(violations, "\n");
  EXPECT_THAT(violations[0], HasSubstr("check/gradcheck.h: its leading comment does not say"));
  EXPECT_THAT(violations[1], HasSubstr("ops/functional.h: the main file of ops is missing"));
}

TEST(LayeringTest, AFolderTheTableDoesNotPlaceIsReported) {
  const ScratchTree tree(
      std::map<std::string, std::string>{{"kernels2/fast.cc", "#include \"graph/tensor.h\"\n"}});
  const std::vector<std::string> violations = ScanTree(tree.root(), ProjectTable());
  ASSERT_THAT(violations, SizeIs(1));
  EXPECT_THAT(violations[0], HasSubstr("kernels2/: a folder that docs/layers.md does not place"));
}

TEST(LayeringTest, TablesThatCannotBeTheArchitectureAreRefused) {
  const std::string header =
      "| room | may include | main file | what |\n| --- | --- | --- | --- |\n";
  absl::StatusOr<LayerTable> circle = ParseLayerTable(
      header + "| graph | ops | g.h | x |\n| ops | nn | o.h | x |\n| nn | graph | n.h | x |\n");
  ASSERT_FALSE(circle.ok());
  EXPECT_THAT(circle.status().message(), HasSubstr("graph -> ops -> nn -> graph"));
  absl::StatusOr<LayerTable> unknown = ParseLayerTable(header + "| graph | gpu | g.h | x |\n");
  ASSERT_FALSE(unknown.ok());
  EXPECT_THAT(unknown.status().message(), HasSubstr("\"gpu\", which is not a room"));
  EXPECT_FALSE(ParseLayerTable("no table here\n").ok());
  absl::StatusOr<LayerTable> good =
      ParseLayerTable(header + "| graph | | `graph/t.h` | x |\n| ops | graph | `ops/f.h` | x |\n");
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_THAT(good->allowed.at("ops"), ::testing::ElementsAre("graph"));
  EXPECT_EQ(good->main_file.at("ops"), "ops/f.h");
}

}  // namespace
