// A plugin that brings a module kind instead of ops: loading it with
// `actgrad predict --plugin` lets predict rebuild models of that kind.

#include "nn/module_kinds.h"
#include "ops/plugin.h"
#include "tests/residual_net.h"

ACTGRAD_REGISTER_MODULE_KIND(actgrad::test_nets::ResidualNet, "residual_net");

namespace {
void RegisterNothing(actgrad::PluginRegistrar&) {}
}  // namespace
ACTGRAD_PLUGIN(RegisterNothing)
