#include "ops/dnnl_conv.h"

#if ACTGRAD_HAS_ONEDNN

#include <map>
#include <memory>
#include <oneapi/dnnl/dnnl.hpp>
#include <optional>
#include <vector>

#include "ops/gemm.h"
#include "ops/kernels.h"
#include "ops/threads.h"

namespace actgrad::internal {

namespace {

using dnnl::memory;
using Tag = memory::format_tag;

dnnl::engine& Engine() {
  static dnnl::engine* engine = new dnnl::engine(dnnl::engine::kind::cpu, 0);
  return *engine;
}

dnnl::stream& Stream() {
  thread_local dnnl::stream stream(Engine());
  return stream;
}

memory::dims Dims(std::initializer_list<int64_t> dims) { return memory::dims(dims); }

// Working memory for one call, from the tensor pool (graph/storage.h): the
// reorder buffers and scratchpads of every shape and direction share the
// pool's buffers instead of each keeping its own.
memory PooledMemory(const memory::desc& desc, Tensor& hold) {
  const int64_t bytes = static_cast<int64_t>(desc.get_size());
  hold = Empty(Shape{std::max<int64_t>(1, (bytes + 3) / 4)}, DType::kFloat32);
  return memory(desc, Engine(), hold.raw_data());
}

// A primitive's side of one tensor: the layout the primitive wants and,
// when the user's plain layout differs, the reorders between the two.
struct Operand {
  memory::desc user;
  memory::desc wanted;
  std::optional<dnnl::reorder> to_wanted, to_user;

  Operand(const memory::desc& user_desc, const memory::desc& wanted_desc, bool in, bool out)
      : user(user_desc), wanted(wanted_desc) {
    if (user == wanted) return;
    if (in) to_wanted.emplace(dnnl::reorder::primitive_desc(Engine(), user, Engine(), wanted));
    if (out) to_user.emplace(dnnl::reorder::primitive_desc(Engine(), wanted, Engine(), user));
  }

  // The memory the primitive reads, after reordering `data` into it
  // (into a buffer `hold` keeps for the call).
  memory In(const float* data, Tensor& hold) {
    memory plain(user, Engine(), const_cast<float*>(data));
    if (user == wanted) return plain;
    memory buffer = PooledMemory(wanted, hold);
    to_wanted->execute(Stream(), plain, buffer);
    return buffer;
  }
  // The memory the primitive writes; Finish() reorders it into `data`.
  memory Out(float* data, Tensor& hold) {
    if (user == wanted) return memory(user, Engine(), data);
    return PooledMemory(wanted, hold);
  }
  void Finish(memory written, float* data) {
    if (user == wanted) return;
    memory plain(user, Engine(), data);
    to_user->execute(Stream(), written, plain);
  }
};

// The buffers of one call: inputs, output and scratchpad.
struct CallBuffers {
  Tensor a, b, out, scratchpad;
};

// Everything one shape needs, built on first use of each direction.
struct Entry {
  explicit Entry(const ConvGeometry& g) {
    const memory::dims src = Dims({g.batch, g.channels, g.height, g.width});
    const memory::dims dst = Dims({g.batch, g.out_channels, g.out_height, g.out_width});
    const memory::dims weights =
        g.groups == 1
            ? Dims({g.out_channels, g.channels, g.kh, g.kw})
            : Dims({g.groups, g.out_channels / g.groups, g.channels / g.groups, g.kh, g.kw});
    const auto f32 = memory::data_type::f32;
    user_src = memory::desc(src, f32, Tag::nchw);
    user_dst = memory::desc(dst, f32, Tag::nchw);
    user_weights = memory::desc(weights, f32, g.groups == 1 ? Tag::oihw : Tag::goihw);
    user_bias = memory::desc(Dims({g.out_channels}), f32, Tag::x);
    any_src = memory::desc(src, f32, Tag::any);
    any_dst = memory::desc(dst, f32, Tag::any);
    any_weights = memory::desc(weights, f32, Tag::any);
    strides = Dims({g.sh, g.sw});
    // oneDNN counts dilation from 0.
    dilates = Dims({g.dh - 1, g.dw - 1});
    pad_l = Dims({g.pad_top, g.pad_left});
    pad_r = Dims({g.pad_bottom, g.pad_right});
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    forward_pd = dnnl::convolution_forward::primitive_desc(
        dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training,
                                        dnnl::algorithm::convolution_direct, any_src, any_weights,
                                        user_bias, any_dst, strides, dilates, pad_l, pad_r),
        attr, Engine());
  }

