// -----------------------------------------------------------------------------
// File: dropout.h
// -----------------------------------------------------------------------------
//
// The Dropout layer. It zeroes each element with probability
// p in training mode (scaling the rest by 1/(1-p)) and passes its input
// through in evaluation mode. Each training call draws a fresh seed from the
// layer's own generator, which the constructor seeds from the one it is
// given: the same seeds give the same masks, on any thread count.
//
// Example:
//
//   actgrad::Generator gen(0);
//   actgrad::nn::Dropout drop(0.25, gen);
//   actgrad::Tensor y = drop(x);  // training: a quarter of x zeroed

#ifndef ACTGRAD_NN_DROPOUT_H_
#define ACTGRAD_NN_DROPOUT_H_

#include <source_location>
#include <string>

#include "graph/generator.h"
#include "nn/module.h"

namespace actgrad::nn {

class Dropout : public Module {
 public:
  // Throws `Error` for p outside [0, 1].
  Dropout(double p, Generator& gen,
          std::source_location location = std::source_location::current());
  Tensor Forward(const Tensor& x) override;
  std::string ToString() const override;
  std::string Kind() const override { return "dropout"; }
  ModuleConfig Config() const override;
  double p() const { return p_; }

 private:
  double p_;
  Generator seeds_;
};
}  // namespace actgrad::nn

#endif  // ACTGRAD_NN_DROPOUT_H_
