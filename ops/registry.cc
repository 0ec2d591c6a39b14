#include "ops/registry.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "graph/accumulate.h"
#include "ops/builtin_ops.h"

namespace actgrad {

namespace {

// Edit distance, for "did you mean" suggestions.
size_t Distance(absl::string_view a, absl::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace

OpRegistry& OpRegistry::Global() {
  static OpRegistry* registry = new OpRegistry();
  return *registry;
}

OpRegistry::OpRegistry() {
  const OpDef* builtins[] = {
      &ops::kIdentity,
      &ops::kSigmoid,
      &ops::kTanh,
      &ops::kRelu,
      &ops::kLeakyRelu,
      &ops::kElu,
      &ops::kSelu,
      &ops::kGelu,
      &ops::kGeluTanh,
      &ops::kSoftplus,
      &ops::kSilu,
      &ops::kSwish,
      &ops::kMish,
      &ops::kHardtanh,
      &ops::kHardsigmoid,
      &ops::kSoftsign,
      &ops::kPrelu,
      &ops::kSoftmax,
      &ops::kLogSoftmax,
      &ops::kAdd,
      &ops::kSub,
      &ops::kMul,
      &ops::kDiv,
      &ops::kNeg,
      &ops::kExp,
      &ops::kLog,
      &ops::kSqrt,
      &ops::kSquare,
      &ops::kPow,
      &ops::kAbs,
      &ops::kClamp,
      &ops::kMatmul,
      &ops::kLinear,
      &ops::kLinearActivation,
      &ops::kTranspose,
      &ops::kReshape,
      &ops::kConcatenate,
      &ops::kSlice,
      &ops::kSum,
      &ops::kMean,
      &ops::kMax,
      &ops::kSumTo,
      &ops::kBroadcastTo,
      &ops::kConv2d,
      &ops::kConv1d,
      &ops::kConvTranspose2d,
      &ops::kConv2dWeightGrad,
      &ops::kMaxPool2d,
      &ops::kMaxPool1d,
      &ops::kAvgPool2d,
      &ops::kAvgPool1d,
      &ops::kAdaptiveAvgPool2d,
      &ops::kAvgPoolAdjoint,
      &ops::kMaxUnpool,
      &ops::kGatherByIndex,
      &ops::kBatchNorm,
      &ops::kLayerNorm,
      &ops::kGroupNorm,
      &ops::kDropout,
      &ops::kPermute,
      &ops::kPad,
      &ops::kLstm,
      &ops::kGru,
      &ops::kEmbedding,
      &ops::kEmbeddingBackward,
      &ops::kScaledDotProductAttention,
      &ops::kMultiHeadAttention,
      &ops::kMultiHeadSelfAttention,
      &ops::kMseLoss,
      &ops::kBinaryCrossEntropy,
      &ops::kBinaryCrossEntropyWithLogits,
      &ops::kCrossEntropy,
      // The engine's own row (graph/accumulate.h), listed so that it is checked
      // like every other.
      &internal::kGradAccumulate,
  };
  for (const OpDef* op : builtins) {
    ops_.push_back(op);
    by_name_.emplace(std::string(op->name), op);
  }
}

absl::Status OpRegistry::Register(const OpDef& op) {
  if (op.name.empty() || op.forward == nullptr || op.backward == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("op row \"", op.name, "\" needs a name, a forward and a backward function"));
  }
  // Names appear in specs ("leaky_relu:alpha=0.2"), flags and file
  // descriptions: letters, digits and underscores only.
  for (char c : op.name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_') {
      return absl::InvalidArgumentError(absl::StrCat(
          "op name \"", op.name, "\" holds '", std::string(1, c),
          "'; names are letters, digits and underscores (':' and '=' separate attributes in "
          "specs such as leaky_relu:alpha=0.2)"));
    }
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (by_name_.contains(std::string(op.name))) {
    return absl::AlreadyExistsError(
        absl::StrCat("an op named \"", op.name, "\" is already registered"));
  }
  ops_.push_back(&op);
  by_name_.emplace(std::string(op.name), &op);
  return absl::OkStatus();
}

absl::StatusOr<const OpDef*> OpRegistry::Find(absl::string_view name) const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (auto it = by_name_.find(std::string(name)); it != by_name_.end()) return it->second;
  std::vector<std::pair<size_t, absl::string_view>> ranked;
  for (const OpDef* op : ops_) ranked.emplace_back(Distance(name, op->name), op->name);
  std::sort(ranked.begin(), ranked.end());
  std::vector<absl::string_view> closest;
  for (size_t i = 0; i < ranked.size() && i < 3; ++i) closest.push_back(ranked[i].second);
  return absl::NotFoundError(absl::StrCat(
      "no op named \"", name, "\"; closest registered names: ", absl::StrJoin(closest, ", "),
      " (an op from a plugin needs --plugin PATH)"));
}

std::vector<const OpDef*> OpRegistry::All() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return ops_;
}

std::vector<const OpDef*> OpRegistry::Activations() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<const OpDef*> out;
  for (const OpDef* op : ops_) {
    if (op->kind == OpKind::kActivation) out.push_back(op);
  }
  return out;
}

}  // namespace actgrad
