/* Fuzz target: nn_cl_cache_check, which decides whether a kernel-cache file is whole before its
 * binary goes to the OpenCL driver. The first byte is a mode: when odd, the length and hash fields
 * (bytes 21..36 of the rest) are set to match, so the fuzzer also reaches the accepting path. */
#include <string.h>

#include "fuzz.h"
#include "nn_base.h"
#include "nn_cl.h"

#define HEAD 21 /* strlen("nnrun-kernel-cache-1\n") */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  int fix = data[0] & 1;
  size--;
  char *file = malloc(size ? size : 1);
  FUZZ_CHECK(file != NULL);
  memcpy(file, data + 1, size);
  if (fix && size >= HEAD + 16) {
    uint64_t length = size - HEAD - 16, hash = nn_hash(NN_HASH_SEED, file + HEAD + 16, length);
    memcpy(file + HEAD, &length, 8);
    memcpy(file + HEAD + 8, &hash, 8);
  }
  const unsigned char *binary;
  size_t length;
  if (nn_cl_cache_check(file, size, &binary, &length))
    FUZZ_CHECK(binary >= (const unsigned char *)file && binary + length == (const unsigned char *)file + size);
  free(file);
  return 0;
}
