// The `actgrad` command line: one subcommand per job. This is the one place
// where errors become messages on stderr and exit codes.

#include <CLI/CLI.hpp>
#include <exception>
#include <iostream>

#include "graph/error.h"
#include "tools/experiment_command.h"
#include "tools/gradcheck_command.h"
#include "tools/plot_command.h"
#include "tools/profile_command.h"
#include "tools/train_command.h"

int main(int argc, char** argv) {
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
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const actgrad::Error& e) {
    std::cerr << "actgrad: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "actgrad: unexpected failure: " << e.what() << "\n";
    return 1;
  }
  return exit_code;
}
