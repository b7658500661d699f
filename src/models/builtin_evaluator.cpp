#include "models/builtin_evaluator.h"

// The assembler's .incbin copies the file into the object at build time (CMake makes this
// file depend on it): no generated source, no 11 MB hex array to compile.
// TRILEMMA_BUILTIN_EVALUATOR is its absolute path, set by CMakeLists.txt.
asm(".section .rodata\n"
    ".balign 16\n"
    "trilemma_builtin_evaluator_begin:\n"
    ".incbin \"" TRILEMMA_BUILTIN_EVALUATOR "\"\n"
    "trilemma_builtin_evaluator_end:\n"
    ".previous\n");

extern "C" const char trilemma_builtin_evaluator_begin[];
extern "C" const char trilemma_builtin_evaluator_end[];

namespace trilemma {

std::string builtin_evaluator_bytes() {
  return std::string(trilemma_builtin_evaluator_begin, trilemma_builtin_evaluator_end);
}

}  // namespace trilemma
