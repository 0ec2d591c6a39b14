// Convolutions: conv2d, conv1d, conv_transpose2d and the weight gradient they
// share (conv2d_weight_grad). Two kernels compute each direction: im2col and
// the project's GEMM (ops/gemm.h), here, for both precisions; and for
// float32 oneDNN's primitives (ops/dnnl_conv.h). Each new float32 shape
// times both and keeps the faster (ops/kernel_choice.h).
//
// Three directions cover every row. With a convolution's input side
// [N, C, H, W], weight [O, C/g, kh, kw] and output side [N, O, Ho, Wo]:
// Correlate (input -> output), Spread (output -> input: the transposed
// convolution, which is the input gradient) and WeightGradient (input and
// output -> weight). conv2d's backward is Spread and WeightGradient;
// conv_transpose2d runs Spread forward and Correlate backward. The im2col
// kernels process images in chunks that share one GEMM per group, so the
// products are [O/g, C/g*kh*kw] x [C/g*kh*kw, chunk*Ho*Wo] rather than one
// small product per image.

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ops/builtin_ops.h"
#include "ops/check_cases.h"
#include "ops/dnnl_conv.h"
#include "ops/functional.h"
#include "ops/gemm.h"
#include "ops/jvp_rules.h"
#include "ops/kernel_choice.h"
#include "ops/kernels.h"
#include "ops/layer_ops.h"
#include "ops/threads.h"

namespace actgrad {
namespace ops {

namespace {

// The geometry of one convolution, in 2-D (1-D ops have height 1).
struct ConvPlan {
  int64_t batch = 0, channels = 0, height = 0, width = 0;   // input side
  int64_t out_channels = 0, out_height = 0, out_width = 0;  // output side
  int64_t kh = 1, kw = 1, groups = 1;
  int64_t sh = 1, sw = 1, pt = 0, pl = 0, dh = 1, dw = 1;

