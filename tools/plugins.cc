#include "tools/plugins.h"

#include <iostream>

#include "check/plugin_check.h"

namespace actgrad::tools {

void AddPluginOption(CLI::App* command, std::vector<std::string>* paths) {
  command->add_option("--plugin", *paths,
                      "Load activations and tensor ops from this plugin shared library "
                      "(repeatable)");
}

bool LoadPlugins(const std::vector<std::string>& paths, const char* command) {
  for (const std::string& path : paths) {
    absl::StatusOr<std::vector<const OpDef*>> ops = LoadCheckedPlugin(path);
    if (!ops.ok()) {
      std::cerr << command << ": " << ops.status().message() << "\n";
      return false;
    }
  }
  return true;
}

}  // namespace actgrad::tools
