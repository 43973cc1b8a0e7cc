/* nn_gemm: GEMM through CLBlast (see nn_gemm.h). The only file that calls CLBlast. */
#include "nn_gemm.h"

#include <clblast_c.h>

#include "nn_base.h"

/* Checks the operands' extents so that a planner bug is an error naming the operation,
 * not a read past a buffer on the device. rows x cols as stored (before op()). */
static int check_operand(const char *what, char name, nn_matrix x, size_t rows, size_t cols) {
  if (x.ld < cols && rows > 0)
    return nn_fail("%s: GEMM operand %c has leading dimension %zu < %zu columns", what, name, x.ld, cols);
  return 0;
}

int nn_gemm(nn_cl *cl, bool trans_a, bool trans_b, size_t m, size_t n, size_t k, float alpha,
            nn_matrix a, nn_matrix b, float beta, nn_matrix c, const char *what) {
  if (m == 0 || n == 0) return 0;
  if (check_operand(what, 'A', a, trans_a ? k : m, trans_a ? m : k) != 0 ||
      check_operand(what, 'B', b, trans_b ? n : k, trans_b ? k : n) != 0 ||
      check_operand(what, 'C', c, m, n) != 0)
    return -1;
  cl_command_queue queue = nn_cl_queue(cl);
  CLBlastStatusCode st = CLBlastSgemm(CLBlastLayoutRowMajor, trans_a ? CLBlastTransposeYes : CLBlastTransposeNo,
                                      trans_b ? CLBlastTransposeYes : CLBlastTransposeNo, m, n, k, alpha, a.mem,
                                      a.offset, a.ld, b.mem, b.offset, b.ld, beta, c.mem, c.offset, c.ld, &queue, NULL);
  if (st != CLBlastSuccess)
    return nn_fail("%s: GEMM %zux%zux%zu: %s (%d)", what, m, n, k, nn_cl_error_name(st), (int)st);
  return 0;
}

int nn_gemm_batched(nn_cl *cl, bool trans_a, bool trans_b, size_t m, size_t n, size_t k,
                    float alpha, nn_matrix a, size_t stride_a, nn_matrix b, size_t stride_b,
                    float beta, nn_matrix c, size_t stride_c, size_t batch, const char *what) {
  if (m == 0 || n == 0 || batch == 0) return 0;
  if (batch == 1) return nn_gemm(cl, trans_a, trans_b, m, n, k, alpha, a, b, beta, c, what);
  if (check_operand(what, 'A', a, trans_a ? k : m, trans_a ? m : k) != 0 ||
      check_operand(what, 'B', b, trans_b ? n : k, trans_b ? k : n) != 0 ||
      check_operand(what, 'C', c, m, n) != 0)
    return -1;
  cl_command_queue queue = nn_cl_queue(cl);
  CLBlastStatusCode st = CLBlastSgemmStridedBatched(
      CLBlastLayoutRowMajor, trans_a ? CLBlastTransposeYes : CLBlastTransposeNo,
      trans_b ? CLBlastTransposeYes : CLBlastTransposeNo, m, n, k, alpha, a.mem, a.offset, a.ld, stride_a, b.mem,
      b.offset, b.ld, stride_b, beta, c.mem, c.offset, c.ld, stride_c, batch, &queue, NULL);
  if (st != CLBlastSuccess)
    return nn_fail("%s: batched GEMM %zu x %zux%zux%zu: %s (%d)", what, batch, m, n, k, nn_cl_error_name(st),
                   (int)st);
  return 0;
}

const char *nn_gemm_engine(const nn_cl *cl) {
  (void)cl;
  return "CLBlast";
}
