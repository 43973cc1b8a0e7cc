/* Fuzz target: nn_gemm_tune_parse, the reader of CLBlast tuning files (src/gemm/nn_gemm_tune.c),
 * whose values go to CLBlast. It must accept the file or fail with a message naming a line; what it
 * accepts must be well-formed (known kernels, every name a capitalised identifier, values in range)
 * and survive formatting and parsing again unchanged. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "nn_base.h"
#include "nn_gemm_tune.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  nn_gemm_tuning t;
  if (nn_gemm_tune_parse((const char *)data, size, &t) != 0) {
    FUZZ_CHECK(*nn_error() != 0);
    return 0;
  }
  FUZZ_CHECK(t.nkernels >= 0 && t.nkernels <= NN_GEMM_TUNE_KERNELS && *t.device && *t.driver && *t.clblast);
  for (int k = 0; k < t.nkernels; k++) {
    const nn_gemm_params *p = &t.kernels[k];
    bool known = false;
    for (int i = 0; i < NN_GEMM_TUNE_KERNELS; i++) known |= strcmp(p->kernel, nn_gemm_tune_kernels[i]) == 0;
    FUZZ_CHECK(known && p->count > 0 && p->count <= NN_GEMM_TUNE_PARAMS);
    for (int i = 0; i < p->count; i++)
      FUZZ_CHECK(*p->names[i] && strspn(p->names[i], "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == strlen(p->names[i]) &&
                 p->values[i] <= 65536);
  }
  char *text = nn_gemm_tune_format(&t, "# again");
  FUZZ_CHECK(text != NULL);
  nn_gemm_tuning again;
  FUZZ_CHECK(nn_gemm_tune_parse(text, strlen(text), &again) == 0 && memcmp(&again, &t, sizeof t) == 0);
  free(text);
  return 0;
}
