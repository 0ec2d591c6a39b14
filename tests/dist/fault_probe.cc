// A data-parallel training run in which one rank fails on purpose, for the
// fault tests: `fault_probe die|hang|stop RANK STEP TIMEOUT_SECONDS`. At
// step STEP, rank RANK kills itself (SIGKILL), stops answering (sleeps) or is
// stopped (SIGSTOP); the job must end with a message naming it instead of
// hanging.

#include <csignal>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>

#include "dist/communicator.h"
#include "dist/data_parallel.h"
#include "graph/factories.h"
#include "nn/nn.h"

int main(int argc, char** argv) {
  if (argc != 5) {
    std::cerr << "usage: fault_probe die|hang|stop RANK STEP TIMEOUT_SECONDS\n";
    return 2;
  }
  const std::string fault = argv[1];
  const int faulty_rank = std::atoi(argv[2]);
  const int fault_step = std::atoi(argv[3]);
  const double timeout = std::atof(argv[4]);
  using namespace actgrad;
  auto comm = dist::Communicator::Create(
      {.timeout = absl::Milliseconds(static_cast<int64_t>(timeout * 1e3))});
  if (!comm.ok()) {
    std::cerr << comm.status() << "\n";
    return 1;
  }
  Generator gen(1);
  auto model = nn::Mlp({.inputs = 8, .hidden = {32}, .outputs = 1}, gen);
  auto ddp = dist::DataParallel::Create(**comm, *model, {});
  if (!ddp.ok()) (*comm)->Abort(std::string(ddp.status().message()));
  const Tensor x = Normal(Shape{512, 8}, 0, 1, gen);
  std::vector<double> y;
  for (int i = 0; i < 512; ++i) y.push_back(i % 2);
  nn::TrainOptions options;
  options.epochs = 4;
  options.batch = 8;
  options.gradient_sync = ddp->get();
  int step = 0;
  const int rank = (*comm)->rank();
  options.on_batch = [&](const nn::BatchProgress&) {
    if (++step != fault_step || rank != faulty_rank) return;
    if (fault == "die") std::raise(SIGKILL);
    if (fault == "stop") std::raise(SIGSTOP);
    std::this_thread::sleep_for(std::chrono::hours(1));
  };
  nn::Train(nn::Task::kBinary, *model, x, y, Zeros(Shape{0, 8}), {}, options);
  std::cout << "rank " << rank << " finished " << step << " steps\n";
  return 0;
}
