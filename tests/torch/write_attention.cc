// Writes what torch.nn.MultiheadAttention must reproduce: cross-attention of
// float64 queries [L, B, E] over keys [S, B, kdim] and values [S, B, vdim]
// of widths of their own, with a float attention mask, an int64 key padding
// mask and the averaged and per-head attention weights, and the gradients a
// fixed probe of the output sends to the queries, keys, values and every
// parameter. One file per case:
//
//   write_attention DIR
//
// DIR/cross.safetensors (kdim 4, vdim 5, masks, sequence first) and
// DIR/packed.safetensors (kdim = vdim = E, so in_proj_weight; batch first,
// causal), each holding "state.<name>" for the layer's state dict, the
// inputs, "output", "weights", "grad.<input>" and "grad.state.<name>", with
// the options in the metadata; and DIR/<case>.model, the layer as a model
// file.

#include <iostream>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "actgrad.h"
#include "io/safetensors.h"
#include "nn/attention.h"
#include "nn/model_file.h"

using namespace actgrad;

namespace {

struct Case {
  std::string name;
  nn::MultiheadAttentionOptions options;
  bool causal;
  bool average_attn_weights;
};

absl::Status Write(const std::string& dir, const Case& c) {
  Generator gen(21);
  nn::MultiheadAttention layer(c.options, gen);
  // Non-zero biases, so that their gradients are compared too.
  for (nn::NamedParameter& p : layer.NamedParameters()) {
    if (p.name.find("bias") == std::string::npos) continue;
    const Tensor drawn = Normal(p.tensor->shape(), 0, 0.3, gen, DType::kFloat64);
    std::copy_n(drawn.data<double>(), p.tensor->numel(), p.tensor->data<double>());
  }
  const nn::MultiheadAttentionOptions& o = layer.options();
  const int64_t target = 4, source = 5, batch = 2;
  auto sequence = [&](int64_t length, int64_t features) {
    const Shape shape =
        o.batch_first ? Shape{batch, length, features} : Shape{length, batch, features};
    return Normal(shape, 0, 1, gen, DType::kFloat64).set_requires_grad(true);
  };
  Tensor query = sequence(target, o.embed_dim), key = sequence(source, o.kdim),
         value = sequence(source, o.vdim);
  nn::AttendOptions attend{
      .causal = c.causal, .need_weights = true, .average_attn_weights = c.average_attn_weights};
  std::vector<std::pair<std::string, Tensor>> out;
  if (!c.causal) {
    attend.attn_mask = Normal({target, source}, 0, 1, gen, DType::kFloat64);
    // The last key of the second batch entry is padding.
    std::vector<double> padding(batch * source, 0);
    padding[batch * source - 1] = 1;
    attend.key_padding_mask = FromValues(padding, Shape{batch, source}, DType::kInt64);
    out.emplace_back("attn_mask", attend.attn_mask);
    out.emplace_back("key_padding_mask", attend.key_padding_mask);
  }
  const nn::NamedTensors state = layer.StateDict();
  for (const auto& [name, t] : state) out.emplace_back("state." + name, t.Detach());
  const nn::AttendResult result = layer.Attend(query, key, value, attend);
  const Tensor probe = Normal(result.output.shape(), 0, 1, gen, DType::kFloat64);
  Sum(result.output * probe).Backward();
  out.emplace_back("query", query.Detach());
  out.emplace_back("key", key.Detach());
  out.emplace_back("value", value.Detach());
  out.emplace_back("probe", probe);
  out.emplace_back("output", result.output.Detach());
  out.emplace_back("weights", result.weights.Detach());
  out.emplace_back("grad.query", query.grad());
  out.emplace_back("grad.key", key.grad());
  out.emplace_back("grad.value", value.grad());
  for (nn::NamedParameter& p : layer.NamedParameters()) {
    out.emplace_back("grad.state." + p.name, p.tensor->grad());
  }
  const std::map<std::string, std::string> metadata = {
      {"embed_dim", std::to_string(o.embed_dim)},
      {"num_heads", std::to_string(o.num_heads)},
      {"kdim", std::to_string(o.kdim)},
      {"vdim", std::to_string(o.vdim)},
      {"batch_first", o.batch_first ? "1" : "0"},
      {"causal", c.causal ? "1" : "0"},
      {"average_attn_weights", c.average_attn_weights ? "1" : "0"}};
  if (absl::Status s = io::SaveSafetensors(dir + "/" + c.name + ".safetensors", out, metadata);
      !s.ok()) {
    return s;
  }
  // The layer as a model file too, which tools/actgrad_torch.py rebuilds.
  return nn::Save(dir + "/" + c.name + ".model", layer);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: write_attention DIR\n";
    return 2;
  }
  const Case cases[] = {
      {"cross",
       {.embed_dim = 6, .num_heads = 3, .kdim = 4, .vdim = 5, .dtype = DType::kFloat64},
       false,
       true},
      {"packed",
       {.embed_dim = 6, .num_heads = 2, .batch_first = true, .dtype = DType::kFloat64},
       true,
       false},
  };
  for (const Case& c : cases) {
    if (absl::Status s = Write(argv[1], c); !s.ok()) {
      std::cerr << s << "\n";
      return 1;
    }
  }
  return 0;
}
