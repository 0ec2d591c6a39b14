// The measurement behind the lstm and gru rows' kernel: oneDNN 2.6's
// recurrent primitives (lstm and linear-before-reset GRU, forward_training
// then backward, with the weight reorders, bias folding and gate reordering
// a row would have to do around them) against the rows' own kernel (one
// input product for all steps, then per step one product and one pass over
// the gates), at W7's shape and at larger ones. Each line also gives the
// largest difference between the two results (output and weight
// gradients), which checks the gate and bias mapping.
//
//   actgrad_rnn_kernels [threads]     # default 1
//
// Each cell is the median of 15 forward+backward passes after 3 untimed.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <vector>

#include "actgrad.h"

namespace {

using dnnl::memory;
using Tag = memory::format_tag;
using Clock = std::chrono::steady_clock;

struct RnnShape {
  int64_t steps, batch, input, hidden;
};

constexpr RnnShape kShapes[] = {
    {32, 32, 64, 128},   // W7
    {64, 8, 32, 32},     // small
    {32, 64, 256, 256},  // medium
    {16, 64, 512, 512},  // large
};

template <typename Fn>
double MedianMs(Fn fn) {
  for (int i = 0; i < 3; ++i) fn();
  std::vector<double> ms;
  for (int i = 0; i < 15; ++i) {
    const Clock::time_point start = Clock::now();
    fn();
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

std::vector<float> Floats(const actgrad::Tensor& t) {
  const std::vector<double> v = t.ToVector();
  return std::vector<float>(v.begin(), v.end());
}

double LargestDifference(const std::vector<float>& a, const std::vector<float>& b) {
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, double(std::abs(a[i] - b[i])));
  return worst;
}

// PyTorch's GRU gate blocks r, z, n in oneDNN's order u(=z), r, o(=n).
std::vector<float> GruToOneDnnOrder(const std::vector<float>& w, int64_t block) {
  std::vector<float> out(w.size());
  std::copy(w.begin() + block, w.begin() + 2 * block, out.begin());
  std::copy(w.begin(), w.begin() + block, out.begin() + block);
  std::copy(w.begin() + 2 * block, w.end(), out.begin() + 2 * block);
  return out;
}

struct Results {
  double ms = 0;
  std::vector<float> output, dw_ih, dw_hh;  // in PyTorch's layouts and gate order
};

// The row: forward and backward of the whole sequence from zero states,
// with dY = 1 on every output.
Results RunRow(bool lstm, const RnnShape& s, const std::vector<actgrad::Tensor>& weights,
               const actgrad::Tensor& x) {
  using namespace actgrad;
  const Tensor zeros = Zeros({s.batch, s.hidden});
  Results r;
  auto pass = [&] {
    for (const Tensor& w : weights) const_cast<Tensor&>(w).ZeroGrad();
    const Tensor y =
        lstm ? LstmLayer(x, zeros, zeros, weights[0], weights[1], weights[2], weights[3]).output
             : GruLayer(x, zeros, weights[0], weights[1], weights[2], weights[3]);
    y.Backward(Ones(y.shape()));
    return y;
  };
  r.ms = MedianMs(pass);
  r.output = Floats(pass());
  r.dw_ih = Floats(weights[0].grad());
  r.dw_hh = Floats(weights[1].grad());
  return r;
}

Results RunOneDnn(bool lstm, const RnnShape& s, const std::vector<actgrad::Tensor>& weights,
                  const actgrad::Tensor& x_tensor) {
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  const auto f32 = memory::data_type::f32;
  const int64_t T = s.steps, N = s.batch, I = s.input, H = s.hidden, G = lstm ? 4 : 3;
  const memory::desc src({T, N, I}, f32, Tag::tnc), dst({T, N, H}, f32, Tag::tnc);
  const memory::desc state({1, 1, N, H}, f32, Tag::ldnc);
  const memory::desc layer_any({1, 1, I, G, H}, f32, Tag::any);
  const memory::desc iter_any({1, 1, H, G, H}, f32, Tag::any);
  const memory::desc layer_user({1, 1, I, G, H}, f32, Tag::ldgoi);
  const memory::desc iter_user({1, 1, H, G, H}, f32, Tag::ldgoi);
  // Four bias blocks for both: the LSTM's four gates, and the linear-
  // before-reset GRU's three plus b_hn, which the reset gate multiplies.
  const memory::desc bias({1, 1, 4, H}, f32, Tag::ldgo);

  std::vector<float> w_ih = Floats(weights[0]), w_hh = Floats(weights[1]);
  const std::vector<float> b_ih = Floats(weights[2]), b_hh = Floats(weights[3]);
  std::vector<float> b(4 * H);
  if (lstm) {
    for (int64_t i = 0; i < 4 * H; ++i) b[i] = b_ih[i] + b_hh[i];
  } else {
    w_ih = GruToOneDnnOrder(w_ih, H * I);
    w_hh = GruToOneDnnOrder(w_hh, H * H);
    for (int64_t j = 0; j < H; ++j) {
      b[j] = b_ih[H + j] + b_hh[H + j];  // u = PyTorch's z
      b[H + j] = b_ih[j] + b_hh[j];      // r
      b[2 * H + j] = b_ih[2 * H + j];    // o's input part
      b[3 * H + j] = b_hh[2 * H + j];    // o's hidden part, inside the reset
    }
  }
  std::vector<float> x = Floats(x_tensor), zeros(N * H, 0.0f), y(T * N * H), h_n(N * H), c_n(N * H),
                     dy(T * N * H, 1.0f), dx(T * N * I), dh0(N * H), dc0(N * H), db(4 * H),
                     dw_ih(G * H * I), dw_hh(G * H * H);

  Results r;
  const auto direction = dnnl::rnn_direction::unidirectional_left2right;
  memory m_x(src, engine, x.data()), m_zero(state, engine, zeros.data()),
      m_zero_c(state, engine, zeros.data()), m_bias(bias, engine, b.data()),
      m_y(dst, engine, y.data()), m_hn(state, engine, h_n.data()), m_cn(state, engine, c_n.data()),
      m_dy(dst, engine, dy.data()), m_dx(src, engine, dx.data()), m_dh0(state, engine, dh0.data()),
      m_dc0(state, engine, dc0.data()), m_db(bias, engine, db.data()),
      m_w_ih(layer_user, engine, w_ih.data()), m_w_hh(iter_user, engine, w_hh.data()),
      m_dw_ih(layer_user, engine, dw_ih.data()), m_dw_hh(iter_user, engine, dw_hh.data()),
      m_zero_dh(state, engine, zeros.data()), m_zero_dc(state, engine, zeros.data());

  std::function<void()> pass;
  if (lstm) {
    const dnnl::lstm_forward::primitive_desc fpd(
        dnnl::lstm_forward::desc(dnnl::prop_kind::forward_training, direction, src, state, state,
                                 layer_any, iter_any, bias, dst, state, state),
        engine);
    const dnnl::lstm_backward::primitive_desc bpd(
        dnnl::lstm_backward::desc(dnnl::prop_kind::backward, direction, src, state, state,
                                  layer_any, iter_any, bias, dst, state, state, src, state, state,
                                  layer_any, iter_any, bias, dst, state, state),
        engine, fpd);
    std::printf("#   oneDNN lstm implementation: forward %s, backward %s\n", fpd.impl_info_str(),
                bpd.impl_info_str());
    auto fwd = std::make_shared<dnnl::lstm_forward>(fpd);
    auto bwd = std::make_shared<dnnl::lstm_backward>(bpd);
    auto ws = std::make_shared<memory>(fpd.workspace_desc(), engine);
    auto fw_l = std::make_shared<memory>(fpd.weights_layer_desc(), engine);
    auto fw_i = std::make_shared<memory>(fpd.weights_iter_desc(), engine);
    auto bw_l = std::make_shared<memory>(bpd.weights_layer_desc(), engine);
    auto bw_i = std::make_shared<memory>(bpd.weights_iter_desc(), engine);
    auto dw_l = std::make_shared<memory>(bpd.diff_weights_layer_desc(), engine);
    auto dw_i = std::make_shared<memory>(bpd.diff_weights_iter_desc(), engine);
    pass = [=, &stream, &db]() mutable {
      dnnl::reorder(m_w_ih, *fw_l).execute(stream, m_w_ih, *fw_l);
      dnnl::reorder(m_w_hh, *fw_i).execute(stream, m_w_hh, *fw_i);
      fwd->execute(stream, {{DNNL_ARG_SRC_LAYER, m_x},
                            {DNNL_ARG_SRC_ITER, m_zero},
                            {DNNL_ARG_SRC_ITER_C, m_zero_c},
                            {DNNL_ARG_WEIGHTS_LAYER, *fw_l},
                            {DNNL_ARG_WEIGHTS_ITER, *fw_i},
                            {DNNL_ARG_BIAS, m_bias},
                            {DNNL_ARG_DST_LAYER, m_y},
                            {DNNL_ARG_DST_ITER, m_hn},
                            {DNNL_ARG_DST_ITER_C, m_cn},
                            {DNNL_ARG_WORKSPACE, *ws}});
      dnnl::reorder(m_w_ih, *bw_l).execute(stream, m_w_ih, *bw_l);
      dnnl::reorder(m_w_hh, *bw_i).execute(stream, m_w_hh, *bw_i);
      // Backward accumulates into the weight gradients.
      std::memset(dw_l->get_data_handle(), 0, dw_l->get_desc().get_size());
      std::memset(dw_i->get_data_handle(), 0, dw_i->get_desc().get_size());
      std::fill(db.begin(), db.end(), 0.0f);
      bwd->execute(stream, {{DNNL_ARG_SRC_LAYER, m_x},
                            {DNNL_ARG_SRC_ITER, m_zero},
                            {DNNL_ARG_SRC_ITER_C, m_zero_c},
                            {DNNL_ARG_WEIGHTS_LAYER, *bw_l},
                            {DNNL_ARG_WEIGHTS_ITER, *bw_i},
                            {DNNL_ARG_BIAS, m_bias},
                            {DNNL_ARG_DST_LAYER, m_y},
                            {DNNL_ARG_DST_ITER, m_hn},
                            {DNNL_ARG_DST_ITER_C, m_cn},
                            {DNNL_ARG_WORKSPACE, *ws},
                            {DNNL_ARG_DIFF_DST_LAYER, m_dy},
                            {DNNL_ARG_DIFF_DST_ITER, m_zero_dh},
                            {DNNL_ARG_DIFF_DST_ITER_C, m_zero_dc},
                            {DNNL_ARG_DIFF_SRC_LAYER, m_dx},
                            {DNNL_ARG_DIFF_SRC_ITER, m_dh0},
                            {DNNL_ARG_DIFF_SRC_ITER_C, m_dc0},
                            {DNNL_ARG_DIFF_WEIGHTS_LAYER, *dw_l},
                            {DNNL_ARG_DIFF_WEIGHTS_ITER, *dw_i},
                            {DNNL_ARG_DIFF_BIAS, m_db}});
      dnnl::reorder(*dw_l, m_dw_ih).execute(stream, *dw_l, m_dw_ih);
      dnnl::reorder(*dw_i, m_dw_hh).execute(stream, *dw_i, m_dw_hh);
      stream.wait();
    };
  } else {
    const dnnl::lbr_gru_forward::primitive_desc fpd(
        dnnl::lbr_gru_forward::desc(dnnl::prop_kind::forward_training, direction, src, state,
                                    layer_any, iter_any, bias, dst, state),
        engine);
    const dnnl::lbr_gru_backward::primitive_desc bpd(
        dnnl::lbr_gru_backward::desc(dnnl::prop_kind::backward, direction, src, state, layer_any,
                                     iter_any, bias, dst, state, src, state, layer_any, iter_any,
                                     bias, dst, state),
        engine, fpd);
    std::printf("#   oneDNN lbr_gru implementation: forward %s, backward %s\n", fpd.impl_info_str(),
                bpd.impl_info_str());
    auto fwd = std::make_shared<dnnl::lbr_gru_forward>(fpd);
    auto bwd = std::make_shared<dnnl::lbr_gru_backward>(bpd);
    auto ws = std::make_shared<memory>(fpd.workspace_desc(), engine);
    auto fw_l = std::make_shared<memory>(fpd.weights_layer_desc(), engine);
    auto fw_i = std::make_shared<memory>(fpd.weights_iter_desc(), engine);
    auto bw_l = std::make_shared<memory>(bpd.weights_layer_desc(), engine);
    auto bw_i = std::make_shared<memory>(bpd.weights_iter_desc(), engine);
    auto dw_l = std::make_shared<memory>(bpd.diff_weights_layer_desc(), engine);
    auto dw_i = std::make_shared<memory>(bpd.diff_weights_iter_desc(), engine);
    pass = [=, &stream, &db]() mutable {
      dnnl::reorder(m_w_ih, *fw_l).execute(stream, m_w_ih, *fw_l);
      dnnl::reorder(m_w_hh, *fw_i).execute(stream, m_w_hh, *fw_i);
      fwd->execute(stream, {{DNNL_ARG_SRC_LAYER, m_x},
                            {DNNL_ARG_SRC_ITER, m_zero},
                            {DNNL_ARG_WEIGHTS_LAYER, *fw_l},
                            {DNNL_ARG_WEIGHTS_ITER, *fw_i},
                            {DNNL_ARG_BIAS, m_bias},
                            {DNNL_ARG_DST_LAYER, m_y},
                            {DNNL_ARG_DST_ITER, m_hn},
                            {DNNL_ARG_WORKSPACE, *ws}});
      dnnl::reorder(m_w_ih, *bw_l).execute(stream, m_w_ih, *bw_l);
      dnnl::reorder(m_w_hh, *bw_i).execute(stream, m_w_hh, *bw_i);
      std::memset(dw_l->get_data_handle(), 0, dw_l->get_desc().get_size());
      std::memset(dw_i->get_data_handle(), 0, dw_i->get_desc().get_size());
      std::fill(db.begin(), db.end(), 0.0f);
      bwd->execute(stream, {{DNNL_ARG_SRC_LAYER, m_x},
                            {DNNL_ARG_SRC_ITER, m_zero},
                            {DNNL_ARG_WEIGHTS_LAYER, *bw_l},
                            {DNNL_ARG_WEIGHTS_ITER, *bw_i},
                            {DNNL_ARG_BIAS, m_bias},
                            {DNNL_ARG_DST_LAYER, m_y},
                            {DNNL_ARG_DST_ITER, m_hn},
                            {DNNL_ARG_WORKSPACE, *ws},
                            {DNNL_ARG_DIFF_DST_LAYER, m_dy},
                            {DNNL_ARG_DIFF_DST_ITER, m_zero_dh},
                            {DNNL_ARG_DIFF_SRC_LAYER, m_dx},
                            {DNNL_ARG_DIFF_SRC_ITER, m_dh0},
                            {DNNL_ARG_DIFF_WEIGHTS_LAYER, *dw_l},
                            {DNNL_ARG_DIFF_WEIGHTS_ITER, *dw_i},
                            {DNNL_ARG_DIFF_BIAS, m_db}});
      dnnl::reorder(*dw_l, m_dw_ih).execute(stream, *dw_l, m_dw_ih);
      dnnl::reorder(*dw_i, m_dw_hh).execute(stream, *dw_i, m_dw_hh);
      stream.wait();
    };
  }
  r.ms = MedianMs(pass);
  pass();
  r.output = y;
  r.dw_ih = lstm ? dw_ih : GruToOneDnnOrder(dw_ih, H * I);  // the swap is its own inverse
  r.dw_hh = lstm ? dw_hh : GruToOneDnnOrder(dw_hh, H * H);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 1;
  if (threads < 1 || threads > 1024) {
    std::fprintf(stderr, "usage: %s [threads], threads in [1, 1024]\n", argv[0]);
    return 2;
  }
  actgrad::SetNumThreads(threads);
  std::printf(
      "# lstm and gru, forward_training + backward of one layer, %d thread(s); "
      "median ms of 15\n",
      threads);
  std::printf(
      "| layer | T | B | I | H | oneDNN 2.6 ms | row ms | oneDNN / row | "
      "largest difference |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
      "|\n");
  for (const bool lstm : {true, false}) {
    for (const RnnShape& s : kShapes) {
      actgrad::Generator gen(7);
      const int64_t G = lstm ? 4 : 3;
      const double bound = 1 / std::sqrt(double(s.hidden));
      std::vector<actgrad::Tensor> weights = {
          actgrad::Uniform({G * s.hidden, s.input}, -bound, bound, gen),
          actgrad::Uniform({G * s.hidden, s.hidden}, -bound, bound, gen),
          actgrad::Uniform({G * s.hidden}, -bound, bound, gen),
          actgrad::Uniform({G * s.hidden}, -bound, bound, gen)};
      for (actgrad::Tensor& w : weights) w.set_requires_grad(true);
      const actgrad::Tensor x = actgrad::Normal({s.steps, s.batch, s.input}, 0, 1, gen);
      const Results ours = RunRow(lstm, s, weights, x);
      const Results theirs = RunOneDnn(lstm, s, weights, x);
      const double difference = std::max({LargestDifference(ours.output, theirs.output),
                                          LargestDifference(ours.dw_ih, theirs.dw_ih),
                                          LargestDifference(ours.dw_hh, theirs.dw_hh)});
      std::printf("| %s | %lld | %lld | %lld | %lld | %.3f | %.3f | %.2f | %.1e |\n",
                  lstm ? "lstm" : "gru", (long long)s.steps, (long long)s.batch, (long long)s.input,
                  (long long)s.hidden, theirs.ms, ours.ms, theirs.ms / ours.ms, difference);
    }
  }
}
