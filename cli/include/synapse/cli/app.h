// The `synapse` command line. Exit codes: 0 success, 1 a user error (bad argument, missing
// file, unknown CID, store full...) with one line on stderr, 2 an internal or machine error
// (I/O failure, corruption found, a bug).
#pragma once

namespace synapse::cli {

int run(int argc, char** argv);

}  // namespace synapse::cli
