#include "models/builtin_evaluator.h"

// The assembler's .incbin copies each file into the object at build time (CMake makes this
// file depend on them): no generated source, no multi-megabyte hex array to compile.
// TRILEMMA_BUILTIN_EVALUATOR and TRILEMMA_FASHION_EVALUATOR are absolute paths set by CMakeLists.txt.
#define TRILEMMA_INCBIN(symbol, path)   \
  asm(".section .rodata\n"              \
      ".balign 16\n" #symbol "_begin:\n" \
      ".incbin \"" path "\"\n" #symbol "_end:\n" \
      ".previous\n");                   \
  extern "C" const char symbol##_begin[]; \
  extern "C" const char symbol##_end[];

TRILEMMA_INCBIN(trilemma_builtin_evaluator, TRILEMMA_BUILTIN_EVALUATOR)
TRILEMMA_INCBIN(trilemma_fashion_evaluator, TRILEMMA_FASHION_EVALUATOR)

namespace trilemma {

std::string builtin_evaluator_bytes() {
  return std::string(trilemma_builtin_evaluator_begin, trilemma_builtin_evaluator_end);
}

namespace {

std::string fashion_evaluator_bytes() {
  return std::string(trilemma_fashion_evaluator_begin, trilemma_fashion_evaluator_end);
}

}  // namespace

const BuiltinEvaluator* builtin_evaluator_for(const std::string& dataset) {
  // One line per named dataset with a shipped evaluator (MNIST's is load_evaluator's):
  // `trilemma evaluator train --dataset fashion-mnist --out assets/evaluator-fashion-mnist-v1.pt`
  // (5 epochs, 91.26 % test accuracy).
  static const BuiltinEvaluator table[] = {
      {"fashion-mnist", "evaluator-fashion-mnist-v1", fashion_evaluator_bytes, 0x53011e8d},
  };
  for (const BuiltinEvaluator& entry : table)
    if (dataset == entry.dataset) return &entry;
  return nullptr;
}

}  // namespace trilemma
