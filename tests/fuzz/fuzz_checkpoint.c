/* Fuzz target: nn_checkpoint_check, the part of nn_model_load that reads the file, against a small
 * graph of three parameters (no device needed). The first byte is a mode: when odd, the last 8
 * bytes of the rest are replaced by its correct checksum, so the fuzzer gets past the checksum
 * and into the entries; when even, the file is checked as it is. */
#include <string.h>

#include "fuzz.h"
#include "nn_base.h"
#include "nn_model.h"

static nn_graph *graph(void) {
  static nn_graph *g;
  if (g) return g;
  g = nn_graph_new();
  FUZZ_CHECK(g != NULL);
  int64_t w[2] = {3, 2}, b[1] = {2}, s[1] = {1};
  FUZZ_CHECK(nn_graph_param(g, "dense_1.weight", 2, w, NN_INIT_ZEROS, 0, 1, 1, true, "fuzz") >= 0);
  FUZZ_CHECK(nn_graph_param(g, "dense_1.bias", 1, b, NN_INIT_ZEROS, 0, 1, 1, true, "fuzz") >= 0);
  FUZZ_CHECK(nn_graph_param(g, "s", 1, s, NN_INIT_ZEROS, 0, 1, 1, true, "fuzz") >= 0);
  return g;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  int fix = data[0] & 1;
  size--;
  char *file = malloc(size ? size : 1);
  FUZZ_CHECK(file != NULL);
  memcpy(file, data + 1, size);
  if (fix && size >= 8) {
    uint64_t hash = nn_hash(NN_HASH_SEED, file, size - 8);
    memcpy(file + size - 8, &hash, 8);
  }
  nn_checkpoint_info info;
  if (nn_checkpoint_check(graph(), "fuzz", file, size, &info) == 0) {
    FUZZ_CHECK(info.meta_at <= size && info.meta_len <= size - info.meta_at);
    FUZZ_CHECK(info.entries_at <= size - 8 && info.entries >= 3);
  } else {
    FUZZ_CHECK(strstr(nn_error(), "checkpoint") != NULL);
  }
  free(file);
  return 0;
}
