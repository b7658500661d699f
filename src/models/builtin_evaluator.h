#pragma once
// The built-in evaluators' weights (assets/evaluator-*.pt), compiled into the library so that
// every build measures with the same files wherever it runs, with nothing to find or download.
#include <cstdint>
#include <string>

namespace trilemma {

/// The bytes of assets/evaluator-v1.pt (a saved MnistClassifier, MNIST's evaluator).
std::string builtin_evaluator_bytes();

/// A named dataset's built-in evaluator other than MNIST's: a file `trilemma evaluator
/// train` wrote (shape, classes and accuracy inside it) and its checksum.
struct BuiltinEvaluator {
  const char* dataset;  ///< data/dataset.h's name, e.g. "fashion-mnist"
  const char* version;  ///< e.g. "evaluator-fashion-mnist-v1"
  std::string (*bytes)();
  uint32_t crc32;
};

/// The built-in evaluator of `dataset`, or nullptr when it has none.
const BuiltinEvaluator* builtin_evaluator_for(const std::string& dataset);

}  // namespace trilemma