  int64_t GroupChannels() const { return channels / groups; }
  int64_t GroupOutChannels() const { return out_channels / groups; }
  int64_t Rows() const { return GroupChannels() * kh * kw; }  // im2col rows per group
  int64_t InPlane() const { return height * width; }
  int64_t OutPlane() const { return out_height * out_width; }
  // Plain 1x1: the input is its own im2col matrix.
  bool Pointwise() const {
    return kh == 1 && kw == 1 && sh == 1 && sw == 1 && pt == 0 && pl == 0 && out_height == height &&
           out_width == width;
  }
};

// Output extent of a convolution along one axis; <= 0 when the kernel does
// not fit.
int64_t ConvExtent(int64_t in, int64_t pad_total, int64_t dilation, int64_t kernel,
                   int64_t stride) {
  return (in + pad_total - dilation * (kernel - 1) - 1) / stride + 1;
}

// Floor and ceiling divisions for a positive divisor.
int64_t FloorDiv(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
int64_t CeilDiv(int64_t a, int64_t b) { return -FloorDiv(-a, b); }

// Output columns ow for which ow * stride + offset lies in [0, extent).
std::pair<int64_t, int64_t> ValidRange(int64_t offset, int64_t stride, int64_t extent,
                                       int64_t count) {
  const int64_t lo = std::clamp<int64_t>(CeilDiv(-offset, stride), 0, count);
  const int64_t hi = std::clamp<int64_t>(FloorDiv(extent - 1 - offset, stride) + 1, lo, count);
  return {lo, hi};
}

// cols[(c*kh + i)*kw + j][ow + oh*Wo] (row stride `ld`) = image[c][ih][iw],
// zero where (ih, iw) falls in the padding.
template <typename T>
void Im2Col(const ConvPlan& p, const T* image, T* cols, int64_t ld) {
  const int64_t channels = p.GroupChannels();
  for (int64_t c = 0; c < channels; ++c) {
    for (int64_t i = 0; i < p.kh; ++i) {
      for (int64_t j = 0; j < p.kw; ++j) {
        T* row = cols + ((c * p.kh + i) * p.kw + j) * ld;
        const int64_t col_offset = j * p.dw - p.pl;
        const auto [lo, hi] = ValidRange(col_offset, p.sw, p.width, p.out_width);
        for (int64_t oh = 0; oh < p.out_height; ++oh) {
          T* out = row + oh * p.out_width;
          const int64_t ih = oh * p.sh - p.pt + i * p.dh;
          if (ih < 0 || ih >= p.height) {
            std::fill(out, out + p.out_width, T(0));
            continue;
          }
          const T* in = image + (c * p.height + ih) * p.width + col_offset;
          std::fill(out, out + lo, T(0));
          if (p.sw == 1) {
            std::copy(in + lo, in + hi, out + lo);
          } else {
            for (int64_t ow = lo; ow < hi; ++ow) out[ow] = in[ow * p.sw];
          }
          std::fill(out + hi, out + p.out_width, T(0));
        }
      }
    }
  }
}

// The adjoint of Im2Col: adds every column entry back onto its pixel.
template <typename T>
void Col2Im(const ConvPlan& p, const T* cols, int64_t ld, T* image) {
  const int64_t channels = p.GroupChannels();
  for (int64_t c = 0; c < channels; ++c) {
    for (int64_t i = 0; i < p.kh; ++i) {
      for (int64_t j = 0; j < p.kw; ++j) {
        const T* row = cols + ((c * p.kh + i) * p.kw + j) * ld;
        const int64_t col_offset = j * p.dw - p.pl;
        const auto [lo, hi] = ValidRange(col_offset, p.sw, p.width, p.out_width);
        for (int64_t oh = 0; oh < p.out_height; ++oh) {
          const int64_t ih = oh * p.sh - p.pt + i * p.dh;
          if (ih < 0 || ih >= p.height) continue;
          const T* in = row + oh * p.out_width;
          T* out = image + (c * p.height + ih) * p.width + col_offset;
          for (int64_t ow = lo; ow < hi; ++ow) out[ow * p.sw] += in[ow];
        }
      }
    }
  }
}

// Images per chunk: the im2col matrix of one group stays under 16 MiB.
int64_t ChunkSize(const ConvPlan& p, size_t element) {
  const int64_t per_image = std::max<int64_t>(1, p.Rows() * p.OutPlane() * int64_t(element));
  return std::clamp<int64_t>((int64_t{16} << 20) / per_image, 1, std::max<int64_t>(p.batch, 1));
}

// Uninitialized working memory from the tensor pool (graph/storage.h): in a
// steady training loop the same buffers come back every step, with neither
// page faults nor the zero-fill a std::vector would do.
template <typename T>
class Scratch {
 public:
  explicit Scratch(int64_t n)
      : buffer_(internal::Empty(Shape{std::max<int64_t>(n, 1)}, DTypeOf<T>())) {}
  T* data() { return static_cast<T*>(buffer_.raw_data()); }

 private:
  Tensor buffer_;
};

// [chunk, channels, plane] <-> [channels, chunk * plane].
template <typename T>
void GatherChannelsFirst(const T* src, int64_t chunk, int64_t channels, int64_t plane, T* dst) {
  for (int64_t b = 0; b < chunk; ++b) {
    for (int64_t c = 0; c < channels; ++c) {
      std::memcpy(dst + c * chunk * plane + b * plane, src + (b * channels + c) * plane,
                  plane * sizeof(T));
    }
  }
}

// output = Correlate(input, weight) (+ bias): the convolution itself.
template <typename T>
void Correlate(const ConvPlan& p, const T* x, const T* w, const T* bias, T* y) {
  const int64_t rows = p.Rows(), out_group = p.GroupOutChannels(), plane = p.OutPlane();
  const int64_t chunk = ChunkSize(p, sizeof(T));
  Scratch<T> cols(rows * chunk * plane), product(p.out_channels * chunk * plane);
  for (int64_t n0 = 0; n0 < p.batch; n0 += chunk) {
    const int64_t nb = std::min(chunk, p.batch - n0), ld = nb * plane;
    for (int64_t g = 0; g < p.groups; ++g) {
      const T* b_matrix;
      if (p.Pointwise() && nb == 1) {
        b_matrix = x + (n0 * p.channels + g * p.GroupChannels()) * p.InPlane();
      } else if (p.Pointwise()) {
        for (int64_t b = 0; b < nb; ++b) {
          for (int64_t c = 0; c < rows; ++c) {
            const T* src = x + ((n0 + b) * p.channels + g * rows + c) * plane;
            std::copy(src, src + plane, cols.data() + c * ld + b * plane);
          }
        }
        b_matrix = cols.data();
      } else {
        for (int64_t b = 0; b < nb; ++b) {
          Im2Col(p, x + ((n0 + b) * p.channels + g * p.GroupChannels()) * p.InPlane(),
                 cols.data() + b * plane, ld);
        }
        b_matrix = cols.data();
      }
      internal::Gemm(false, false, out_group, ld, rows, w + g * out_group * rows, b_matrix,
                     product.data() + g * out_group * ld, false);
    }
    // [O, nb * plane] -> [nb, O, plane], adding the bias.
    for (int64_t b = 0; b < nb; ++b) {
      for (int64_t o = 0; o < p.out_channels; ++o) {
        const T* src = product.data() + o * ld + b * plane;
        T* dst = y + ((n0 + b) * p.out_channels + o) * plane;
        const T add = bias != nullptr ? bias[o] : T(0);
        for (int64_t k = 0; k < plane; ++k) dst[k] = src[k] + add;
      }
    }
  }
}

// input-side = Spread(output-side, weight): the transposed convolution.
template <typename T>
void Spread(const ConvPlan& p, const T* dy, const T* w, T* dx) {
  const int64_t rows = p.Rows(), out_group = p.GroupOutChannels(), plane = p.OutPlane();
  const int64_t chunk = ChunkSize(p, sizeof(T));
  std::fill(dx, dx + p.batch * p.channels * p.InPlane(), T(0));
  Scratch<T> dy_t(p.out_channels * chunk * plane), cols(rows * chunk * plane);
  for (int64_t n0 = 0; n0 < p.batch; n0 += chunk) {
    const int64_t nb = std::min(chunk, p.batch - n0), ld = nb * plane;
    GatherChannelsFirst(dy + n0 * p.out_channels * plane, nb, p.out_channels, plane, dy_t.data());
    for (int64_t g = 0; g < p.groups; ++g) {
      internal::Gemm(true, false, rows, ld, out_group, w + g * out_group * rows,
                     dy_t.data() + g * out_group * ld, cols.data(), false);
      for (int64_t b = 0; b < nb; ++b) {
        Col2Im(p, cols.data() + b * plane, ld,
               dx + ((n0 + b) * p.channels + g * p.GroupChannels()) * p.InPlane());
      }
    }
  }
}

// weight = WeightGradient(input, output-side gradient).
template <typename T>
void WeightGradient(const ConvPlan& p, const T* x, const T* dy, T* dw) {
  const int64_t rows = p.Rows(), out_group = p.GroupOutChannels(), plane = p.OutPlane();
  const int64_t chunk = ChunkSize(p, sizeof(T));
  Scratch<T> dy_t(p.out_channels * chunk * plane), cols(rows * chunk * plane);
  if (p.batch == 0) std::fill(dw, dw + p.out_channels * rows, T(0));
  for (int64_t n0 = 0; n0 < p.batch; n0 += chunk) {
    const int64_t nb = std::min(chunk, p.batch - n0), ld = nb * plane;
    GatherChannelsFirst(dy + n0 * p.out_channels * plane, nb, p.out_channels, plane, dy_t.data());
    for (int64_t g = 0; g < p.groups; ++g) {
      for (int64_t b = 0; b < nb; ++b) {
        Im2Col(p, x + ((n0 + b) * p.channels + g * p.GroupChannels()) * p.InPlane(),
               cols.data() + b * plane, ld);
      }
      internal::Gemm(false, true, out_group, rows, ld, dy_t.data() + g * out_group * ld,
                     cols.data(), dw + g * out_group * rows, n0 > 0);
    }
  }
}

// Sums dy [N, O, plane] over N and the plane.
Tensor BiasGradient(const Tensor& dy) {
  const int64_t channels = dy.dim(1),
                plane = dy.numel() / std::max<int64_t>(1, dy.dim(0) * channels);
  Tensor db = internal::Empty(Shape{channels}, dy.dtype());
  DispatchFloating(dy.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* pdy = static_cast<const T*>(dy.raw_data());
    T* pdb = static_cast<T*>(db.raw_data());
    for (int64_t c = 0; c < channels; ++c) {
      // Float sums of each row (vectorized), added up in double.
      double sum = 0;
      for (int64_t n = 0; n < dy.dim(0); ++n) {
        const T* row = pdy + (n * channels + c) * plane;
        for (int64_t b = 0; b < plane; b += 1024) {
          sum += double(Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>(
                            row + b, std::min<int64_t>(1024, plane - b))
                            .sum());
        }
      }
      pdb[c] = T(sum);
    }
  });
  return db;
}

// ------------------------------------------------------------- validation
// The 1-D rows carry their settings in the width entries; the height
// entries of a 1-D call are the identity.
Attrs HeightIdentity(Attrs attrs) {
  attrs.MutableLayer().window[0] = 1;
  attrs.MutableLayer().stride[0] = 1;
  attrs.MutableLayer().pad_begin[0] = attrs.MutableLayer().pad_end[0] = 0;
  attrs.MutableLayer().dilation[0] = 1;
  attrs.MutableLayer().output_padding[0] = 0;
  return attrs;
}

void CheckGeometryAttrs(const Attrs& a, absl::string_view name, const Location& location) {
  for (int axis = 0; axis < 2; ++axis) {
    ACTGRAD_REQUIRE(a.Layer().stride[axis] >= 1 && a.Layer().dilation[axis] >= 1 &&
                        a.Layer().pad_begin[axis] >= 0 && a.Layer().pad_end[axis] >= 0,
                    location, name,
                    ": stride and dilation must be >= 1 and padding >= 0, got stride ",
                    a.Layer().stride[axis], ", dilation ", a.Layer().dilation[axis], ", padding ",
                    a.Layer().pad_begin[axis], "/", a.Layer().pad_end[axis]);
  }
  ACTGRAD_REQUIRE(a.Layer().groups >= 1, location, name, ": groups must be >= 1, got ",
                  a.Layer().groups);
}

// The plan of a convolution whose input side is `in` [N, C, H, W] and whose
// weight is [O, C/g, kh, kw]; throws naming `name` when they do not fit.
ConvPlan PlanConv(const Shape& in, const Shape& weight, const Attrs& a, absl::string_view name,
                  const Location& location) {
  CheckGeometryAttrs(a, name, location);
  ConvPlan p;
  p.batch = in[0];
  p.channels = in[1];
  p.height = in[2];
  p.width = in[3];
  p.out_channels = weight[0];
  p.kh = weight[2];
  p.kw = weight[3];
  p.groups = a.Layer().groups;
  p.sh = a.Layer().stride[0];
  p.sw = a.Layer().stride[1];
  p.pt = a.Layer().pad_begin[0];
  p.pl = a.Layer().pad_begin[1];
  p.dh = a.Layer().dilation[0];
  p.dw = a.Layer().dilation[1];
  ACTGRAD_REQUIRE(p.channels % p.groups == 0 && p.out_channels % p.groups == 0, location, name,
                  ": groups ", p.groups, " must divide the input channels (", p.channels,
                  ") and the output channels (", p.out_channels, ")");
  ACTGRAD_REQUIRE(weight[1] * p.groups == p.channels, location, name, ": the weight ",
                  weight.ToString(), " expects ", weight[1] * p.groups, " input channels (",
                  weight[1], " per group x ", p.groups, " groups), the input ", in.ToString(),
                  " has ", p.channels);
  p.out_height =
      ConvExtent(p.height, a.Layer().pad_begin[0] + a.Layer().pad_end[0], p.dh, p.kh, p.sh);
  p.out_width =
      ConvExtent(p.width, a.Layer().pad_begin[1] + a.Layer().pad_end[1], p.dw, p.kw, p.sw);
  ACTGRAD_REQUIRE(p.out_height >= 1 && p.out_width >= 1 && p.kh >= 1 && p.kw >= 1, location, name,
                  ": the kernel ", p.kh, "x", p.kw, " (dilation ", p.dh, "x", p.dw,
                  ") does not fit the padded input ", in.ToString(), " (padding ", p.pt, "/",
                  a.Layer().pad_end[0], ", ", p.pl, "/", a.Layer().pad_end[1], ")");
  return p;
}

void RequireRank(const Tensor& t, int rank, absl::string_view name, absl::string_view what,
                 absl::string_view layout, const Location& location) {
  ACTGRAD_REQUIRE(t.rank() == rank, location, name, ": the ", what, " must be ", layout, ", got ",
                  t.shape().ToString());
}

void RequireBias(const ForwardContext& ctx, int64_t channels) {
  if (ctx.inputs().size() < 3) return;
  const Tensor& b = ctx.input(2);
  ACTGRAD_REQUIRE(b.rank() == 1 && b.dim(0) == channels, ctx.location(), ctx.op().name,
                  ": the bias ", b.shape().ToString(), " must be [", channels, "]");
}

// A tensor sharing `t`'s values under `shape`.
Tensor ViewAs(const Tensor& t, const Shape& shape) {
  internal::TensorImpl* impl = t.impl();
  impl->storage->Ref();
  return Tensor(internal::TensorImpl::Make(impl->storage, shape, impl->dtype));
}

std::vector<int64_t> Dims(const Shape& shape) {
  return std::vector<int64_t>(shape.dims().begin(), shape.dims().end());
}

// --------------------------------------------------------------- kernels on tensors
// The oneDNN view of a plan. The far-side padding is what makes the output
// sizes come out as planned (a transposed convolution's output_padding
// lands there).
internal::ConvGeometry GeometryOf(const ConvPlan& p) {
  return {.batch = p.batch,
          .channels = p.channels,
          .height = p.height,
          .width = p.width,
          .out_channels = p.out_channels,
          .out_height = p.out_height,
          .out_width = p.out_width,
          .kh = p.kh,
          .kw = p.kw,
          .groups = p.groups,
          .sh = p.sh,
          .sw = p.sw,
          .pad_top = p.pt,
          .pad_left = p.pl,
          .pad_bottom = (p.out_height - 1) * p.sh + p.dh * (p.kh - 1) + 1 - p.height - p.pt,
          .pad_right = (p.out_width - 1) * p.sw + p.dw * (p.kw - 1) + 1 - p.width - p.pl,
          .dh = p.dh,
          .dw = p.dw};
}

enum class Direction : int64_t { kForward, kInputGradient, kWeightGradient };

// Runs `im2col` for float64, and the faster of it and `onednn` for float32.
template <typename T, typename Im2col, typename OneDnn>
void RunConvKernel(Direction direction, const ConvPlan& p, Im2col im2col, OneDnn onednn) {
  if constexpr (!std::is_same_v<T, float>) {
    im2col();
  } else {
    const internal::ConvGeometry g = GeometryOf(p);
    const std::vector<int64_t> key = {
        int64_t(direction), g.batch,      g.channels,  g.height,  g.width,
        g.out_channels,     g.out_height, g.out_width, g.kh,      g.kw,
        g.groups,           g.sh,         g.sw,        g.pad_top, g.pad_left,
        g.pad_bottom,       g.pad_right,  g.dh,        g.dw,      NumThreads()};
    const auto describe = [&] {
      const char* name = direction == Direction::kForward         ? "forward"
                         : direction == Direction::kInputGradient ? "input gradient"
                                                                  : "weight gradient";
      return absl::StrCat("convolution ", name, " [", g.batch, ",", g.channels, ",", g.height, ",",
                          g.width, "] * [", g.out_channels, ",", g.channels / g.groups, ",", g.kh,
                          ",", g.kw, "] -> [", g.batch, ",", g.out_channels, ",", g.out_height, ",",
                          g.out_width, "], ", NumThreads(),
                          NumThreads() == 1 ? " thread" : " threads");
    };
    internal::RunFaster(key, describe, im2col, [&] { return onednn(g); });
  }
}

Tensor RunCorrelate(const ConvPlan& p, const Tensor& x, const Tensor& w, const Tensor* bias) {
  Tensor y = internal::Empty(Shape{p.batch, p.out_channels, p.out_height, p.out_width}, x.dtype());
  DispatchFloating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = static_cast<const T*>(x.raw_data());
    const T* pw = static_cast<const T*>(w.raw_data());
    const T* pb = bias != nullptr ? static_cast<const T*>(bias->raw_data()) : nullptr;
    T* py = static_cast<T*>(y.raw_data());
    RunConvKernel<T>(
        Direction::kForward, p, [&] { Correlate<T>(p, px, pw, pb, py); },
        [&](const internal::ConvGeometry& g) {
          if constexpr (std::is_same_v<T, float>)
            return internal::DnnlConvForward(g, px, pw, pb, py);
          return false;
        });
  });
  return y;
}

Tensor RunSpread(const ConvPlan& p, const Tensor& dy, const Tensor& w) {
  Tensor dx = internal::Empty(Shape{p.batch, p.channels, p.height, p.width}, dy.dtype());
  DispatchFloating(dy.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* pdy = static_cast<const T*>(dy.raw_data());
    const T* pw = static_cast<const T*>(w.raw_data());
    T* pdx = static_cast<T*>(dx.raw_data());
    RunConvKernel<T>(
        Direction::kInputGradient, p, [&] { Spread<T>(p, pdy, pw, pdx); },
        [&](const internal::ConvGeometry& g) {
          if constexpr (std::is_same_v<T, float>)
            return internal::DnnlConvBackwardData(g, pdy, pw, pdx);
          return false;
        });
  });
  return dx;
}

