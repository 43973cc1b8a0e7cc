/* nn_gemm: the one matrix-multiply interface of nnrun. Every GEMM (linear layers, convolutions
 * as im2col, PCA's covariance) goes through here, so a device can be routed to the fastest
 * engine it has: on CPU devices the host's OpenBLAS, enqueued as a native kernel in the device's
 * queue; CLBlast on GPUs and wherever native kernels are missing. NN_GEMM overrides the choice,
 * which is made once per opened device (see nn_gemm.c).
 *
 * Row-major throughout:  C(m,n) = alpha * op(A)(m,k) * op(B)(k,n) + beta * C(m,n)
 * where op(X) is X or its transpose. Matrices are (buffer, offset, leading dimension), offsets
 * and leading dimensions in elements, so tensors inside one arena can be used directly.
 */
#ifndef NN_GEMM_H
#define NN_GEMM_H

#include <stdbool.h>
#include <stddef.h>

#include "nn_cl.h"

typedef struct nn_matrix {
  cl_mem mem;
  size_t offset;  /* first element */
  size_t ld;      /* leading dimension: elements between rows as stored */
} nn_matrix;

/* Enqueues C = alpha * op(A) * op(B) + beta * C; no host synchronisation. `what` names the
 * operation in errors ("linear 'fc1' forward"). */
int nn_gemm(nn_cl *cl, bool trans_a, bool trans_b, size_t m, size_t n, size_t k, float alpha,
            nn_matrix a, nn_matrix b, float beta, nn_matrix c, const char *what);

/* `batch` independent GEMMs whose operands are `stride_*` elements apart. */
int nn_gemm_batched(nn_cl *cl, bool trans_a, bool trans_b, size_t m, size_t n, size_t k,
                    float alpha, nn_matrix a, size_t stride_a, nn_matrix b, size_t stride_b,
                    float beta, nn_matrix c, size_t stride_c, size_t batch, const char *what);

/* Which engine serves this device: "OpenBLAS (native kernel)" or "CLBlast". Makes the choice if
 * no GEMM has yet, so that what it says is what every later GEMM on `cl` uses. */
const char *nn_gemm_engine(nn_cl *cl);
/* Whether that engine is oneDNN's sgemm: the host library whose convolutions nn_ops uses too. */
bool nn_gemm_is_onednn(nn_cl *cl);

#endif
