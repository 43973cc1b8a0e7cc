/* nn_gemm_clblast: the parts of CLBlast's API that exist only in C++ (its tuners, and reading the
 * parameters in effect), behind C functions, for nn_gemm_tune.c. Private to src/gemm; the only
 * C++ in nnrun (nn_gemm_clblast.cc). Parameters are applied from C, with CLBlastOverrideParameters. */
#ifndef NN_GEMM_CLBLAST_H
#define NN_GEMM_CLBLAST_H

#include <stddef.h>

#include "nn_gemm_tune.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Runs CLBlast's tuner for `kernel` (one of nn_gemm_tune_kernels) on the queue's device with
 * m x n (x k) matrices, trying *fraction of its configurations. CLBlast tries none when the fraction
 * rounds down to zero configurations; *fraction is then doubled until at least one is tried, and
 * comes back as the fraction used. The best configuration goes into *out, names sorted. 0, or -1
 * with nn_fail. */
int nn_gemm_clblast_tune(cl_command_queue queue, const char *kernel, size_t m, size_t n, size_t k,
                         double *fraction, nn_gemm_params *out);

/* The parameters CLBlast uses now for `kernel` in single precision on `device` (its database's,
 * or the last override), names sorted. 0, or -1 with nn_fail. */
int nn_gemm_clblast_params(cl_device_id device, const char *kernel, nn_gemm_params *out);

#ifdef __cplusplus
}
#endif

#endif
