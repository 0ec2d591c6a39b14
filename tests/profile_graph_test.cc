// The profiler's DOT graph (profile/graph_dot.h): parameters under their
// names, op nodes with their layer and times inside them, the legend, and a
// file that GraphViz renders.

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "actgrad.h"
#include "nn/nn.h"
#include "profile/graph_dot.h"
#include "tests/test_util.h"

namespace actgrad {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// scripts/setup.sh installs graphviz, so a missing dot is a broken setup,
// not a reason to skip.
constexpr char kDot[] = "/usr/bin/dot";

std::string ReadFile(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

std::string Micros(int64_t ns) { return absl::StrFormat("%.1f µs", double(ns) / 1e3); }

// The statement that draws node `node`: "\n<node>[...]".
// Each case's files are its own: ctest runs the cases of this binary as
// separate processes at once.
using testing::TempPath;

std::string NodeLine(const std::string& dot, uint32_t node) {
  const std::string start = absl::StrCat("\n", node, "[");
  const size_t at = dot.find(start);
  if (at == std::string::npos) return "";
  return dot.substr(at + 1, dot.find('\n', at + 1) - at - 1);
}

// One profiled training step of a 4-8-3 MLP (Linear, Tanh, Linear) on a
// batch of 16, its graph written with the parameters' names.
struct ProfiledGraph {
  Generator gen{0};
  nn::Sequential model;
  Profile profile;
  Tensor loss;
  std::string path = TempPath("profile_graph.dot");
  std::string dot;

  explicit ProfiledGraph(const std::string& title = "median over 1 profiled step") {
    model.Add(std::make_unique<nn::Linear>(nn::LinearOptions{.in = 4, .out = 8}, gen));
    model.Add(std::make_unique<nn::Activation>(ops::kTanh));
    model.Add(std::make_unique<nn::Linear>(nn::LinearOptions{.in = 8, .out = 3}, gen));
    const Tensor x = Normal({16, 4}, 0, 1, gen);
    const Tensor labels = Labels(std::vector<int64_t>(16, 2));
    {
      Profiler profiler(&profile);
      loss = CrossEntropy(model(x), labels);
      loss.Backward();
    }
    const absl::Status written = WriteProfileDot(profile, loss, model.StateDict(), path, title);
    EXPECT_TRUE(written.ok()) << written;
    dot = ReadFile(path);
  }
};

TEST(ProfileGraphTest, ParametersAppearUnderTheirNamesWithTheirShapes) {
  ProfiledGraph g;
  EXPECT_THAT(g.dot, HasSubstr("<B>0.weight</B> [8,4]"));
  EXPECT_THAT(g.dot, HasSubstr("<B>0.bias</B> [8]"));
  EXPECT_THAT(g.dot, HasSubstr("<B>2.weight</B> [3,8]"));
  EXPECT_THAT(g.dot, HasSubstr("<B>2.bias</B> [3]"));
  // Every leaf of the graph is a parameter, so none keeps the plain label.
  EXPECT_THAT(g.dot, Not(HasSubstr("requires_grad")));
  // Their gradients' accumulation, timed, goes in their node.
  for (const OpRecord& r : g.profile.records()) {
    if (r.op != "accumulate_grad") continue;
    const std::string line = NodeLine(g.dot, r.node);
    EXPECT_THAT(line, HasSubstr(absl::StrCat("accumulate ", Micros(r.backward_ns))));
  }
}

TEST(ProfileGraphTest, OpNodesHoldTheirOpLayerAndTimes) {
  ProfiledGraph g;
  int ops = 0;
  for (const OpRecord& r : g.profile.records()) {
    if (!r.recorded) continue;
    ++ops;
    const std::string line = NodeLine(g.dot, r.node);
    ASSERT_FALSE(line.empty()) << r.op << " has no node " << r.node << " in\n" << g.dot;
    EXPECT_THAT(line, HasSubstr(absl::StrCat("<B>", r.op, "</B>")));
    if (!r.layer.empty()) {
      EXPECT_THAT(line, HasSubstr(absl::StrCat("<BR/>", r.layer, "<BR/>")));
    }
    EXPECT_THAT(line, HasSubstr(absl::StrCat("fwd ", Micros(r.forward_ns), " · bwd ",
                                             Micros(r.backward_ns))));
    EXPECT_THAT(line, HasSubstr("fillcolor=\"#ff"));
  }
  // Sequential fuses the first Linear with its Tanh into one op; the
  // second Linear and the loss are ops of their own.
  EXPECT_GE(ops, 3);
  EXPECT_THAT(g.dot, HasSubstr("<BR/>0.linear<BR/>"));
  EXPECT_THAT(g.dot, HasSubstr("<BR/>2.linear<BR/>"));
  // Times inside the nodes, not beside them.
  EXPECT_THAT(g.dot, Not(HasSubstr("xlabel")));
}

TEST(ProfileGraphTest, HasATitleAndALegendOfTheShades) {
  ProfiledGraph g;
  EXPECT_THAT(g.dot, HasSubstr("label=<<B>median over 1 profiled step</B>>;"));
  EXPECT_THAT(g.dot, HasSubstr("subgraph cluster_legend {"));
  int64_t slowest = 1;
  for (const OpRecord& r : g.profile.records()) {
    if (r.recorded) slowest = std::max(slowest, r.backward_ns);
  }
  EXPECT_THAT(g.dot, HasSubstr(absl::StrCat("0% · ", Micros(0))));
  EXPECT_THAT(g.dot, HasSubstr(absl::StrCat("50% · ", Micros(slowest / 2))));
  EXPECT_THAT(g.dot, HasSubstr(absl::StrCat("100% · ", Micros(slowest))));
  // The slowest op is drawn in the legend's full red.
  EXPECT_THAT(g.dot, HasSubstr("fillcolor=\"#ff3737\""));
  EXPECT_THAT(g.dot, HasSubstr("BGCOLOR=\"#ff3737\""));
}

TEST(ProfileGraphTest, NamesAndTitlesAreEscaped) {
  Generator gen(0);
  Tensor w = Normal({3, 2}, 0, 1, gen).set_requires_grad(true);
  Profile profile;
  Tensor loss;
  {
    Profiler profiler(&profile);
    loss = Mean(Tanh(Matmul(Ones({4, 3}), w)));
    loss.Backward();
  }
  const std::string path = TempPath("escaped.dot");
  ASSERT_TRUE(WriteProfileDot(profile, loss, {{"a\"b<c>&d", w}}, path, "x < y & \"z\"").ok());
  const std::string dot = ReadFile(path);
  EXPECT_THAT(dot, HasSubstr("<B>a&quot;b&lt;c&gt;&amp;d</B> [3,2]"));
  EXPECT_THAT(dot, HasSubstr("<B>x &lt; y &amp; &quot;z&quot;</B>"));
  ASSERT_TRUE(std::filesystem::exists(kDot)) << kDot << " is missing: install graphviz";
  const std::string svg = path + ".svg";
  ASSERT_EQ(std::system(absl::StrCat(kDot, " -Tsvg '", path, "' -o '", svg, "'").c_str()), 0)
      << dot;
  EXPECT_THAT(ReadFile(svg), HasSubstr("a&quot;b&lt;c&gt;&amp;d"));
}

TEST(ProfileGraphTest, WithoutNamesLeavesKeepTheirPlainLabel) {
  ProfiledGraph g;
  const std::string path = TempPath("unnamed.dot");
  ASSERT_TRUE(WriteProfileDot(g.profile, g.loss, path).ok());
  const std::string dot = ReadFile(path);
  EXPECT_THAT(dot, HasSubstr("label=\"leaf\\n[8,4] float32\\nrequires_grad\""));
  EXPECT_THAT(dot, Not(HasSubstr("0.weight")));
  EXPECT_THAT(dot, HasSubstr("<BR/>0.linear<BR/>"));
  EXPECT_THAT(dot, Not(HasSubstr("labelloc=t")));  // no title given
}

TEST(ProfileGraphTest, GraphvizRendersIt) {
  ASSERT_TRUE(std::filesystem::exists(kDot))
      << kDot << " is missing: install graphviz (scripts/setup.sh does)";
  ProfiledGraph g;
  const std::string svg = g.path + ".svg";
  std::filesystem::remove(svg);
  const std::string command =
      absl::StrCat(kDot, " -Tsvg '", g.path, "' -o '", svg, "' 2> '", svg, ".err'");
  ASSERT_EQ(std::system(command.c_str()), 0) << ReadFile(svg + ".err") << "\n" << g.dot;
  // GraphViz warns rather than fails on some malformed input (an HTML
  // label it cannot parse is drawn as text): it must have nothing to say.
  EXPECT_EQ(ReadFile(svg + ".err"), "");
  const std::string text = ReadFile(svg);
  EXPECT_THAT(text, HasSubstr("<svg"));
  EXPECT_THAT(text, HasSubstr("</svg>"));
  EXPECT_THAT(text, HasSubstr("0.weight"));
  EXPECT_THAT(text, HasSubstr("2.linear"));
  EXPECT_THAT(text, HasSubstr("backward time"));
}

}  // namespace
}  // namespace actgrad
