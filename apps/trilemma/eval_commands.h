#pragma once
// Registration of `trilemma eval` and `trilemma compare` (cmd_eval.cpp, cmd_compare.cpp).
#include "commands.h"

namespace trilemma::cli {

void add_eval_command(CLI::App& app, Context& context);
void add_compare_command(CLI::App& app, Context& context);

}  // namespace trilemma::cli
