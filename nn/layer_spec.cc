#include "nn/layer_spec.h"

#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <span>

#include "absl/algorithm/container.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "graph/factories.h"
#include "graph/grad_mode.h"
#include "nn/activation.h"
#include "nn/attention.h"
#include "nn/conv.h"
#include "nn/dropout.h"
#include "nn/embedding.h"
#include "nn/flatten.h"
#include "nn/init.h"
#include "nn/layer_config.h"
#include "nn/linear.h"
#include "nn/normalization.h"
#include "nn/pooling.h"
#include "nn/recurrent.h"
#include "nn/sequence_layers.h"
#include "ops/builtin_ops.h"
#include "ops/plugin.h"
#include "ops/registry.h"

namespace actgrad::nn {

namespace {

// Bounds on what a spec may ask for, before memory is even considered.
constexpr int64_t kMaxWidth = int64_t{1} << 24;
constexpr int64_t kMaxKernel = int64_t{1} << 12;

struct Item {
  int position = 0;  // 1-based, for messages
  std::string text;
  std::string name;
  std::vector<std::string> positional;
  std::map<std::string, std::string> keywords;
};

absl::Status Bad(const Item& item, absl::string_view message) {
  return absl::InvalidArgumentError(
      absl::StrCat("--layers: layer ", item.position, " (\"", item.text, "\"): ", message));
}

Item ParseItem(absl::string_view text, int position) {
  Item item;
  item.position = position;
  item.text = std::string(text);
  const std::vector<std::string> parts = absl::StrSplit(text, ':');
  item.name = absl::AsciiStrToLower(parts[0]);
  for (size_t i = 1; i < parts.size(); ++i) {
    const size_t eq = parts[i].find('=');
    if (eq == std::string::npos) {
      item.positional.push_back(parts[i]);
    } else {
      item.keywords[parts[i].substr(0, eq)] = parts[i].substr(eq + 1);
    }
  }
  return item;
}

absl::Status OnlyArguments(const Item& item, size_t max_positional,
                           std::vector<absl::string_view> keywords) {
  if (item.positional.size() > max_positional) {
    return Bad(item,
               absl::StrCat("takes at most ", max_positional, " positional value",
                            max_positional == 1 ? "" : "s", ", got ", item.positional.size()));
  }
  for (const auto& [key, value] : item.keywords) {
    if (std::find(keywords.begin(), keywords.end(), key) == keywords.end()) {
      return Bad(item, absl::StrCat(
                           "has no option \"", key, "\"",
                           keywords.empty()
                               ? ""
                               : absl::StrCat(" (it takes ", absl::StrJoin(keywords, ", "), ")")));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> Count(const Item& item, absl::string_view what, absl::string_view text,
                              int64_t min, int64_t max) {
  int64_t v = 0;
  if (!absl::SimpleAtoi(text, &v) || v < min || v > max) {
    return Bad(item, absl::StrCat(what, " \"", text, "\" is not a whole number in [", min, ", ",
                                  max, "]"));
  }
  return v;
}

// "3" or "3x5", as [height, width]; a 1-D layer takes one number.
absl::StatusOr<std::array<int64_t, 2>> Pair(const Item& item, absl::string_view what,
                                            absl::string_view text, int spatial, int64_t min) {
  const std::vector<std::string> parts = absl::StrSplit(absl::AsciiStrToLower(text), 'x');
  if (parts.size() > size_t(spatial)) {
    return Bad(item,
               absl::StrCat(what, " \"", text, "\" has ", parts.size(), " values for a layer of ",
                            spatial, " spatial dimension", spatial == 1 ? "" : "s"));
  }
  std::array<int64_t, 2> out = {min == 0 ? 0 : 1, 0};
  for (size_t i = 0; i < parts.size(); ++i) {
    absl::StatusOr<int64_t> v = Count(item, what, parts[i], min, kMaxKernel);
    if (!v.ok()) {
      return Bad(item, absl::StrCat(what, " \"", text, "\" is not a whole number in [", min, ", ",
                                    kMaxKernel, "] or two joined by x (3x5)"));
    }
    if (spatial == 1) {
      out[1] = *v;
    } else if (parts.size() == 1) {
      out = {*v, *v};
    } else {
      out[i] = *v;
    }
  }
  return out;
}

absl::StatusOr<std::optional<std::array<int64_t, 2>>> OptionalPair(const Item& item,
                                                                   absl::string_view key,
                                                                   int spatial, int64_t min) {
  auto it = item.keywords.find(std::string(key));
  if (it == item.keywords.end()) return std::optional<std::array<int64_t, 2>>();
  absl::StatusOr<std::array<int64_t, 2>> v = Pair(item, key, it->second, spatial, min);
  if (!v.ok()) return v.status();
  return std::optional<std::array<int64_t, 2>>(*v);
}

absl::StatusOr<bool> Flag(const Item& item, absl::string_view key, bool fallback) {
  auto it = item.keywords.find(std::string(key));
  if (it == item.keywords.end()) return fallback;
  if (it->second == "1" || it->second == "true") return true;
  if (it->second == "0" || it->second == "false") return false;
  return Bad(item, absl::StrCat(key, "=", it->second, " is not 0 or 1"));
}

absl::StatusOr<double> Real(const Item& item, absl::string_view what, absl::string_view text,
                            double low, double high) {
  double v = 0;
  if (!absl::SimpleAtod(text, &v) || !(v >= low && v <= high)) {
    return Bad(item,
               absl::StrCat(what, " \"", text, "\" is not a number in [", low, ", ", high, "]"));
  }
  return v;
}

absl::StatusOr<double> RealOption(const Item& item, absl::string_view key, double fallback,
                                  double low, double high) {
  auto it = item.keywords.find(std::string(key));
  if (it == item.keywords.end()) return fallback;
  return Real(item, key, it->second, low, high);
}

// The layers a spec can name, each under its short and its op-style names.
enum class LayerName {
  kConv,
  kMaxPool,
  kAvgPool,
  kAdaptivePool,
  kNorm,
  kDropout,
  kFlatten,
  kLinear,
  kRecurrent,
  kLastStep,
  kMeanOverTime,
  kEmbedding,
  kPositionalEmbedding,
  kTransformer,
  kAttention,
};

// nullopt for anything else (an activation, or a mistake).
std::optional<LayerName> LayerNamed(const std::string& name) {
  static const auto* names = new std::map<std::string, LayerName>{
      {"conv2d", LayerName::kConv},
      {"conv1d", LayerName::kConv},
      {"conv_transpose2d", LayerName::kConv},
      {"maxpool", LayerName::kMaxPool},
      {"max_pool", LayerName::kMaxPool},
      {"max_pool1d", LayerName::kMaxPool},
      {"max_pool2d", LayerName::kMaxPool},
      {"avgpool", LayerName::kAvgPool},
      {"avg_pool", LayerName::kAvgPool},
      {"avg_pool1d", LayerName::kAvgPool},
      {"avg_pool2d", LayerName::kAvgPool},
      {"adaptive_avgpool", LayerName::kAdaptivePool},
      {"adaptive_avg_pool2d", LayerName::kAdaptivePool},
      {"batchnorm", LayerName::kNorm},
      {"batch_norm", LayerName::kNorm},
      {"layernorm", LayerName::kNorm},
      {"layer_norm", LayerName::kNorm},
      {"groupnorm", LayerName::kNorm},
      {"group_norm", LayerName::kNorm},
      {"dropout", LayerName::kDropout},
      {"flatten", LayerName::kFlatten},
      {"linear", LayerName::kLinear},
      {"lstm", LayerName::kRecurrent},
      {"gru", LayerName::kRecurrent},
      {"last", LayerName::kLastStep},
      {"last_step", LayerName::kLastStep},
      {"mean", LayerName::kMeanOverTime},
      {"mean_over_time", LayerName::kMeanOverTime},
      {"embedding", LayerName::kEmbedding},
      {"posembed", LayerName::kPositionalEmbedding},
      {"positional_embedding", LayerName::kPositionalEmbedding},
      {"transformer", LayerName::kTransformer},
      {"transformer_encoder_layer", LayerName::kTransformer},
      {"attention", LayerName::kAttention},
      {"multihead_attention", LayerName::kAttention}};
  auto it = names->find(name);
  if (it == names->end()) return std::nullopt;
  return it->second;
}

bool IsWeightLayer(const std::string& name) {
  const std::optional<LayerName> layer = LayerNamed(name);
  return layer == LayerName::kConv || layer == LayerName::kLinear ||
         layer == LayerName::kRecurrent || layer == LayerName::kEmbedding ||
         layer == LayerName::kTransformer || layer == LayerName::kAttention;
}

// The activation right after weight layer `i`, before the next weight
// layer; nullopt when none follows.
std::optional<ActivationSpec> FollowingActivation(const std::vector<Item>& items, size_t i) {
  for (size_t j = i + 1; j < items.size(); ++j) {
    if (IsWeightLayer(items[j].name)) return std::nullopt;
    if (LayerNamed(items[j].name)) continue;
    absl::StatusOr<ActivationSpec> spec = ParseActivationSpec(items[j].text);
    if (spec.ok()) return *spec;
  }
  return std::nullopt;
}

double Product(const std::vector<int64_t>& shape) {
  double n = 1;
  for (int64_t d : shape) n *= double(d);
  return n;
}

std::string ShapeText(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ","), "]");
}

double Elements(const std::vector<std::pair<std::string, Shape>>& shapes) {
  double n = 0;
  for (const auto& [name, shape] : shapes) n += Product({shape.dims().begin(), shape.dims().end()});
  return n;
}

struct Builder {
  const LayerSpecOptions& options;
  Generator& gen;
  std::vector<Item> items;
  std::vector<int64_t> shape;  // one sample's
  // The 2-D shape came out of a convolution, pooling or normalization over
  // channels: [C, L], not a [T, F] sequence that linear and the sequence
  // layers read step by step.
  bool channels_first = false;
  BuiltNetwork built;
  double activations = 0;  // per sample, every layer's output

  double Element() const { return double(DTypeSize(options.dtype)); }
  double TrainingBytes(double parameters, double units) const {
    return parameters * Element() * 6 + double(options.batch) * units * Element() * 4;
  }

  absl::Status CheckMemory(const Item& item, double more_parameters, double more_units) {
    const double need = TrainingBytes(built.parameters + more_parameters, activations + more_units);
    if (need <= options.memory_limit) return absl::OkStatus();
    return absl::ResourceExhaustedError(absl::StrFormat(
        "--layers: layer %d (\"%s\") brings training to about %.4g GB (%.4g M parameters with "
        "their gradients and optimizer state, and a batch of %d's activations), over the limit "
        "of %.4g GB",
        item.position, item.text, need / 1e9, (built.parameters + more_parameters) / 1e6,
        options.batch, options.memory_limit / 1e9));
  }

  // The weight initializer for layer `i`: --init or the recommended one for
  // the activation that follows, or nullopt (the layer's own default).
  absl::StatusOr<std::optional<Initializer>> WeightInit(size_t i) const {
    const std::optional<ActivationSpec> next = FollowingActivation(items, i);
    if (!options.init.empty()) {
      const double gain = next ? GainOf(*next->op, next->attrs) : 1.0;
      absl::StatusOr<Initializer> init = Initializer::Parse(options.init, gain);
      if (!init.ok()) return init.status();
      return std::optional<Initializer>(*init);
    }
    if (!next) return std::optional<Initializer>();
    return std::optional<Initializer>(RecommendedInitializer(*next->op, next->attrs));
  }

  // Adds `layer`, running one zero sample through it (in evaluation mode)
  // to learn its output shape.
  absl::Status Add(const Item& item, std::unique_ptr<Module> layer, double parameters) {
    std::vector<int64_t> out;
    try {
      NoGradGuard no_grad;
      std::vector<int64_t> dims = {1};
      dims.insert(dims.end(), shape.begin(), shape.end());
      layer->Eval();
      const Tensor y = (*layer)(Zeros(Shape(std::span<const int64_t>(dims)), options.dtype));
      layer->Train();
      out.assign(y.shape().dims().begin() + 1, y.shape().dims().end());
    } catch (const Error& e) {
      return Bad(item, absl::StrCat("does not fit the shape ", ShapeText(shape),
                                    " that reaches it: ", e.what()));
    }
    built.parameters += parameters;
    activations += Product(out);
    if (absl::Status s = CheckMemory(item, 0, 0); !s.ok()) return s;
    shape = std::move(out);
    static constexpr absl::string_view kChannelLayers[] = {
        "conv1d",  "conv2d",           "conv_transpose2d", "maxpool",
        "avgpool", "adaptive_avgpool", "batchnorm",        "groupnorm"};
    if (absl::c_linear_search(kChannelLayers, item.name)) {
      channels_first = shape.size() == 2;
    } else if (shape.size() != 2) {
      channels_first = false;
    }
    built.network->Add(std::move(layer));
    return absl::OkStatus();
  }

  int Spatial(const Item& item) const { return shape.size() == 3 ? 2 : 1; }

  absl::Status AddConv(size_t i, const Item& item) {
    const bool transposed = item.name == "conv_transpose2d";
    const int spatial = item.name == "conv1d" ? 1 : 2;
    if (int(shape.size()) != spatial + 1) {
      return Bad(item, absl::StrCat("needs ", spatial == 1 ? "[C, L]" : "[C, H, W]",
                                    " samples, and the shape that reaches it is ", ShapeText(shape),
                                    spatial == 2 ? " (give --input-shape C,H,W)" : ""));
    }
    std::vector<absl::string_view> keys = {"stride", "pad", "dilation", "groups", "bias"};
    if (transposed) keys.push_back("output_padding");
    if (absl::Status s = OnlyArguments(item, 2, keys); !s.ok()) return s;
    if (item.positional.size() != 2)
      return Bad(item, "needs OUT:K, the output channels and the kernel");
    ConvOptions o;
    o.in_channels = shape[0];
    o.dtype = options.dtype;
    ACTGRAD_CONFIG_ASSIGN(o.out_channels,
                          Count(item, "the output channels", item.positional[0], 1, kMaxWidth));
    ACTGRAD_CONFIG_ASSIGN(o.kernel, Pair(item, "the kernel", item.positional[1], spatial, 1));
    std::optional<std::array<int64_t, 2>> v;
    ACTGRAD_CONFIG_ASSIGN(v, OptionalPair(item, "stride", spatial, 1));
    if (v) o.stride = *v;
    ACTGRAD_CONFIG_ASSIGN(v, OptionalPair(item, "dilation", spatial, 1));
    if (v) o.dilation = *v;
    if (auto it = item.keywords.find("pad"); it != item.keywords.end() && it->second == "same") {
      if (transposed) return Bad(item, "a transposed convolution has no padding \"same\"");
      o.same = true;
    } else {
      ACTGRAD_CONFIG_ASSIGN(v, OptionalPair(item, "pad", spatial, 0));
      if (v) o.padding = *v;
    }
    ACTGRAD_CONFIG_ASSIGN(v, OptionalPair(item, "output_padding", spatial, 0));
    if (v) o.output_padding = *v;
    if (auto it = item.keywords.find("groups"); it != item.keywords.end()) {
      ACTGRAD_CONFIG_ASSIGN(o.groups, Count(item, "groups", it->second, 1, kMaxWidth));
    }
    ACTGRAD_CONFIG_ASSIGN(o.bias, Flag(item, "bias", true));
    if (o.in_channels % o.groups != 0 || o.out_channels % o.groups != 0) {
      return Bad(item, absl::StrCat("groups ", o.groups, " must divide the input channels ",
                                    o.in_channels, " and the output channels ", o.out_channels));
    }
    ACTGRAD_CONFIG_ASSIGN(o.weight_init, WeightInit(i));
    const ConvLayer::Form form = transposed     ? ConvLayer::Form::kConvTranspose2d
                                 : spatial == 1 ? ConvLayer::Form::kConv1d
                                                : ConvLayer::Form::kConv2d;
    double parameters = 0;
    for (const auto& [name, s] : ConvLayer::ShapesOf(form, o)) {
      double n = 1;
      for (int64_t d : s.dims()) n *= double(d);
      parameters += n;
    }
    // A transposed convolution grows the sample; bound its output first.
    double out_units = double(o.out_channels);
    for (int axis = 2 - spatial; axis < 2; ++axis) {
      const int64_t in = shape[size_t(1 + axis - (2 - spatial))];
      out_units *= transposed ? double(in) * double(o.stride[axis]) +
                                    double(o.dilation[axis]) * double(o.kernel[axis])
                              : double(in);
    }
    if (absl::Status s = CheckMemory(item, parameters, out_units); !s.ok()) return s;
    std::unique_ptr<Module> layer;
    try {
      layer = MakeConvLayer(form, o, gen);
    } catch (const Error& e) {
      return Bad(item, e.what());
    }
    return Add(item, std::move(layer), parameters);
  }

  absl::Status AddPool(const Item& item, bool max) {
    if (shape.size() != 2 && shape.size() != 3) {
      return Bad(item,
                 absl::StrCat("pools [C, L] or [C, H, W] samples; the shape that reaches it is ",
                              ShapeText(shape)));
    }
    const int spatial = Spatial(item);
    std::vector<absl::string_view> keys = {"stride", "pad", "ceil"};
    keys.push_back(max ? "dilation" : "count_pad");
    if (absl::Status s = OnlyArguments(item, 1, keys); !s.ok()) return s;
    PoolOptions o;
    o.window = spatial == 1 ? std::array<int64_t, 2>{1, 2} : std::array<int64_t, 2>{2, 2};
    if (!item.positional.empty()) {
      ACTGRAD_CONFIG_ASSIGN(o.window, Pair(item, "the window", item.positional[0], spatial, 1));
    }
    std::optional<std::array<int64_t, 2>> v;
    ACTGRAD_CONFIG_ASSIGN(v, OptionalPair(item, "stride", spatial, 1));
    if (v) o.stride = *v;
    ACTGRAD_CONFIG_ASSIGN(v, OptionalPair(item, "pad", spatial, 0));
    if (v) o.padding = *v;
    ACTGRAD_CONFIG_ASSIGN(v, OptionalPair(item, "dilation", spatial, 1));
    if (v) o.dilation = *v;
    ACTGRAD_CONFIG_ASSIGN(o.ceil_mode, Flag(item, "ceil", false));
    ACTGRAD_CONFIG_ASSIGN(o.count_include_pad, Flag(item, "count_pad", true));
    const PoolLayer::Form form =
        max ? (spatial == 1 ? PoolLayer::Form::kMax1d : PoolLayer::Form::kMax2d)
            : (spatial == 1 ? PoolLayer::Form::kAvg1d : PoolLayer::Form::kAvg2d);
    std::unique_ptr<Module> layer;
    try {
      layer = std::make_unique<PoolLayer>(form, o);
    } catch (const Error& e) {
      return Bad(item, e.what());
    }
    return Add(item, std::move(layer), 0);
  }

  absl::Status AddAdaptivePool(const Item& item) {
    if (shape.size() != 3) {
      return Bad(item, absl::StrCat("pools [C, H, W] samples; the shape that reaches it is ",
                                    ShapeText(shape)));
    }
    if (absl::Status s = OnlyArguments(item, 1, {}); !s.ok()) return s;
    if (item.positional.empty()) return Bad(item, "needs the output size, H or HxW");
    PoolOptions o;
    ACTGRAD_CONFIG_ASSIGN(o.window, Pair(item, "the output size", item.positional[0], 2, 1));
    return Add(item, std::make_unique<PoolLayer>(PoolLayer::Form::kAdaptiveAvg2d, o), 0);
  }

  absl::Status AddNorm(const Item& item) {
    const bool batch = item.name == "batchnorm" || item.name == "batch_norm";
    const bool group = item.name == "groupnorm" || item.name == "group_norm";
    std::vector<absl::string_view> keys = {"eps"};
    if (batch) keys.push_back("momentum");
    if (absl::Status s = OnlyArguments(item, group ? 1 : 0, keys); !s.ok()) return s;
    double eps = 1e-5;
    ACTGRAD_CONFIG_ASSIGN(eps, RealOption(item, "eps", 1e-5, 1e-300, 1.0));
    const int64_t channels = shape[0];
    std::unique_ptr<Module> layer;
    double parameters = 2.0 * double(channels);
    try {
      if (batch) {
        if (shape.size() > 3)
          return Bad(item, absl::StrCat("normalizes [C], [C, L] or [C, H, W] samples, got ",
                                        ShapeText(shape)));
        double momentum = 0.1;
        ACTGRAD_CONFIG_ASSIGN(momentum, RealOption(item, "momentum", 0.1, 0.0, 1.0));
        layer = std::make_unique<BatchNorm>(shape.size() == 3 ? 2 : 1,
                                            BatchNormOptions{.num_features = channels,
                                                             .eps = eps,
                                                             .momentum = momentum,
                                                             .dtype = options.dtype});
      } else if (group) {
        if (item.positional.empty()) return Bad(item, "needs the number of groups, groupnorm:G");
        int64_t groups = 1;
        ACTGRAD_CONFIG_ASSIGN(groups, Count(item, "the groups", item.positional[0], 1, kMaxWidth));
        if (shape.size() < 2 || channels % groups != 0) {
          return Bad(item, absl::StrCat(groups, " groups must divide the channels of ",
                                        ShapeText(shape), " samples"));
        }
        layer = std::make_unique<GroupNorm>(GroupNormOptions{
            .groups = groups, .channels = channels, .eps = eps, .dtype = options.dtype});
      } else {
        // A [T, F] sequence is normalized step by step, over its features,
        // as torch.nn.LayerNorm(F) does in a transformer; other samples as
        // a whole.
        const bool per_step = shape.size() == 2 && !channels_first;
        const std::vector<int64_t> normalized =
            per_step ? std::vector<int64_t>{shape.back()} : shape;
        parameters = 2.0 * Product(normalized);
        layer = std::make_unique<LayerNorm>(
            LayerNormOptions{.normalized_shape = normalized, .eps = eps, .dtype = options.dtype});
      }
    } catch (const Error& e) {
      return Bad(item, e.what());
    }
    if (absl::Status s = CheckMemory(item, parameters, Product(shape)); !s.ok()) return s;
    return Add(item, std::move(layer), parameters);
  }

  absl::Status AddLinear(size_t i, const Item& item) {
    if (absl::Status s = OnlyArguments(item, 1, {"bias"}); !s.ok()) return s;
    if (item.positional.size() != 1) return Bad(item, "needs its width, linear:N");
    // A [T, F] sequence is transformed step by step, as torch.nn.Linear
    // does with any leading dimensions.
    if (shape.size() > 2 || channels_first) {
      return Bad(item,
                 absl::StrCat("takes flat samples or [T, F] sequences; the shape that "
                              "reaches it is ",
                              ShapeText(shape), channels_first ? " channels by positions" : "",
                              " (put flatten before it)"));
    }
    LinearOptions o{.in = shape.back(), .dtype = options.dtype};
    ACTGRAD_CONFIG_ASSIGN(o.out, Count(item, "the width", item.positional[0], 1, kMaxWidth));
    ACTGRAD_CONFIG_ASSIGN(o.bias, Flag(item, "bias", true));
    std::optional<Initializer> init;
    ACTGRAD_CONFIG_ASSIGN(init, WeightInit(i));
    o.weight_init = init.value_or(RecommendedInitializer(ops::kIdentity));
    const double parameters = double(o.in) * double(o.out) + (o.bias ? double(o.out) : 0.0);
    const double steps = shape.size() == 2 ? double(shape[0]) : 1.0;
    if (absl::Status s = CheckMemory(item, parameters, steps * double(o.out)); !s.ok()) return s;
    return Add(item, std::make_unique<Linear>(o, gen), parameters);
  }

  // Sequence layers take batch-first [T, F] samples.
  absl::Status RequireSequence(const Item& item, absl::string_view what) const {
    if (shape.size() == 2 && !channels_first) return absl::OkStatus();
    return Bad(
        item,
        absl::StrCat(what, " [T, F] sequences, and the shape that reaches it is ", ShapeText(shape),
                     channels_first ? ", channels by positions from a convolution" : "",
                     " (give --input-shape T,F)"));
  }

  absl::Status AddRecurrent(const Item& item) {
    if (absl::Status s = OnlyArguments(item, 1, {"layers", "bidirectional", "dropout", "bias"});
        !s.ok()) {
      return s;
    }
    if (absl::Status s = RequireSequence(item, "reads"); !s.ok()) return s;
    if (item.positional.size() != 1) return Bad(item, "needs its hidden size, " + item.name + ":H");
    const bool lstm = item.name == "lstm";
    RecurrentOptions o{.input_size = shape[1], .batch_first = true, .dtype = options.dtype};
    ACTGRAD_CONFIG_ASSIGN(o.hidden_size,
                          Count(item, "the hidden size", item.positional[0], 1, kMaxWidth));
    if (auto it = item.keywords.find("layers"); it != item.keywords.end()) {
      ACTGRAD_CONFIG_ASSIGN(o.num_layers, Count(item, "layers", it->second, 1, 64));
    }
    ACTGRAD_CONFIG_ASSIGN(o.bidirectional, Flag(item, "bidirectional", false));
    ACTGRAD_CONFIG_ASSIGN(o.bias, Flag(item, "bias", true));
    ACTGRAD_CONFIG_ASSIGN(o.dropout, RealOption(item, "dropout", 0.0, 0.0, 1.0));
    const RecurrentLayer::Form form =
        lstm ? RecurrentLayer::Form::kLstm : RecurrentLayer::Form::kGru;
    const double parameters = Elements(RecurrentLayer::ShapesOf(form, o));
    // Per step and layer the row keeps the gates and the states.
    const double units = double(shape[0]) * double(o.num_layers) * (o.bidirectional ? 2 : 1) *
                         double(o.hidden_size) * double(RecurrentLayer::Gates(form) + 2);
    if (absl::Status s = CheckMemory(item, parameters, units); !s.ok()) return s;
    std::unique_ptr<Module> layer;
    try {
      if (lstm) {
        layer = std::make_unique<Lstm>(o, gen);
      } else {
        layer = std::make_unique<Gru>(o, gen);
      }
    } catch (const Error& e) {
      return Bad(item, e.what());
    }
    return Add(item, std::move(layer), parameters);
  }

  absl::Status AddReduction(const Item& item, bool last) {
    if (absl::Status s = OnlyArguments(item, 0, {}); !s.ok()) return s;
    if (absl::Status s = RequireSequence(item, "reduces"); !s.ok()) return s;
    if (last) return Add(item, std::make_unique<LastStep>(), 0);
    return Add(item, std::make_unique<MeanOverTime>(), 0);
  }

  absl::Status AddEmbedding(size_t i, const Item& item) {
    if (absl::Status s = OnlyArguments(item, 2, {"padding"}); !s.ok()) return s;
    // The rows reach an embedding unscaled, so nothing may stand before it.
    if (i != 0 || shape.size() != 1) {
      return Bad(item, absl::StrCat("looks up [T] token indices, and the shape that reaches it "
                                    "is ",
                                    ShapeText(shape), " (it must come first)"));
    }
    if (item.positional.size() != 2) {
      return Bad(item, "needs the vocabulary size and the width, embedding:V:D");
    }
    EmbeddingOptions o{.dtype = options.dtype};
    ACTGRAD_CONFIG_ASSIGN(o.num_embeddings,
                          Count(item, "the vocabulary size", item.positional[0], 1, kMaxWidth));
    ACTGRAD_CONFIG_ASSIGN(o.embedding_dim,
                          Count(item, "the width", item.positional[1], 1, kMaxWidth));
    if (auto it = item.keywords.find("padding"); it != item.keywords.end()) {
      ACTGRAD_CONFIG_ASSIGN(o.padding_index,
                            Count(item, "padding", it->second, 0, o.num_embeddings - 1));
    }
    const double parameters = double(o.num_embeddings) * double(o.embedding_dim);
    if (absl::Status s = CheckMemory(item, parameters, double(shape[0]) * double(o.embedding_dim));
        !s.ok()) {
      return s;
    }
    built.takes_indices = true;
    return Add(item, std::make_unique<Embedding>(o, gen), parameters);
  }

  absl::Status AddPositionalEmbedding(const Item& item) {
    if (absl::Status s = OnlyArguments(item, 0, {}); !s.ok()) return s;
    if (absl::Status s = RequireSequence(item, "adds positions to"); !s.ok()) return s;
    const double parameters = Product(shape);
    if (absl::Status s = CheckMemory(item, parameters, Product(shape)); !s.ok()) return s;
    return Add(item,
               std::make_unique<PositionalEmbedding>(
                   PositionalEmbeddingOptions{
                       .max_length = shape[0], .embedding_dim = shape[1], .dtype = options.dtype},
                   gen),
               parameters);
  }

  absl::StatusOr<int64_t> Heads(const Item& item) const {
    int64_t heads = 1;
    ACTGRAD_CONFIG_ASSIGN(heads, Count(item, "the heads", item.positional[0], 1, kMaxWidth));
    if (shape[1] % heads != 0) {
      return Bad(item, absl::StrCat(heads, " heads must divide the width ", shape[1],
                                    " of the [T, F] = ", ShapeText(shape),
                                    " samples (put linear:N before it)"));
    }
    return heads;
  }

  // Per sample: the projections, the scores of every head and the
  // feed-forward hidden layer.
  double AttentionUnits(int64_t heads, int64_t feedforward) const {
    const double t = double(shape[0]), e = double(shape[1]);
    return t * (8 * e + 2 * double(feedforward)) + 2 * double(heads) * t * t;
  }

  absl::Status AddTransformer(const Item& item) {
    if (absl::Status s = OnlyArguments(item, 4, {"dropout"}); !s.ok()) return s;
    if (absl::Status s = RequireSequence(item, "encodes"); !s.ok()) return s;
    if (item.positional.size() < 2) {
      return Bad(item, "needs the heads and the feed-forward width, transformer:HEADS:FF");
    }
    TransformerEncoderLayerOptions o{
        .d_model = shape[1], .dropout = 0.1, .batch_first = true, .dtype = options.dtype};
    ACTGRAD_CONFIG_ASSIGN(o.nhead, Heads(item));
    ACTGRAD_CONFIG_ASSIGN(o.dim_feedforward,
                          Count(item, "the feed-forward width", item.positional[1], 1, kMaxWidth));
    for (size_t i = 2; i < item.positional.size(); ++i) {
      const std::string& flag = item.positional[i];
      if (flag == "gelu" || flag == "relu") {
        o.activation = flag;
      } else if (flag == "prenorm" || flag == "postnorm") {
        o.norm_first = flag == "prenorm";
      } else {
        return Bad(item, absl::StrCat("\"", flag, "\" is not gelu, relu, prenorm or postnorm"));
      }
    }
    ACTGRAD_CONFIG_ASSIGN(o.dropout, RealOption(item, "dropout", 0.1, 0.0, 1.0));
    const double parameters = Elements(TransformerEncoderLayer::ShapesOf(o));
    if (absl::Status s = CheckMemory(item, parameters, AttentionUnits(o.nhead, o.dim_feedforward));
        !s.ok()) {
      return s;
    }
    return Add(item, std::make_unique<TransformerEncoderLayer>(o, gen), parameters);
  }

  absl::Status AddAttention(const Item& item) {
    if (absl::Status s = OnlyArguments(item, 1, {"bias"}); !s.ok()) return s;
    if (absl::Status s = RequireSequence(item, "attends over"); !s.ok()) return s;
    if (item.positional.size() != 1) return Bad(item, "needs the number of heads, attention:HEADS");
    MultiheadAttentionOptions o{.embed_dim = shape[1], .batch_first = true, .dtype = options.dtype};
    ACTGRAD_CONFIG_ASSIGN(o.num_heads, Heads(item));
    ACTGRAD_CONFIG_ASSIGN(o.bias, Flag(item, "bias", true));
    const double parameters = Elements(MultiheadAttention::ShapesOf(o));
    if (absl::Status s = CheckMemory(item, parameters, AttentionUnits(o.num_heads, 0)); !s.ok()) {
      return s;
    }
    return Add(item, std::make_unique<MultiheadAttention>(o, gen), parameters);
  }

  // A tensor op (ops/plugin.h) as a layer, its params given as key=value.
  // It must take one input and, as its shape rule says, keep the batch axis
  // and every axis but the last, whatever the batch: the shape kept, [B, F]
  // to [B, F'], or [B, C, L] to [B, C, L'] (a pooling or a normalization,
  // not a reshape), so that the layers after it see one sample's shape.
  absl::Status AddTensorOp(const Item& item, const OpDef& op) {
    const TensorOpDefinition& definition = *TensorOpDefinitionOf(op);
    if (definition.num_inputs != 1) {
      return Bad(item, absl::StrCat("the tensor op ", op.name, " takes ", definition.num_inputs,
                                    " inputs; a layer gives one"));
    }
    if (!item.positional.empty()) {
      return Bad(item,
                 absl::StrCat("the tensor op ", op.name, " takes its params as key=value, not \"",
                              item.positional[0], "\""));
    }
    Attrs attrs;
    for (const auto& [key, value] : item.keywords) {
      const AttrSpec* spec = nullptr;
      for (const AttrSpec& s : op.attrs) {
        if (s.name == key && s.param >= 0) spec = &s;
      }
      if (spec == nullptr) {
        std::vector<std::string> names;
        for (const AttrSpec& s : op.attrs) names.emplace_back(s.name);
        return Bad(item, absl::StrCat(key, " is not a param of ", op.name, " (its params: ",
                                      names.empty() ? "none" : absl::StrJoin(names, ", "), ")"));
      }
      ACTGRAD_CONFIG_ASSIGN(attrs.params[spec->param],
                            Real(item, key, value, -std::numeric_limits<double>::max(),
                                 std::numeric_limits<double>::max()));
    }
    std::optional<std::vector<int64_t>> sample_out;
    for (int64_t batch : {1, 2}) {
      std::vector<int64_t> dims = {batch};
      dims.insert(dims.end(), shape.begin(), shape.end());
      const Shape in{std::span<const int64_t>(dims)};
      absl::StatusOr<Shape> out = TensorOpOutputShape(op, std::span<const Shape>(&in, 1), attrs);
      if (!out.ok()) {
        return Bad(item,
                   absl::StrCat("the tensor op ", op.name, " does not fit the shape ",
                                ShapeText(shape), " that reaches it: ", out.status().message()));
      }
      std::vector<int64_t> got(out->dims().begin(), out->dims().end());
      const bool kept = got.size() == dims.size() && got[0] == batch &&
                        std::equal(dims.begin(), dims.end() - 1, got.begin()) && got.back() >= 1;
      if (!kept ||
          (sample_out && *sample_out != std::vector<int64_t>(got.begin() + 1, got.end()))) {
        return Bad(item, absl::StrCat("the tensor op ", op.name, " maps ", ShapeText(dims), " to ",
                                      ShapeText(got),
                                      "; as a layer a tensor op must keep the batch axis "
                                      "and every axis but the last, whatever the batch"));
      }
      sample_out.emplace(got.begin() + 1, got.end());
    }
    return Add(item, std::make_unique<Activation>(op, attrs), 0);
  }

  absl::Status AddItem(size_t i) {
    const Item& item = items[i];
    const std::optional<LayerName> layer = LayerNamed(item.name);
    if (layer) {
      switch (*layer) {
        case LayerName::kConv:
          return AddConv(i, item);
        case LayerName::kMaxPool:
          return AddPool(item, true);
        case LayerName::kAvgPool:
          return AddPool(item, false);
        case LayerName::kAdaptivePool:
          return AddAdaptivePool(item);
        case LayerName::kNorm:
          return AddNorm(item);
        case LayerName::kDropout: {
          if (absl::Status s = OnlyArguments(item, 1, {}); !s.ok()) return s;
          double p = 0.5;
          if (!item.positional.empty()) {
            ACTGRAD_CONFIG_ASSIGN(p, Real(item, "p", item.positional[0], 0.0, 1.0));
          }
          return Add(item, std::make_unique<Dropout>(p, gen), 0);
        }
        case LayerName::kFlatten:
          if (absl::Status s = OnlyArguments(item, 0, {}); !s.ok()) return s;
          return Add(item, std::make_unique<Flatten>(), 0);
        case LayerName::kLinear:
          return AddLinear(i, item);
        case LayerName::kRecurrent:
          return AddRecurrent(item);
        case LayerName::kLastStep:
          return AddReduction(item, true);
        case LayerName::kMeanOverTime:
          return AddReduction(item, false);
        case LayerName::kEmbedding:
          return AddEmbedding(i, item);
        case LayerName::kPositionalEmbedding:
          return AddPositionalEmbedding(item);
        case LayerName::kTransformer:
          return AddTransformer(item);
        case LayerName::kAttention:
          return AddAttention(item);
      }
    }
    // Not a layer: an activation, a tensor op (from a plugin), or a mistake.
    absl::StatusOr<ActivationSpec> activation = ParseActivationSpec(item.text);
    if (!activation.ok()) {
      absl::StatusOr<const OpDef*> op = OpRegistry::Global().Find(item.name);
      if (op.ok() && TensorOpDefinitionOf(**op) != nullptr) return AddTensorOp(item, **op);
      return Bad(item,
                 absl::StrCat("is neither a layer (conv2d, conv1d, conv_transpose2d, maxpool, "
                              "avgpool, adaptive_avgpool, batchnorm, layernorm, groupnorm, "
                              "dropout, flatten, linear, lstm, gru, last, mean, embedding, "
                              "posembed, transformer, attention), an activation nor a tensor "
                              "op: ",
                              activation.status().message()));
    }
    if (built.first_activation == nullptr) {
      built.first_activation = activation->op;
      built.first_activation_attrs = activation->attrs;
    }
    return Add(item, std::make_unique<Activation>(*activation->op, activation->attrs), 0);
  }
};

}  // namespace

absl::StatusOr<BuiltNetwork> BuildFromLayerSpec(absl::string_view spec,
                                                const LayerSpecOptions& options, Generator& gen) {
  if (options.input_shape.empty() || options.input_shape.size() > 3) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--input-shape: needs 1 to 3 extents (F, C,L or C,H,W), got ", options.input_shape.size()));
  }
  for (int64_t d : options.input_shape) {
    if (d < 1 || d > kMaxWidth) {
      return absl::InvalidArgumentError(
          absl::StrCat("--input-shape: ", d, " is not an extent in [1, ", kMaxWidth, "]"));
    }
  }
  Builder b{.options = options, .gen = gen};
  int position = 0;
  for (absl::string_view text : absl::StrSplit(spec, ',')) {
    text = absl::StripAsciiWhitespace(text);
    ++position;
    if (text.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--layers: layer ", position, " is empty (two commas in a row?)"));
    }
    b.items.push_back(ParseItem(text, position));
  }
  b.shape = options.input_shape;
  b.activations = Product(b.shape);
  b.built.network = std::make_unique<Sequential>();
  if (b.shape.size() > 1) b.built.network->Add(std::make_unique<Unflatten>(1, b.shape));
  for (size_t i = 0; i < b.items.size(); ++i) {
    if (absl::Status s = b.AddItem(i); !s.ok()) return s;
  }
  if (b.shape.size() > 1) b.built.network->Add(std::make_unique<Flatten>());
  const int64_t width = static_cast<int64_t>(Product(b.shape));
  const OpDef& output =
      options.output_activation != nullptr ? *options.output_activation : ops::kIdentity;
  const double parameters = double(width) * double(options.outputs) + double(options.outputs);
  Item output_item{.position = position + 1, .text = "the output layer"};
  if (absl::Status s = b.CheckMemory(output_item, parameters, double(options.outputs)); !s.ok()) {
    return s;
  }
  b.built.network->Add(
      std::make_unique<Linear>(LinearOptions{.in = width,
                                             .out = options.outputs,
                                             .weight_init = RecommendedInitializer(output),
                                             .dtype = options.dtype},
                               gen));
  b.built.network->Add(std::make_unique<Activation>(output));
  b.built.parameters += parameters;
  return std::move(b.built);
}

}  // namespace actgrad::nn
