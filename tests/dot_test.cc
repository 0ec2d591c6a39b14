// GraphViz export of the recorded graph.

#include <gtest/gtest.h>

#include <sstream>

#include "actgrad.h"
#include "tests/test_util.h"

namespace actgrad {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(DotTest, NamesOpsShapesDtypesAndLeaves) {
  Tensor w = Ones({3, 2}).set_requires_grad(true);
  const Tensor x = Ones({4, 3});
  Tensor unrelated = Sigmoid(w);
  const Tensor loss = Mean(Tanh(Matmul(x, w)));
  std::ostringstream out;
  WriteDot(loss, out);
  const std::string dot = out.str();
  EXPECT_THAT(dot, HasSubstr("digraph"));
  EXPECT_THAT(dot, HasSubstr("matmul\\n[4,2] float32"));
  EXPECT_THAT(dot, HasSubstr("tanh\\n[4,2] float32"));
  EXPECT_THAT(dot, HasSubstr("mean\\n[] float32"));
  EXPECT_THAT(dot, HasSubstr("leaf\\n[3,2] float32\\nrequires_grad"));
  // Only what reaches the loss: the sigmoid branch is left out.
  EXPECT_THAT(dot, Not(HasSubstr("sigmoid")));
  // Three edges: leaf -> matmul -> tanh -> mean.
  size_t edges = 0;
  for (size_t at = dot.find("->"); at != std::string::npos; at = dot.find("->", at + 1)) ++edges;
  EXPECT_EQ(edges, 3u);
}

TEST(DotTest, StyledNodesGetTheirInfoAndAreEscaped) {
  Tensor w = Ones({3, 2}).set_requires_grad(true);
  const Tensor loss = Mean(Tanh(Matmul(Ones({4, 3}), w)));
  int leaves = 0, ops = 0;
  internal::DotStyle style;
  style.node = [&](const internal::DotNodeInfo& info) {
    internal::DotNode drawn = internal::DefaultDotNode(info);
    if (info.leaf.defined()) {
      ++leaves;
      // The leaf handed over is w itself: callers can tell it by its storage.
      EXPECT_EQ(info.leaf.impl()->storage, w.impl()->storage);
      EXPECT_EQ(info.shape, Shape({3, 2}));
      drawn.html_label = internal::EscapeDotHtml("w <3x2> & \"more\"\nnext");
    } else {
      ++ops;
      EXPECT_EQ(info.root, info.op == "mean");
      if (info.op == "tanh") drawn.label = "say \"hi\" \\ a&b\nthen";
    }
    return drawn;
  };
  style.statements = "subgraph cluster_extra {\nlabel=\"extra\";\n}\n";
  std::ostringstream out;
  internal::WriteStyledDot(loss, out, style, std::source_location::current());
  const std::string dot = out.str();
  EXPECT_EQ(leaves, 1);
  EXPECT_EQ(ops, 3);
  EXPECT_THAT(dot, HasSubstr("label=<w &lt;3x2&gt; &amp; &quot;more&quot;<BR/>next>"));
  EXPECT_THAT(dot, HasSubstr("label=\"say \\\"hi\\\" \\\\ a&amp;b\\nthen\""));
  EXPECT_THAT(dot, HasSubstr("label=\"matmul\\n[4,2] float32\""));
  EXPECT_THAT(dot, HasSubstr("style=bold, label=\"mean\\n[] float32\""));
  // The statements come inside the graph, before the first node.
  EXPECT_LT(dot.find("cluster_extra"), dot.find("\n0["));
}

TEST(DotTest, QuotesAndEscapesLabels) {
  EXPECT_EQ(internal::QuoteDotString("a\"b\\c\nd&e<f>"), "\"a\\\"b\\\\c\\nd&amp;e<f>\"");
  EXPECT_EQ(internal::EscapeDotHtml("a\"b<c>&d\ne"), "a&quot;b&lt;c&gt;&amp;d<BR/>e");
}

TEST(DotTest, RefusesALeaf) {
  EXPECT_THAT(testing::ErrorMessageOf([] {
                std::ostringstream out;
                WriteDot(Ones({2}), out);
              }),
              HasSubstr("WriteDot"));
}

}  // namespace
}  // namespace actgrad
