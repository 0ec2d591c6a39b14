// -----------------------------------------------------------------------------
// File: plugins.h
// -----------------------------------------------------------------------------
//
// The `--plugin PATH` option every command shares: loads each plugin before
// the command looks up op names, so plugin activations and tensor ops work
// wherever built-in ones do. A plugin's tensor ops are checked as they load
// (check/plugin_check.h); one that fails refuses the plugin.
//
// Example:
//
//   AddPluginOption(sub, &flags->plugins);
//   ...
//   if (!LoadPlugins(flags.plugins, "actgrad gradcheck")) return 1;

#ifndef ACTGRAD_TOOLS_PLUGINS_H_
#define ACTGRAD_TOOLS_PLUGINS_H_

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace actgrad::tools {

void AddPluginOption(CLI::App* command, std::vector<std::string>* paths);

// Loads every plugin with LoadCheckedPlugin; on the first failure prints
// "<command>: <why>" to stderr and returns false.
bool LoadPlugins(const std::vector<std::string>& paths, const char* command);

}  // namespace actgrad::tools

#endif  // ACTGRAD_TOOLS_PLUGINS_H_
