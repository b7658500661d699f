// libFuzzer target: the IDX reader (data/idx.h) on arbitrary bytes. Any outcome but a
// parsed array or a UserError is a bug: a crash, a sanitizer report, another exception.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "core/error.h"
#include "data/idx.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<uint8_t> bytes(data, data + size);
  try {
    const trilemma::data::IdxArray array = trilemma::data::parse_idx(bytes, "fuzz.idx");
    size_t count = 1;
    for (int64_t dim : array.dims) count *= static_cast<size_t>(dim);
    if (count != array.values.size()) std::abort();  // the reader promised product(dims) bytes
  } catch (const trilemma::UserError&) {
  }
  return 0;
}
