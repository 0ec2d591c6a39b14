#include "ops/crash_report.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <deque>
#include <map>
#include <mutex>

namespace actgrad {

namespace {

// What this thread runs, as C strings that outlive the process's last
// moments: op names live in their rows, plugin paths in `plugin_paths`.
thread_local const char* running_op = nullptr;
thread_local const char* running_part = nullptr;
thread_local const char* running_plugin = nullptr;

const char* program_name = "actgrad";

std::mutex& PluginsMutex() {
  static auto* mutex = new std::mutex();
  return *mutex;
}
std::map<const OpDef*, const char*>& PluginOf() {
  static auto* plugins = new std::map<const OpDef*, const char*>();
  return *plugins;
}
std::deque<std::string>& PluginPaths() {
  static auto* paths = new std::deque<std::string>();
  return *paths;
}

// write(2) only: the handler may run with the heap in any state.
void Write(const char* text) {
  size_t left = strlen(text);
  while (left > 0) {
    const ssize_t n = ::write(STDERR_FILENO, text, left);
    if (n <= 0) return;
    text += n;
    left -= static_cast<size_t>(n);
  }
}

const char* SignalName(int signal) {
  switch (signal) {
    case SIGSEGV:
      return "SIGSEGV";
    case SIGBUS:
      return "SIGBUS";
    case SIGFPE:
      return "SIGFPE";
    case SIGILL:
      return "SIGILL";
  }
  return "a fatal signal";
}

void OnFatalSignal(int signal) {
  Write(program_name);
  Write(": fatal signal ");
  Write(SignalName(signal));
  if (running_op != nullptr) {
    Write(" in the ");
    Write(running_part);
    Write(" formula of op \"");
    Write(running_op);
    Write("\"");
    if (running_plugin != nullptr) {
      Write(" from plugin ");
      Write(running_plugin);
      Write("; the plugin's code crashed");
    }
  }
  Write("\n");
  // Die of the same signal, so the parent sees what happened.
  ::signal(signal, SIG_DFL);
  ::raise(signal);
}

}  // namespace

void InstallFatalSignalReport(const char* program) {
  program_name = program;
  struct sigaction action = {};
  action.sa_handler = &OnFatalSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESETHAND;
  for (int signal : {SIGSEGV, SIGBUS, SIGFPE, SIGILL}) ::sigaction(signal, &action, nullptr);
}

namespace internal {

void SetPluginOf(const OpDef& op, const std::string& path) {
  std::lock_guard<std::mutex> lock(PluginsMutex());
  PluginPaths().push_back(path);
  PluginOf()[&op] = PluginPaths().back().c_str();
}

FormulaScope::FormulaScope(const OpDef& op, const char* part)
    : previous_op_(running_op), previous_part_(running_part), previous_plugin_(running_plugin) {
  running_op = op.name.data();
  running_part = part;
  const char* plugin = nullptr;
  {
    std::lock_guard<std::mutex> lock(PluginsMutex());
    auto it = PluginOf().find(&op);
    if (it != PluginOf().end()) plugin = it->second;
  }
  running_plugin = plugin;
}

FormulaScope::~FormulaScope() {
  running_op = previous_op_;
  running_part = previous_part_;
  running_plugin = previous_plugin_;
}

}  // namespace internal
}  // namespace actgrad
