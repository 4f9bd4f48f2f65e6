#include "cli/command.hpp"

int main(int argc, char** argv) {
  return satunet::cli::run_main(argc, argv);
}
