// runbase: the command-line front end of the runbase C++ SDK. Everything but the process
// boundary lives in commands.cpp, so the tests can drive it too.
#include <unistd.h>

#include <iostream>

#include "commands.hpp"

int main(int argc, char** argv) {
  runbase::cli::Console console{std::cout, std::cerr, isatty(STDERR_FILENO) == 1};
  return runbase::cli::run_cli(argc, argv, console);
}