Tensor RunWeightGradient(const ConvPlan& p, const Tensor& x, const Tensor& dy) {
  Tensor dw = internal::Empty(Shape{p.out_channels, p.GroupChannels(), p.kh, p.kw}, x.dtype());
  DispatchFloating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = static_cast<const T*>(x.raw_data());
    const T* pdy = static_cast<const T*>(dy.raw_data());
    T* pdw = static_cast<T*>(dw.raw_data());
    RunConvKernel<T>(
        Direction::kWeightGradient, p, [&] { WeightGradient<T>(p, px, pdy, pdw); },
        [&](const internal::ConvGeometry& g) {
          if constexpr (std::is_same_v<T, float>) {
            return internal::DnnlConvBackwardWeights(g, px, pdy, pdw);
          }
          return false;
        });
  });
  return dw;
}

// ------------------------------------------------------------------ conv2d
Tensor Conv2dForward(ForwardContext& ctx) {
  internal::RequireSameFloatingDType(ctx);
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(1);
  RequireRank(x, 4, "conv2d", "input", "[N, C, H, W]", ctx.location());
  RequireRank(w, 4, "conv2d", "weight", "[out, in/groups, kh, kw]", ctx.location());
  const ConvPlan p = PlanConv(x.shape(), w.shape(), ctx.attrs(), "conv2d", ctx.location());
  RequireBias(ctx, p.out_channels);
  return RunCorrelate(p, x, w, ctx.inputs().size() == 3 ? &ctx.input(2) : nullptr);
}

