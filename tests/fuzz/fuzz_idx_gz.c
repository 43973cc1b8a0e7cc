/* Fuzz target: nn_idx_read on any bytes as the content of a well-formed gzip file, so the gzip
 * path (Fashion-MNIST's) sees every header and payload the plain target does. */
#include "fuzz.h"
#include "nn_base.h"
#include "nn_idx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  nn_tensor t;
  if (nn_idx_read(fuzz_write_file("idx-gz", data, size, 1), &t) == 0) {
    size_t count = 1;
    for (int i = 0; i < t.ndim; i++) count *= (size_t)t.shape[i];
    FUZZ_CHECK(count == t.count && t.data != NULL);
    nn_tensor_free(&t);
  } else {
    FUZZ_CHECK(nn_error()[0] != 0 && t.data == NULL);
  }
  return 0;
}
