#pragma once
// The evaluator's weights, assets/evaluator-v1.pt, compiled into the library so that every
// build measures with the same file wherever it runs, with nothing to find or download.
#include <string>

namespace trilemma {

/// The bytes of assets/evaluator-v1.pt (a saved MnistClassifier).
std::string builtin_evaluator_bytes();

}  // namespace trilemma