void Conv2dBackward(BackwardContext& ctx) {
  const Tensor& x = ctx.saved_input(0);
  const Tensor& w = ctx.saved_input(1);
  const ConvPlan p = PlanConv(x.shape(), w.shape(), ctx.attrs(), "conv2d", ctx.location());
  if (ctx.needs_grad(0)) ctx.set_dx(0, RunSpread(p, ctx.dy(), w));
  if (ctx.needs_grad(1)) ctx.set_dx(1, RunWeightGradient(p, x, ctx.dy()));
  if (ctx.num_inputs() == 3 && ctx.needs_grad(2)) ctx.set_dx(2, BiasGradient(ctx.dy()));
}

// The transposed convolution that maps a conv2d's output back onto `input`'s
// exact size: output_padding takes up the rows a strided convolution drops.
Attrs TransposeAttrsFor(const Attrs& conv, const Shape& input, const Shape& weight,
                        const Shape& output) {
  Attrs t = conv;
  for (int axis = 0; axis < 2; ++axis) {
    const int64_t k = weight[2 + axis];
    const int64_t reached = (output[2 + axis] - 1) * conv.Layer().stride[axis] -
                            conv.Layer().pad_begin[axis] - conv.Layer().pad_end[axis] +
                            conv.Layer().dilation[axis] * (k - 1) + 1;
    t.MutableLayer().output_padding[axis] = input[2 + axis] - reached;
  }
  return t;
}