  memory::desc user_src, user_dst, user_weights, user_bias, any_src, any_dst, any_weights;
  memory::dims strides, dilates, pad_l, pad_r;
  dnnl::primitive_attr attr;
  dnnl::convolution_forward::primitive_desc forward_pd;

  struct Forward {
    dnnl::convolution_forward primitive;
    Operand src, weights, dst;
    memory::desc scratchpad;
    memory zero_bias;
  };
  struct BackwardData {
    dnnl::convolution_backward_data primitive;
    Operand diff_dst, weights, diff_src;
    memory::desc scratchpad;
  };
  struct BackwardWeights {
    dnnl::convolution_backward_weights primitive;
    Operand src, diff_dst, diff_weights;
    memory::desc scratchpad;
  };
  std::optional<Forward> forward;
  std::optional<BackwardData> backward_data;
  std::optional<BackwardWeights> backward_weights;
};

std::vector<int64_t> KeyOf(const ConvGeometry& g) {
  return {g.batch,      g.channels,  g.height, g.width, g.out_channels, g.out_height, g.out_width,
          g.kh,         g.kw,        g.groups, g.sh,    g.sw,           g.pad_top,    g.pad_left,
          g.pad_bottom, g.pad_right, g.dh,     g.dw,    NumThreads()};
}

// The cache entry of `g` on this thread; nullptr when oneDNN refuses it.
Entry* EntryFor(const ConvGeometry& g) {
  thread_local std::map<std::vector<int64_t>, std::unique_ptr<Entry>> cache;
  const std::vector<int64_t> key = KeyOf(g);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second.get();
  std::unique_ptr<Entry> entry;
  try {
    entry = std::make_unique<Entry>(g);
  } catch (const dnnl::error&) {
    entry = nullptr;
  }
  Entry* raw = entry.get();
  cache.emplace(key, std::move(entry));
  return raw;
}

}  // namespace

bool DnnlConvForward(const ConvGeometry& g, const float* x, const float* weight, const float* bias,
                     float* y) {
  MatchOpenMpThreads();
  Entry* e = EntryFor(g);
  if (e == nullptr) return false;
  try {
    if (!e->forward) {
      const auto& pd = e->forward_pd;
      e->forward.emplace(Entry::Forward{dnnl::convolution_forward(pd),
                                        Operand(e->user_src, pd.src_desc(), true, false),
                                        Operand(e->user_weights, pd.weights_desc(), true, false),
                                        Operand(e->user_dst, pd.dst_desc(), false, true),
                                        pd.scratchpad_desc(), memory(e->user_bias, Engine())});
      float* zeros = static_cast<float*>(e->forward->zero_bias.get_data_handle());
      std::fill(zeros, zeros + g.out_channels, 0.0f);
    }
    Entry::Forward& f = *e->forward;
    const memory bias_memory =
        bias != nullptr ? memory(e->user_bias, Engine(), const_cast<float*>(bias)) : f.zero_bias;
    CallBuffers buffers;
    const memory out = f.dst.Out(y, buffers.out);
    f.primitive.execute(Stream(),
                        {{DNNL_ARG_SRC, f.src.In(x, buffers.a)},
                         {DNNL_ARG_WEIGHTS, f.weights.In(weight, buffers.b)},
                         {DNNL_ARG_BIAS, bias_memory},
                         {DNNL_ARG_DST, out},
                         {DNNL_ARG_SCRATCHPAD, PooledMemory(f.scratchpad, buffers.scratchpad)}});
    f.dst.Finish(out, y);
    Stream().wait();
  } catch (const dnnl::error&) {
    return false;
  }
  return true;
}

