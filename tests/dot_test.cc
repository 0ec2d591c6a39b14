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

TEST(DotTest, RefusesALeaf) {
  EXPECT_THAT(testing::ErrorMessageOf([] {
                std::ostringstream out;
                WriteDot(Ones({2}), out);
              }),
              HasSubstr("WriteDot"));
}

}  // namespace
}  // namespace actgrad