Tensor WeightGradientOp(const Tensor& x, const Tensor& dy, const Shape& weight, const Attrs& conv) {
  Attrs a = conv;
  a.shape = weight;
  return Apply(kConv2dWeightGrad, {x, dy}, a);
}

void Conv2dBackwardGraph(BackwardContext& ctx) {
  const Tensor& x = ctx.saved_input(0);
  const Tensor& w = ctx.saved_input(1);
  const Tensor& dy = ctx.dy();
  if (ctx.needs_grad(0)) {
    ctx.set_dx(0, Apply(kConvTranspose2d, {dy, w},
                        TransposeAttrsFor(ctx.attrs(), x.shape(), w.shape(), dy.shape())));
  }
  if (ctx.needs_grad(1)) ctx.set_dx(1, WeightGradientOp(x, dy, w.shape(), ctx.attrs()));
  if (ctx.num_inputs() == 3 && ctx.needs_grad(2)) ctx.set_dx(2, Sum(Sum(Sum(dy, 3), 2), 0));
}

double ConvFlops(std::span<const Tensor> inputs, const Tensor& output) {
  const Tensor& w = inputs[1];
  return 2.0 * double(output.numel()) * double(w.numel() / std::max<int64_t>(1, w.dim(0)));
}

// --------------------------------------------------------- conv_transpose2d
// The plan of the convolution this op transposes: its input side is the
// output here.
ConvPlan PlanTranspose(const Shape& x, const Shape& w, const Attrs& a, const Location& location) {
  CheckGeometryAttrs(a, "conv_transpose2d", location);
  Shape out{x[0], w[1] * a.Layer().groups, 0, 0};
  for (int axis = 0; axis < 2; ++axis) {
    ACTGRAD_REQUIRE(a.Layer().output_padding[axis] >= 0 &&
                        a.Layer().output_padding[axis] <
                            std::max(a.Layer().stride[axis], a.Layer().dilation[axis]),
                    location, "conv_transpose2d: output_padding ", a.Layer().output_padding[axis],
                    " must be >= 0 and below the stride (", a.Layer().stride[axis],
                    ") or the dilation (", a.Layer().dilation[axis], ")");
    out[2 + axis] = (x[2 + axis] - 1) * a.Layer().stride[axis] - a.Layer().pad_begin[axis] -
                    a.Layer().pad_end[axis] + a.Layer().dilation[axis] * (w[2 + axis] - 1) +
                    a.Layer().output_padding[axis] + 1;
    ACTGRAD_REQUIRE(out[2 + axis] >= 1, location, "conv_transpose2d: the input ", x.ToString(),
                    " with weight ", w.ToString(), " and this padding gives no output");
  }
  ACTGRAD_REQUIRE(w[0] == x[1], location, "conv_transpose2d: the weight ", w.ToString(),
                  " is [in, out/groups, kh, kw] and must have in = ", x[1],
                  " (the input's channels)");
  const Shape conv_weight{x[1], w[1], w[2], w[3]};
  ConvPlan p = PlanConv(out, conv_weight, a, "conv_transpose2d", location);
  // A strided convolution rounds down; the transposed one keeps its input.
  p.out_height = x[2];
  p.out_width = x[3];
  return p;
}

Tensor ConvTranspose2dForward(ForwardContext& ctx) {
  internal::RequireSameFloatingDType(ctx);
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(1);
  RequireRank(x, 4, "conv_transpose2d", "input", "[N, C, H, W]", ctx.location());
  RequireRank(w, 4, "conv_transpose2d", "weight", "[in, out/groups, kh, kw]", ctx.location());
  ACTGRAD_REQUIRE(x.dim(1) % ctx.attrs().Layer().groups == 0, ctx.location(),
                  "conv_transpose2d: groups ", ctx.attrs().Layer().groups,
                  " must divide the input channels ", x.dim(1));
  const ConvPlan p = PlanTranspose(x.shape(), w.shape(), ctx.attrs(), ctx.location());
  RequireBias(ctx, p.channels);
  Tensor y = RunSpread(p, x, w);
  if (ctx.inputs().size() == 3) {
    DispatchFloating(y.dtype(), [&](auto tag) {
      using T = decltype(tag);
      T* py = static_cast<T*>(y.raw_data());
      const T* pb = static_cast<const T*>(ctx.input(2).raw_data());
      const int64_t plane = p.InPlane();
      for (int64_t n = 0; n < p.batch; ++n) {
        for (int64_t c = 0; c < p.channels; ++c) {
          T* row = py + (n * p.channels + c) * plane;
          for (int64_t k = 0; k < plane; ++k) row[k] += pb[c];
        }
      }
    });
  }
  return y;
}

