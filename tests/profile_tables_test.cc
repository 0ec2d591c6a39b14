// The profiler's time tables against the machine's roofs: the bound and roof
// share of each row, the GEMM share of matrix products only, shares of the
// whole step, the JSON form, and the roofs' measurement itself.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "graph/factories.h"
#include "io/json.h"
#include "ops/functional.h"
#include "ops/threads.h"
#include "profile/profiler.h"
#include "profile/roofs.h"
#include "profile/tables.h"

namespace actgrad {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Round figures: balance 10 FLOP/byte.
constexpr MachineRoofs kRoofs = {
    .fma_gflops = 200, .copy_gbytes_per_s = 20, .gemm_gflops = 125, .threads = 1};
constexpr int64_t kStepNs = 10'000;

ProfileGroup Group(const std::string& name, int64_t forward_ns, int64_t backward_ns, double flops,
                   double bytes, bool matrix_product) {
  ProfileGroup g;
  g.name = name;
  g.count = 1;
  g.forward_ns = forward_ns;
  g.backward_ns = backward_ns;
  g.kernel_ns = forward_ns + backward_ns;
  g.flops = flops;
  g.bytes = bytes;
  g.matrix_product = matrix_product;
  return g;
}

// 2 us at 100 GFLOP/s and 1 GB/s: 100 FLOPs per byte.
ProfileGroup MatmulGroup() { return Group("matmul", 1000, 1000, 200'000, 2'000, true); }
// 1 us moving 10 kB for 1250 FLOPs: 0.125 FLOP/byte at 10 GB/s.
ProfileGroup ReluGroup() { return Group("relu", 400, 600, 1'250, 10'000, false); }
// A layer of a product and its activation: compute-bound, but no GEMM roof.
ProfileGroup LayerGroup() { return Group("0.linear", 2000, 2000, 400'000, 4'000, false); }
// A scope with no op of its own.
ProfileGroup ScopeGroup() { return Group("optimizer.step", 500, 0, 0, 0, false); }

std::vector<ProfileGroup> Groups() {
  return {MatmulGroup(), ReluGroup(), LayerGroup(), ScopeGroup()};
}

// The cell of `table` in the row of group `name` under `column`: the
// columns are right-aligned under their headers, so a cell spans from the
// end of the previous header to the end of its own.
std::string Cell(const std::string& table, const std::string& name, const std::string& column) {
  std::istringstream lines(table);
  std::string header, line;
  std::getline(lines, header);
  const size_t end = header.find(column) + column.size();
  const size_t begin = header.find_last_not_of(' ', header.find(column) - 1) + 1;
  while (std::getline(lines, line)) {
    if (absl::StartsWith(line, name + " ")) {
      return std::string(absl::StripAsciiWhitespace(line.substr(begin, end - begin)));
    }
  }
  return "(no row " + name + ")";
}

TEST(ProfileTablesTest, MatrixProductWithHighIntensityIsComputeBound) {
  const std::string table = FormatGroupTable(Groups(), kStepNs, "op", kRoofs);
  EXPECT_EQ(Cell(table, "matmul", "GFLOP/s"), "100.00");
  EXPECT_EQ(Cell(table, "matmul", "bound"), "compute");
  EXPECT_EQ(Cell(table, "matmul", "% roof"), "50%");  // 100 of the FMA roof's 200
  EXPECT_EQ(Cell(table, "matmul", "% GEMM"), "80%");  // 100 of the GEMM peak's 125
}

TEST(ProfileTablesTest, LowIntensityIsMemoryBoundAgainstCopyBandwidth) {
  const std::string table = FormatGroupTable(Groups(), kStepNs, "op", kRoofs);
  EXPECT_EQ(Cell(table, "relu", "GB/s"), "10.00");
  EXPECT_EQ(Cell(table, "relu", "bound"), "memory");
  EXPECT_EQ(Cell(table, "relu", "% roof"), "50%");  // 10 of the copy bandwidth's 20
}

TEST(ProfileTablesTest, GemmShareOnlyForMatrixProducts) {
  const std::string table = FormatGroupTable(Groups(), kStepNs, "layer", kRoofs);
  EXPECT_EQ(Cell(table, "matmul", "% GEMM"), "80%");
  EXPECT_EQ(Cell(table, "relu", "% GEMM"), "");
  // Compute-bound at 100 GFLOP/s like matmul, but not made of products only.
  EXPECT_EQ(Cell(table, "0.linear", "bound"), "compute");
  EXPECT_EQ(Cell(table, "0.linear", "% GEMM"), "");
}

TEST(ProfileTablesTest, GroupWithoutFlopsOrBytesHasNoBound) {
  const std::string table = FormatGroupTable(Groups(), kStepNs, "op", kRoofs);
  EXPECT_EQ(Cell(table, "optimizer.step", "bound"), "-");
  EXPECT_EQ(Cell(table, "optimizer.step", "% roof"), "");
}

TEST(ProfileTablesTest, SharesAreOfTheWholeStep) {
  // The rows add up to 7.5 us of the 10 us step.
  const std::string table = FormatGroupTable(Groups(), kStepNs, "op", kRoofs);
  EXPECT_EQ(Cell(table, "matmul", "share"), "20.0%");
  EXPECT_EQ(Cell(table, "relu", "share"), "10.0%");
  EXPECT_EQ(Cell(table, "0.linear", "share"), "40.0%");
}

TEST(ProfileTablesTest, JsonCarriesBoundsAndNullsWhereNoRoofApplies) {
  absl::StatusOr<io::JsonDocument> json =
      io::ParseJson(GroupsJson(Groups(), kStepNs, kRoofs), "groups");
  ASSERT_TRUE(json.ok()) << json.status();
  ASSERT_TRUE(json->IsArray());
  ASSERT_EQ(json->Size(), 4u);
  const io::JsonValue& matmul = (*json)[0];
  EXPECT_STREQ(matmul["name"].GetString(), "matmul");
  EXPECT_STREQ(matmul["bound"].GetString(), "compute");
  EXPECT_DOUBLE_EQ(matmul["roof_share"].GetDouble(), 0.5);
  EXPECT_DOUBLE_EQ(matmul["gemm_share"].GetDouble(), 0.8);
  EXPECT_DOUBLE_EQ(matmul["share"].GetDouble(), 0.2);
  EXPECT_DOUBLE_EQ(matmul["gflops"].GetDouble(), 100);
  EXPECT_DOUBLE_EQ(matmul["flops"].GetDouble(), 200'000);
  EXPECT_DOUBLE_EQ(matmul["bytes"].GetDouble(), 2'000);
  const io::JsonValue& relu = (*json)[1];
  EXPECT_STREQ(relu["bound"].GetString(), "memory");
  EXPECT_TRUE(relu["gemm_share"].IsNull());
  EXPECT_DOUBLE_EQ(relu["roof_share"].GetDouble(), 0.5);
  EXPECT_DOUBLE_EQ(relu["gbytes_per_s"].GetDouble(), 10);
  EXPECT_DOUBLE_EQ(relu["intensity"].GetDouble(), 0.125);
  const io::JsonValue& scope = (*json)[3];
  EXPECT_TRUE(scope["bound"].IsNull());
  EXPECT_TRUE(scope["roof_share"].IsNull());
  EXPECT_TRUE(scope["intensity"].IsNull());
}

// A real step: a 256^3 product, a relu and a sum, forward and backward.
Profile ProfiledStep() {
  Generator gen(0);
  const Tensor x = Normal({256, 256}, 0, 1, gen);
  const Tensor w = Normal({256, 256}, 0, 1, gen).set_requires_grad(true);
  Profile profile;
  {
    Profiler profiler(&profile);
    Sum(Relu(Matmul(x, w))).Backward();
  }
  return profile;
}

TEST(ProfileTablesTest, RealProfileRowsAreBoundByTheirIntensity) {
  const Profile profile = ProfiledStep();
  // Step time and rates vary from run to run; the bound follows from the
  // shapes: the product does ~40 FLOPs per byte, relu 1/8.
  const std::string table = FormatGroupTable(profile.ByOp(), profile.TotalNs(), "op", kRoofs);
  EXPECT_EQ(Cell(table, "matmul", "bound"), "compute") << table;
  EXPECT_THAT(Cell(table, "matmul", "% GEMM"), testing::EndsWith("%")) << table;
  EXPECT_EQ(Cell(table, "relu", "bound"), "memory") << table;
  EXPECT_EQ(Cell(table, "relu", "% GEMM"), "") << table;
}

TEST(ProfileTablesTest, OldOverloadsKnowOnlyTheGemmPeak) {
  const Profile profile = ProfiledStep();
  const std::string with_peak = FormatGroupTable(profile.ByOp(), profile, "op", 125.0);
  EXPECT_THAT(Cell(with_peak, "matmul", "% GEMM"), testing::EndsWith("%")) << with_peak;
  EXPECT_EQ(Cell(with_peak, "relu", "% GEMM"), "") << with_peak;
  EXPECT_EQ(Cell(with_peak, "matmul", "bound"), "-") << with_peak;
  EXPECT_EQ(Cell(with_peak, "relu", "bound"), "-") << with_peak;
  const std::string without = FormatGroupTable(profile.ByOp(), profile, "op");
  EXPECT_EQ(Cell(without, "matmul", "% GEMM"), "") << without;
  absl::StatusOr<io::JsonDocument> json =
      io::ParseJson(GroupsJson(profile.ByOp(), profile), "groups");
  ASSERT_TRUE(json.ok()) << json.status();
  ASSERT_TRUE(json->IsArray());
  for (const io::JsonValue& group : json->GetArray()) {
    EXPECT_TRUE(group["gemm_share"].IsNull()) << group["name"].GetString();
    EXPECT_TRUE(group["bound"].IsNull()) << group["name"].GetString();
  }
}

TEST(ProfileTablesTest, LegendNamesTheRoofsAndTheBalance) {
  EXPECT_EQ(RoofsLegend(kRoofs),
            "roofs measured at start: FMA 200 GFLOP/s, copy 20.0 GB/s, GEMM 125 GFLOP/s, 1 "
            "thread; balance 10.0 FLOP/byte");
  EXPECT_THAT(RoofsLegend({.gemm_gflops = 90, .threads = 2}), Not(HasSubstr("balance")));
}

bool PositiveAndFinite(double x) { return x > 0 && std::isfinite(x); }

TEST(MachineRoofsTest, MeasuredRoofsAreSane) {
  const MachineRoofs roofs = MeasureMachineRoofs(1);
  EXPECT_EQ(roofs.threads, 1);
  EXPECT_TRUE(PositiveAndFinite(roofs.fma_gflops)) << roofs.fma_gflops;
  EXPECT_TRUE(PositiveAndFinite(roofs.copy_gbytes_per_s)) << roofs.copy_gbytes_per_s;
  EXPECT_TRUE(PositiveAndFinite(roofs.gemm_gflops)) << roofs.gemm_gflops;
  // No product passes the FMA roof; half of it is a sanity margin for
  // timing noise, not a performance target. A sanitizer build instruments
  // the FMA loop (the GEMM library is not), so the comparison holds only in
  // an optimized build.
#ifndef __SANITIZE_ADDRESS__
  EXPECT_GE(roofs.fma_gflops, 0.5 * roofs.gemm_gflops) << RoofsLegend(roofs);
#endif
  EXPECT_TRUE(PositiveAndFinite(roofs.Balance())) << RoofsLegend(roofs);
}

TEST(MachineRoofsTest, GemmAtAnotherThreadCountRestoresTheLibrarys) {
  SetNumThreads(1);
  const MachineRoofs roofs = MeasureMachineRoofs(2);
  EXPECT_EQ(roofs.threads, 2);
  EXPECT_TRUE(PositiveAndFinite(roofs.gemm_gflops)) << roofs.gemm_gflops;
  EXPECT_EQ(NumThreads(), 1);
}

}  // namespace
}  // namespace actgrad
