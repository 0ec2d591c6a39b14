#include "nn/module.h"

namespace actgrad::nn {

std::vector<NamedParameter> Module::NamedParameters() {
  std::vector<NamedParameter> out;
  CollectParameters("", &out);
  return out;
}

std::vector<Tensor> Module::Parameters() {
  std::vector<Tensor> out;
  for (const NamedParameter& p : NamedParameters()) out.push_back(*p.tensor);
  return out;
}

int64_t Module::NumParameters() {
  int64_t n = 0;
  for (const NamedParameter& p : NamedParameters()) n += p.tensor->numel();
  return n;
}

void Module::ZeroGrad() {
  for (const NamedParameter& p : NamedParameters()) p.tensor->ZeroGrad();
}

}  // namespace actgrad::nn