void ConvTranspose2dBackward(BackwardContext& ctx) {
  const Tensor& x = ctx.saved_input(0);
  const Tensor& w = ctx.saved_input(1);
  const ConvPlan p = PlanTranspose(x.shape(), w.shape(), ctx.attrs(), ctx.location());
  if (ctx.needs_grad(0)) ctx.set_dx(0, RunCorrelate(p, ctx.dy(), w, nullptr));
  if (ctx.needs_grad(1)) ctx.set_dx(1, RunWeightGradient(p, ctx.dy(), x));
  if (ctx.num_inputs() == 3 && ctx.needs_grad(2)) ctx.set_dx(2, BiasGradient(ctx.dy()));
}

void ConvTranspose2dBackwardGraph(BackwardContext& ctx) {
  const Tensor& x = ctx.saved_input(0);
  const Tensor& w = ctx.saved_input(1);
  const Tensor& dy = ctx.dy();
  Attrs conv = ctx.attrs();
  conv.MutableLayer().output_padding = {0, 0};
  if (ctx.needs_grad(0)) ctx.set_dx(0, Apply(kConv2d, {dy, w}, conv));
  if (ctx.needs_grad(1)) ctx.set_dx(1, WeightGradientOp(dy, x, w.shape(), conv));
  if (ctx.num_inputs() == 3 && ctx.needs_grad(2)) ctx.set_dx(2, Sum(Sum(Sum(dy, 3), 2), 0));
}

double ConvTransposeFlops(std::span<const Tensor> inputs, const Tensor& output) {
  const Tensor& x = inputs[0];
  const Tensor& w = inputs[1];
  return 2.0 * double(x.numel()) * double(w.numel() / std::max<int64_t>(1, w.dim(0)));
}

// ------------------------------------------------------ conv2d_weight_grad
// Inputs: a convolution's input and its output gradient; attrs.shape is the
// weight's shape. Bilinear, so both gradients are convolutions again.
Tensor Conv2dWeightGradForward(ForwardContext& ctx) {
  internal::RequireSameFloatingDType(ctx);
  const Tensor& x = ctx.input(0);
  const Tensor& dy = ctx.input(1);
  const Shape& weight = ctx.attrs().shape;
  RequireRank(x, 4, "conv2d_weight_grad", "input", "[N, C, H, W]", ctx.location());
  ACTGRAD_REQUIRE(
      weight.rank() == 4, ctx.location(),
      "conv2d_weight_grad: attrs.shape must be the weight's [out, in/groups, kh, kw], got ",
      weight.ToString());
  const ConvPlan p = PlanConv(x.shape(), weight, ctx.attrs(), "conv2d_weight_grad", ctx.location());
  const Shape expected{p.batch, p.out_channels, p.out_height, p.out_width};
  ACTGRAD_REQUIRE(dy.shape() == expected, ctx.location(),
                  "conv2d_weight_grad: the output gradient ", dy.shape().ToString(), " must be ",
                  expected.ToString());
  return RunWeightGradient(p, x, dy);
}

void Conv2dWeightGradBackward(BackwardContext& ctx) {
  const Tensor& x = ctx.saved_input(0);
  const Tensor& dy = ctx.saved_input(1);
  const ConvPlan p =
      PlanConv(x.shape(), ctx.attrs().shape, ctx.attrs(), "conv2d_weight_grad", ctx.location());
  if (ctx.needs_grad(0)) ctx.set_dx(0, RunSpread(p, dy, ctx.dy()));
  if (ctx.needs_grad(1)) ctx.set_dx(1, RunCorrelate(p, x, ctx.dy(), nullptr));
}

void Conv2dWeightGradBackwardGraph(BackwardContext& ctx) {
  const Tensor& x = ctx.saved_input(0);
  const Tensor& dy = ctx.saved_input(1);
  const Tensor& dw = ctx.dy();
  Attrs conv = ctx.attrs();
  conv.shape = Shape();
  if (ctx.needs_grad(0)) {
    ctx.set_dx(0, Apply(kConvTranspose2d, {dy, dw},
                        TransposeAttrsFor(conv, x.shape(), dw.shape(), dy.shape())));
  }
  if (ctx.needs_grad(1)) ctx.set_dx(1, Apply(kConv2d, {x, dw}, conv));
}

double WeightGradFlops(std::span<const Tensor> inputs, const Tensor& output) {
  const Tensor& dy = inputs[1];
  return 2.0 * double(dy.numel()) * double(output.numel() / std::max<int64_t>(1, output.dim(0)));
}

// ------------------------------------------------------------------ conv1d
Tensor Conv1dForward(ForwardContext& ctx) {
  internal::RequireSameFloatingDType(ctx);
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(1);
  RequireRank(x, 3, "conv1d", "input", "[N, C, L]", ctx.location());
  RequireRank(w, 3, "conv1d", "weight", "[out, in/groups, k]", ctx.location());
  const Attrs a = HeightIdentity(ctx.attrs());
  const ConvPlan p = PlanConv(Shape{x.dim(0), x.dim(1), 1, x.dim(2)},
                              Shape{w.dim(0), w.dim(1), 1, w.dim(2)}, a, "conv1d", ctx.location());
  RequireBias(ctx, p.out_channels);
  const Tensor y = RunCorrelate(p, x, w, ctx.inputs().size() == 3 ? &ctx.input(2) : nullptr);
  return ViewAs(y, Shape{p.batch, p.out_channels, p.out_width});
}

