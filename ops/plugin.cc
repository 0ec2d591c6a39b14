#include "ops/plugin.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include <exception>
#include <map>
#include <mutex>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "ops/crash_report.h"
#include "ops/registry.h"

namespace actgrad {

absl::StatusOr<std::vector<const OpDef*>> LoadPlugin(const std::string& path) {
  struct stat info;
  if (stat(path.c_str(), &info) != 0) {
    return absl::NotFoundError(absl::StrCat("plugin ", path, ": no such file"));
  }
  if (!S_ISREG(info.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat("plugin ", path, ": not a regular file"));
  }
  // The same file (by device and inode, whatever it is called) loads once;
  // a second request gets the ops of the first.
  static auto* loaded = new std::map<std::pair<dev_t, ino_t>, std::vector<const OpDef*>>();
  static auto* loaded_mutex = new std::mutex();
  std::lock_guard<std::mutex> lock(*loaded_mutex);
  if (auto it = loaded->find({info.st_dev, info.st_ino}); it != loaded->end()) return it->second;
  // dlopen searches the library path for a bare name, never the current
  // directory, where the file was found above.
  const std::string open_path = path.find('/') == std::string::npos ? "./" + path : path;
  // RTLD_LOCAL keeps the plugin's symbols to itself; it shares this
  // library (and so the registry) through its own dependency on it.
  void* handle = dlopen(open_path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    return absl::InvalidArgumentError(absl::StrCat("plugin ", path,
                                                   ": cannot be loaded as a shared library (",
                                                   why != nullptr ? why : "unknown reason", ")"));
  }
  using AbiVersionFn = int (*)();
  using RegisterFn = void (*)(PluginRegistrar*);
  auto abi_version = reinterpret_cast<AbiVersionFn>(dlsym(handle, "actgrad_plugin_abi_version"));
  auto register_fn = reinterpret_cast<RegisterFn>(dlsym(handle, "actgrad_plugin_register"));
  if (abi_version == nullptr || register_fn == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "plugin ", path, ": missing entry point ",
        abi_version == nullptr ? "actgrad_plugin_abi_version" : "actgrad_plugin_register",
        " (define it with ACTGRAD_PLUGIN from ops/plugin.h)"));
  }
  if (const int version = abi_version(); version != kPluginAbiVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("plugin ", path, ": built for plugin ABI version ", version,
                     ", this actgrad has version ", kPluginAbiVersion, "; rebuild the plugin"));
  }
  PluginRegistrar registrar;
  try {
    register_fn(&registrar);
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("plugin ", path, ": its registration threw: ", e.what()));
  } catch (...) {
    return absl::InternalError(absl::StrCat("plugin ", path, ": its registration threw"));
  }

  // Everything is checked before anything is registered, so a failing plugin
  // leaves the registry as it was.
  std::set<std::string> names;
  for (const ActivationDefinition& d : registrar.definitions()) {
    for (char c : d.name) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_') {
        return absl::InvalidArgumentError(
            absl::StrCat("plugin ", path, ": op name \"", d.name, "\" holds '", std::string(1, c),
                         "'; names are letters, digits and underscores"));
      }
    }
    if (d.name.empty() ||
        (d.generic == nullptr && (d.forward == nullptr || d.derivative == nullptr))) {
      return absl::InvalidArgumentError(
          absl::StrCat("plugin ", path, ": activation \"", d.name,
                       "\" needs a name, and a generic formula or a forward formula and a "
                       "derivative"));
    }
    if (OpRegistry::Global().Find(d.name).ok() || !names.insert(d.name).second) {
      return absl::AlreadyExistsError(absl::StrCat("plugin ", path, ": op name \"", d.name,
                                                   "\" clashes with an op already registered"));
    }
  }
  std::vector<const OpDef*> ops;
  for (ActivationDefinition& d : registrar.definitions()) {
    absl::StatusOr<const OpDef*> op = DefineActivation(std::move(d));
    if (!op.ok()) return op.status();
    internal::SetPluginOf(**op, path);
    ops.push_back(*op);
  }
  loaded->emplace(std::pair{info.st_dev, info.st_ino}, ops);
  return ops;
}

}  // namespace actgrad
