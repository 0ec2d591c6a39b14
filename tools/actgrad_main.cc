// tools/ is the `actgrad` command line: one subcommand per job, each in its
// own *_command.cc over the library. This is the one place where errors
// become messages on stderr and exit codes.

#include <CLI/CLI.hpp>
#include <algorithm>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "graph/error.h"
#include "ops/crash_report.h"
#include "tools/experiment_command.h"
#include "tools/gradcheck_command.h"
#include "tools/parse_errors.h"
#include "tools/plot_command.h"
#include "tools/predict_command.h"
#include "tools/profile_command.h"
#include "tools/train_command.h"

int main(int argc, char** argv) {
  // A plugin's formula that crashes is named, not a bare exit 139.
  actgrad::InstallFatalSignalReport("actgrad");
  CLI::App app("actgrad: automatic differentiation with checked gradients", "actgrad");
  app.require_subcommand(1);
  app.set_version_flag("--version", "actgrad 0.1.0");
  int exit_code = 0;
  actgrad::tools::AddTrainCommand(app, &exit_code);
  actgrad::tools::AddPredictCommand(app, &exit_code);
  actgrad::tools::AddGradcheckCommand(app, &exit_code);
  actgrad::tools::AddProfileCommand(app, &exit_code);
  actgrad::tools::AddPlotCommand(app, &exit_code);
  actgrad::tools::AddExperimentCommand(app, &exit_code);
  // A mistyped command gets the list of commands, not only "a subcommand is
  // required".
  if (argc > 1 && argv[1][0] != '-') {
    std::vector<std::string> names;
    for (const CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
      names.push_back(sub->get_name());
    }
    if (std::find(names.begin(), names.end(), argv[1]) == names.end()) {
      std::cerr << "actgrad: unknown command \"" << argv[1] << "\"; the commands are "
                << absl::StrJoin(names, ", ") << " (actgrad --help)\n";
      return 2;
    }
  }
  if (argc == 1) {
    std::cerr << "usage: actgrad COMMAND [OPTIONS]; the commands are\n";
    for (const CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
      // The description's first clause: the list stays one line a command.
      const std::string about = sub->get_description();
      std::cerr << "  " << sub->get_name() << std::string(12 - sub->get_name().size(), ' ')
                << about.substr(0, std::min(about.find(": "), about.find("; "))) << "\n";
    }
    std::cerr << "(actgrad COMMAND --help for a command's options)\n";
    return 2;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version.
    if (e.get_exit_code() == 0) return app.exit(e);
    std::cerr << "actgrad: " << actgrad::tools::DescribeParseError(e.what()) << "\n";
    return 2;
  } catch (const actgrad::Error& e) {
    std::cerr << "actgrad: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "actgrad: unexpected failure: " << e.what() << "\n";
    return 1;
  }
  return exit_code;
}
