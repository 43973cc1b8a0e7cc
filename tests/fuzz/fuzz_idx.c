/* Fuzz target: nn_idx_read on any bytes as a file (plain IDX, or a damaged gzip stream). A read
 * either fails with a message or gives a tensor whose shape matches its element count. */
#include <string.h>

#include "fuzz.h"
#include "nn_base.h"
#include "nn_idx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  nn_tensor t;
  if (nn_idx_read(fuzz_write_file("idx", data, size, 0), &t) == 0) {
    size_t count = 1;
    for (int i = 0; i < t.ndim; i++) count *= (size_t)t.shape[i];
    FUZZ_CHECK(t.ndim >= 1 && t.ndim <= NN_MAX_DIMS && count == t.count && t.data != NULL);
    nn_tensor_free(&t);
  } else {
    FUZZ_CHECK(nn_error()[0] != 0 && t.data == NULL);
  }
  return 0;
}
