// libFuzzer target: the .npy parser (io/npy_format.h) on arbitrary bytes. Any outcome but
// a layout that matches the input's size or a UserError is a bug.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/error.h"
#include "io/npy_format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  try {
    const trilemma::io::NpyLayout layout = trilemma::io::parse_npy(bytes, "fuzz.npy");
    size_t count = 1;
    for (int64_t dim : layout.shape) {
      if (dim < 0) std::abort();
      count *= static_cast<size_t>(dim);
    }
    if (count * layout.element_size != layout.data_bytes) std::abort();
    if (layout.data_offset + layout.data_bytes != size) std::abort();
  } catch (const trilemma::UserError&) {
  }
  return 0;
}