void Conv1dBackward(BackwardContext& ctx) {
  const Tensor& x = ctx.saved_input(0);
  const Tensor& w = ctx.saved_input(1);
  const ConvPlan p =
      PlanConv(Shape{x.dim(0), x.dim(1), 1, x.dim(2)}, Shape{w.dim(0), w.dim(1), 1, w.dim(2)},
               HeightIdentity(ctx.attrs()), "conv1d", ctx.location());
  if (ctx.needs_grad(0)) ctx.set_dx(0, ViewAs(RunSpread(p, ctx.dy(), w), x.shape()));
  if (ctx.needs_grad(1)) ctx.set_dx(1, ViewAs(RunWeightGradient(p, x, ctx.dy()), w.shape()));
  if (ctx.num_inputs() == 3 && ctx.needs_grad(2)) ctx.set_dx(2, BiasGradient(ctx.dy()));
}

// Through the 2-D rows on [N, C, 1, L] views.
void Conv1dBackwardGraph(BackwardContext& ctx) {
  const Tensor& x = ctx.saved_input(0);
  const Tensor& w = ctx.saved_input(1);
  const Tensor& dy = ctx.dy();
  const Attrs a = HeightIdentity(ctx.attrs());
  const Tensor x4 = Reshape(x, {x.dim(0), x.dim(1), 1, x.dim(2)});
  const Tensor w4 = Reshape(w, {w.dim(0), w.dim(1), 1, w.dim(2)});
  const Tensor dy4 = Reshape(dy, {dy.dim(0), dy.dim(1), 1, dy.dim(2)});
  if (ctx.needs_grad(0)) {
    const Tensor dx = Apply(kConvTranspose2d, {dy4, w4},
                            TransposeAttrsFor(a, x4.shape(), w4.shape(), dy4.shape()));
    ctx.set_dx(0, Reshape(dx, Dims(x.shape())));
  }
  if (ctx.needs_grad(1)) {
    ctx.set_dx(1, Reshape(WeightGradientOp(x4, dy4, w4.shape(), a), Dims(w.shape())));
  }
  if (ctx.num_inputs() == 3 && ctx.needs_grad(2)) ctx.set_dx(2, Sum(Sum(dy, 2), 0));
}

// -------------------------------------------------------------- check cases
Attrs ConvAttrs(std::array<int64_t, 2> stride, std::array<int64_t, 2> pad_begin,
                std::array<int64_t, 2> pad_end, std::array<int64_t, 2> dilation, int64_t groups) {
  Attrs a;
  a.MutableLayer().stride = stride;
  a.MutableLayer().pad_begin = pad_begin;
  a.MutableLayer().pad_end = pad_end;
  a.MutableLayer().dilation = dilation;
  a.MutableLayer().groups = groups;
  return a;
}

std::vector<GradCheckCase> Conv2dCases(Generator& gen) {
  auto r = [&](const Shape& s) { return internal::RandomDouble(s, -1, 1, gen); };
  return {
      {{r({2, 2, 5, 5}), r({3, 2, 3, 3}), r({3})},
       ConvAttrs({1, 1}, {1, 1}, {1, 1}, {1, 1}, 1),
       "[2,2,5,5] * [3,2,3,3] + [3], padding 1",
       {}},
      {{r({1, 4, 6, 7}), r({4, 2, 3, 2})},
       ConvAttrs({2, 3}, {1, 0}, {0, 1}, {1, 2}, 2),
       "[1,4,6,7] * [4,2,3,2], groups 2, stride 2x3, dilation 1x2, padding 1/0 0/1",
       {}},
      {{r({2, 3, 4, 4}), r({2, 3, 1, 1}), r({2})},
       ConvAttrs({1, 1}, {0, 0}, {0, 0}, {1, 1}, 1),
       "[2,3,4,4] * [2,3,1,1] + [2] (pointwise)",
       {}},
  };
}

std::vector<GradCheckCase> Conv1dCases(Generator& gen) {
  auto r = [&](const Shape& s) { return internal::RandomDouble(s, -1, 1, gen); };
  return {
      {{r({2, 2, 7}), r({3, 2, 3}), r({3})},
       ConvAttrs({1, 2}, {0, 1}, {0, 1}, {1, 1}, 1),
       "[2,2,7] * [3,2,3] + [3], stride 2, padding 1",
       {}},
      {{r({1, 4, 9}), r({2, 2, 2})},
       ConvAttrs({1, 1}, {0, 1}, {0, 2}, {1, 3}, 2),
       "[1,4,9] * [2,2,2], groups 2, dilation 3, padding 1/2",
       {}},
  };
}

std::vector<GradCheckCase> ConvTranspose2dCases(Generator& gen) {
  auto r = [&](const Shape& s) { return internal::RandomDouble(s, -1, 1, gen); };
  Attrs strided = ConvAttrs({2, 2}, {1, 0}, {1, 0}, {1, 1}, 1);
  strided.MutableLayer().output_padding = {1, 0};
  return {
      {{r({2, 3, 3, 3}), r({3, 2, 3, 3}), r({2})},
       strided,
       "[2,3,3,3] *T [3,2,3,3] + [2], stride 2, padding 1x0, output_padding 1x0",
       {}},
      {{r({1, 4, 3, 2}), r({4, 1, 2, 3})},
       ConvAttrs({1, 2}, {0, 1}, {0, 1}, {2, 1}, 2),
       "[1,4,3,2] *T [4,1,2,3], groups 2, dilation 2x1, stride 1x2",
       {}},
  };
}

std::vector<GradCheckCase> WeightGradCases(Generator& gen) {
  auto r = [&](const Shape& s) { return internal::RandomDouble(s, -1, 1, gen); };
  Attrs a = ConvAttrs({2, 1}, {1, 1}, {0, 1}, {1, 1}, 2);
  a.shape = Shape{4, 1, 2, 3};
  // Input [2,2,5,4]: out height (5+1-1-1)/2+1 = 3, width (4+2-2-1)/1+1 = 4.
  return {{{r({2, 2, 5, 4}), r({2, 4, 3, 4})}, a, "[2,2,5,4] and dy [2,4,3,4] -> [4,1,2,3]", {}}};
}

}  // namespace