bool DnnlConvBackwardData(const ConvGeometry& g, const float* dy, const float* weight, float* dx) {
  MatchOpenMpThreads();
  Entry* e = EntryFor(g);
  if (e == nullptr) return false;
  try {
    if (!e->backward_data) {
      const dnnl::convolution_backward_data::primitive_desc pd(
          dnnl::convolution_backward_data::desc(dnnl::algorithm::convolution_direct, e->any_src,
                                                e->any_weights, e->any_dst, e->strides, e->dilates,
                                                e->pad_l, e->pad_r),
          e->attr, Engine(), e->forward_pd);
      e->backward_data.emplace(Entry::BackwardData{
          dnnl::convolution_backward_data(pd),
          Operand(e->user_dst, pd.diff_dst_desc(), true, false),
          Operand(e->user_weights, pd.weights_desc(), true, false),
          Operand(e->user_src, pd.diff_src_desc(), false, true), pd.scratchpad_desc()});
    }
    Entry::BackwardData& b = *e->backward_data;
    CallBuffers buffers;
    const memory out = b.diff_src.Out(dx, buffers.out);
    b.primitive.execute(Stream(),
                        {{DNNL_ARG_DIFF_DST, b.diff_dst.In(dy, buffers.a)},
                         {DNNL_ARG_WEIGHTS, b.weights.In(weight, buffers.b)},
                         {DNNL_ARG_DIFF_SRC, out},
                         {DNNL_ARG_SCRATCHPAD, PooledMemory(b.scratchpad, buffers.scratchpad)}});
    b.diff_src.Finish(out, dx);
    Stream().wait();
  } catch (const dnnl::error&) {
    return false;
  }
  return true;
}

bool DnnlConvBackwardWeights(const ConvGeometry& g, const float* x, const float* dy,
                             float* dweight) {
  MatchOpenMpThreads();
  Entry* e = EntryFor(g);
  if (e == nullptr) return false;
  try {
    if (!e->backward_weights) {
      const dnnl::convolution_backward_weights::primitive_desc pd(
          dnnl::convolution_backward_weights::desc(dnnl::algorithm::convolution_direct, e->any_src,
                                                   e->any_weights, e->any_dst, e->strides,
                                                   e->dilates, e->pad_l, e->pad_r),
          e->attr, Engine(), e->forward_pd);
      e->backward_weights.emplace(Entry::BackwardWeights{
          dnnl::convolution_backward_weights(pd), Operand(e->user_src, pd.src_desc(), true, false),
          Operand(e->user_dst, pd.diff_dst_desc(), true, false),
          Operand(e->user_weights, pd.diff_weights_desc(), false, true), pd.scratchpad_desc()});
    }
    Entry::BackwardWeights& b = *e->backward_weights;
    CallBuffers buffers;
    const memory out = b.diff_weights.Out(dweight, buffers.out);
    b.primitive.execute(Stream(),
                        {{DNNL_ARG_SRC, b.src.In(x, buffers.a)},
                         {DNNL_ARG_DIFF_DST, b.diff_dst.In(dy, buffers.b)},
                         {DNNL_ARG_DIFF_WEIGHTS, out},
                         {DNNL_ARG_SCRATCHPAD, PooledMemory(b.scratchpad, buffers.scratchpad)}});
    b.diff_weights.Finish(out, dweight);
    Stream().wait();
  } catch (const dnnl::error&) {
    return false;
  }
  return true;
}

}  // namespace actgrad::internal

#else  // !ACTGRAD_HAS_ONEDNN

namespace actgrad::internal {

bool DnnlConvForward(const ConvGeometry&, const float*, const float*, const float*, float*) {
  return false;
}
bool DnnlConvBackwardData(const ConvGeometry&, const float*, const float*, float*) { return false; }
bool DnnlConvBackwardWeights(const ConvGeometry&, const float*, const float*, float*) {
  return false;
}

}  // namespace actgrad::internal

#endif  // ACTGRAD_HAS_ONEDNN
