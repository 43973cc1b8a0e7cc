/* Shared by the fuzz targets (tests/fuzz/meson.build): each defines LLVMFuzzerTestOneInput, the
 * entry point libFuzzer calls with one input; run_corpus.c calls it the same way in normal builds.
 * FUZZ_CHECK aborts, so libFuzzer and the sanitizers report a broken invariant as a crash. */
#ifndef NN_FUZZ_H
#define NN_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                        \
  do {                                                                          \
    if (!(cond)) {                                                              \
      fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond); \
      abort();                                                                  \
    }                                                                           \
  } while (0)

/* Writes the input to a file of this process (removed at exit) and returns its path; with gzip,
 * gzip-compressed. Readers that take a path are fuzzed through it. */
const char *fuzz_write_file(const char *tag, const uint8_t *data, size_t size, int gzip);

#endif