const OpDef kConv2d{
    .name = "conv2d",
    .formula =
        "Y[n,o] = b[o] + sum_c W[o,c] (*) X[n,c];  dX = conv_transpose2d(dY, W), "
        "dW = conv2d_weight_grad(X, dY), db = sum(dY)",
    .kind = OpKind::kLinalg,
    .min_inputs = 2,
    .max_inputs = 3,
    .saves = kSaveInput0 | kSaveInput1,
    .forward = &Conv2dForward,
    .backward = &Conv2dBackward,
    .backward_graph = &Conv2dBackwardGraph,
    .jvp = &internal::ProductWithBiasJvp,
    .check_cases = &Conv2dCases,
    .forward_flops = &ConvFlops,
};

const OpDef kConv1d{
    .name = "conv1d",
    .formula = "conv2d on [N, C, 1, L]",
    .kind = OpKind::kLinalg,
    .min_inputs = 2,
    .max_inputs = 3,
    .saves = kSaveInput0 | kSaveInput1,
    .forward = &Conv1dForward,
    .backward = &Conv1dBackward,
    .backward_graph = &Conv1dBackwardGraph,
    .jvp = &internal::ProductWithBiasJvp,
    .check_cases = &Conv1dCases,
    .forward_flops = &ConvFlops,
};

const OpDef kConvTranspose2d{
    .name = "conv_transpose2d",
    .formula =
        "Y = the input gradient of conv2d(., W) at dY = X, + b;  dX = conv2d(dY, W), "
        "dW = conv2d_weight_grad(dY, X)",
    .kind = OpKind::kLinalg,
    .min_inputs = 2,
    .max_inputs = 3,
    .saves = kSaveInput0 | kSaveInput1,
    .forward = &ConvTranspose2dForward,
    .backward = &ConvTranspose2dBackward,
    .backward_graph = &ConvTranspose2dBackwardGraph,
    .jvp = &internal::ProductWithBiasJvp,
    .check_cases = &ConvTranspose2dCases,
    .forward_flops = &ConvTransposeFlops,
};

const OpDef kConv2dWeightGrad{
    .name = "conv2d_weight_grad",
    .formula =
        "dW = sum_n X[n] (*) dY[n] (conv2d's weight gradient);  dX = conv_transpose2d(dY, G), "
        "d(dY) = conv2d(X, G)",
    .kind = OpKind::kLinalg,
    .min_inputs = 2,
    .max_inputs = 2,
    .saves = kSaveInput0 | kSaveInput1,
    .forward = &Conv2dWeightGradForward,
    .backward = &Conv2dWeightGradBackward,
    .backward_graph = &Conv2dWeightGradBackwardGraph,
    .jvp = &internal::ProductJvp,
    .check_cases = &WeightGradCases,
    .forward_flops = &WeightGradFlops,
};

}  // namespace ops

namespace {

// "same": total padding dilation*(k-1), the odd one at the far side.
void SamePadding(int64_t kernel, int64_t dilation, int64_t* begin, int64_t* end) {
  const int64_t total = dilation * (kernel - 1);
  *begin = total / 2;
  *end = total - total / 2;
}

}  // namespace

Tensor Conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias,
              const Conv2dOptions& options, std::source_location location) {
  Attrs a;
  a.MutableLayer().stride = options.stride;
  a.MutableLayer().dilation = options.dilation;
  a.MutableLayer().groups = options.groups;
  a.MutableLayer().pad_begin = a.MutableLayer().pad_end = options.padding;
  if (options.same) {
    ACTGRAD_REQUIRE(options.stride[0] == 1 && options.stride[1] == 1, location,
                    "conv2d: padding \"same\" needs stride 1, got ", options.stride[0], "x",
                    options.stride[1]);
    ACTGRAD_REQUIRE(weight.defined() && weight.rank() == 4, location,
                    "conv2d: the weight must be [out, in/groups, kh, kw]");
    for (int axis = 0; axis < 2; ++axis) {
      SamePadding(weight.dim(2 + axis), options.dilation[axis], &a.MutableLayer().pad_begin[axis],
                  &a.MutableLayer().pad_end[axis]);
    }
  }
  if (bias.defined()) return Apply(ops::kConv2d, {x, weight, bias}, a, location);
  return Apply(ops::kConv2d, {x, weight}, a, location);
}

Tensor Conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias,
              const Conv1dOptions& options, std::source_location location) {
  Attrs a;
  a.MutableLayer().stride[1] = options.stride;
  a.MutableLayer().dilation[1] = options.dilation;
  a.MutableLayer().groups = options.groups;
  a.MutableLayer().pad_begin[1] = a.MutableLayer().pad_end[1] = options.padding;
  if (options.same) {
    ACTGRAD_REQUIRE(options.stride == 1, location, "conv1d: padding \"same\" needs stride 1, got ",
                    options.stride);
    ACTGRAD_REQUIRE(weight.defined() && weight.rank() == 3, location,
                    "conv1d: the weight must be [out, in/groups, k]");
    SamePadding(weight.dim(2), options.dilation, &a.MutableLayer().pad_begin[1],
                &a.MutableLayer().pad_end[1]);
  }
  if (bias.defined()) return Apply(ops::kConv1d, {x, weight, bias}, a, location);
  return Apply(ops::kConv1d, {x, weight}, a, location);
}

Tensor ConvTranspose2d(const Tensor& x, const Tensor& weight, const Tensor& bias,
                       const ConvTranspose2dOptions& options, std::source_location location) {
  Attrs a;
  a.MutableLayer().stride = options.stride;
  a.MutableLayer().dilation = options.dilation;
  a.MutableLayer().groups = options.groups;
  a.MutableLayer().pad_begin = a.MutableLayer().pad_end = options.padding;
  a.MutableLayer().output_padding = options.output_padding;
  if (bias.defined()) return Apply(ops::kConvTranspose2d, {x, weight, bias}, a, location);
  return Apply(ops::kConvTranspose2d, {x, weight}, a, location);
}

}  // namespace actgrad
