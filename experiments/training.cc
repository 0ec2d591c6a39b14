#include "experiments/training.h"

#include <cmath>

#include "ops/functional.h"

namespace actgrad::experiments {

double Rms(std::span<const double> values) {
  double sum = 0;
  for (double v : values) sum += v * v;
  return values.empty() ? 0 : std::sqrt(sum / double(values.size()));
}

namespace {

double StdDev(std::span<const double> values) {
  double mean = 0;
  for (double v : values) mean += v;
  mean /= std::max<size_t>(values.size(), 1);
  double sum = 0;
  for (double v : values) sum += (v - mean) * (v - mean);
  return values.empty() ? 0 : std::sqrt(sum / double(values.size()));
}

}  // namespace

Run TrainMlp(const Data& data, const RunOptions& options) {
  nn::MlpOptions mlp = options.mlp;
  mlp.inputs = data.features;
  mlp.outputs = data.outputs;
  Generator gen(options.seed);
  Run run;
  run.model = nn::Mlp(mlp, gen);
  nn::Sequential& model = *run.model;
  if (options.observe) options.observe(0, model);

  nn::TrainOptions train = options.train;
  train.seed = options.seed;
  double elapsed = 0;
  train.on_epoch = [&](const nn::EpochReport& r) {
    elapsed += r.seconds;
    run.train_loss.push_back(r.train_loss * options.loss_factor);
    run.test_loss.push_back(r.test.has_value() ? r.test->loss * options.loss_factor : 0.0);
    run.test_metric.push_back(r.test.has_value() ? r.test->metrics[0] : 0.0);
    if (run.epochs_to_target < 0 && run.train_loss.back() <= options.target_loss) {
      run.epochs_to_target = r.epoch + 1;
      run.seconds_to_target = elapsed;
    }
    if (options.observe) options.observe(r.epoch + 1, model);
  };
  nn::Train(data.task, model, data.x_train, data.y_train, data.x_test, data.y_test, train);
  run.seconds = elapsed;
  return run;
}

std::vector<LayerProbe> ProbeLayers(nn::Task task, nn::Sequential& model, const Tensor& x,
                                    std::span<const double> y) {
  model.ZeroGrad();
  std::vector<LayerProbe> probes;
  std::vector<nn::Linear*> linears;
  std::vector<Tensor> kept;  // hooked activations must outlive Backward()
  Tensor h = x;
  // The last Linear is the output layer; the hidden ones are each followed
  // by an Activation.
  size_t last_linear = 0;
  for (size_t i = 0; i < model.size(); ++i) {
    if (dynamic_cast<nn::Linear*>(&model.layer(i)) != nullptr) last_linear = i;
  }
  for (size_t i = 0; i <= last_linear; ++i) {
    h = model.layer(i).Forward(h);
    auto* linear = dynamic_cast<nn::Linear*>(&model.layer(i));
    if (linear == nullptr || i == last_linear || i + 1 >= model.size()) continue;
    LayerProbe probe;
    probe.z = h.ToVector();
    h = model.layer(++i).Forward(h);
    probe.a = h.ToVector();
    probe.a_std = StdDev(probe.a);
    probes.push_back(std::move(probe));
    linears.push_back(linear);
    const size_t index = probes.size() - 1;
    h.RegisterHook([&probes, index](const Tensor& grad) {
      probes[index].activation_grad_rms = Rms(grad.ToVector());
      return Tensor();
    });
    kept.push_back(h);
  }
  const Tensor targets = nn::TargetTensor(task, y, x.dtype());
  Tensor loss;
  switch (task) {
    case nn::Task::kBinary:
      loss = BinaryCrossEntropyWithLogits(h, targets);
      break;
    case nn::Task::kMulticlass:
      loss = CrossEntropy(h, targets);
      break;
    case nn::Task::kRegression:
      for (size_t i = last_linear + 1; i < model.size(); ++i) h = model.layer(i).Forward(h);
      loss = MseLoss(h, targets);
      break;
  }
  loss.Backward();
  for (size_t k = 0; k < probes.size(); ++k) {
    const Tensor& grad = linears[k]->weight().grad();
    probes[k].weight_grad_rms = grad.defined() ? Rms(grad.ToVector()) : 0.0;
  }
  model.ZeroGrad();
  return probes;
}

}  // namespace actgrad::experiments
