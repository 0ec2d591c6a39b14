// -----------------------------------------------------------------------------
// File: nn.h
// -----------------------------------------------------------------------------
//
// nn/ is the home of the first use: building and training networks in C++.
// Modules register what they hold (nn/module.h); layers, initializers,
// scalers, tasks, the training loop and model files stand on that.
//
// The layers, initializers, scalers and task helpers in one include.
//
// Example:
//
//   #include "nn/nn.h"
//   auto model = actgrad::nn::Mlp({.inputs = 64, .hidden = {64, 32}, .outputs = 10,
//                                  .output_activation = &actgrad::ops::kSoftmax}, gen);

#ifndef ACTGRAD_NN_NN_H_
#define ACTGRAD_NN_NN_H_

#include "nn/activation.h"
#include "nn/attention.h"
#include "nn/checkpoint.h"
#include "nn/conv.h"
#include "nn/dropout.h"
#include "nn/early_stopping.h"
#include "nn/embedding.h"
#include "nn/flatten.h"
#include "nn/init.h"
#include "nn/layer_spec.h"
#include "nn/linear.h"
#include "nn/lstm.h"
#include "nn/metrics.h"
#include "nn/model_file.h"
#include "nn/module.h"
#include "nn/module_config.h"
#include "nn/module_kinds.h"
#include "nn/normalization.h"
#include "nn/pooling.h"
#include "nn/progress_bar.h"
#include "nn/recurrent.h"
#include "nn/residual.h"
#include "nn/scaler.h"
#include "nn/sequence_layers.h"
#include "nn/sequential.h"
#include "nn/task.h"
#include "nn/train_loop.h"
#include "nn/trainer.h"

#endif  // ACTGRAD_NN_NN_H_
