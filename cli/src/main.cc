#include "synapse/cli/app.h"

int main(int argc, char** argv) { return synapse::cli::run(argc, argv); }
