#ifndef RUNBASE_TOOLS_CLI_COMMANDS_HPP
#define RUNBASE_TOOLS_CLI_COMMANDS_HPP

#include <ostream>

namespace runbase::cli {

/// Where a command writes: results to `out` (paths, or `--json` objects), progress, log lines and
/// errors to `err`. `err_is_terminal` selects the live status line over plain lines.
struct Console {
  std::ostream& out;
  std::ostream& err;
  bool err_is_terminal = false;
};

/// Runs `runbase` with the given arguments (argv[0] is the program name) and returns the exit
/// status (exit_codes.hpp). Never throws. Reads RUNBASE_API_KEY and RUNBASE_BASE_URL from the
/// environment when the flags are not given. Commands that wait treat SIGINT as "stop waiting"
/// while they wait.
int run_cli(int argc, const char* const* argv, Console& console);

}  // namespace runbase::cli

#endif  // RUNBASE_TOOLS_CLI_COMMANDS_HPP
