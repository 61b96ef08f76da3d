// runbase: the command-line front end of the runbase C++ SDK. Everything but the process
// boundary lives in commands.cpp, so the tests can drive it too.
#include <signal.h>
#include <unistd.h>

#include <iostream>

#include "commands.hpp"

int main(int argc, char** argv) {
  // A closed stdout (`runbase get ID | head -c0`) must not kill the program silently, possibly
  // in the middle of saving a file: writes fail with EPIPE instead, and the command reports it
  // and exits 1.
  signal(SIGPIPE, SIG_IGN);
  runbase::cli::Console console{std::cout, std::cerr, isatty(STDERR_FILENO) == 1};
  return runbase::cli::run_cli(argc, argv, console);
}
