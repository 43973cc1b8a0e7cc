/* nn_ops: host side of the elementwise, row, reduction, dropout, data and optimiser operations
 * (convolution, pooling and batch normalisation are in nn_ops_conv.c). Each function checks its
 * arguments, including that every buffer is large enough for the shapes it is given (a graph
 * planning mistake then fails naming the node instead of corrupting another tensor), picks the
 * kernel and enqueues it without waiting. The kernels and their layouts are described at the
 * top of cl/elementwise.cl, cl/rows.cl, cl/data.cl and cl/optim.cl.
 */
#include "nn_ops.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>

#include "nn_base.h"

/* ---- helpers ---- */

/* Fails unless buffer `mem` (the argument called `arg`) holds count elements of `elem` bytes.
 * Nothing is read or written when count is 0, so the buffer may then be NULL. */
static int need(cl_mem mem, size_t count, size_t elem, const char *arg, const char *what) {
  if (count == 0) return 0;
  if (!mem) return nn_fail("%s: %s is missing", what, arg);
  size_t bytes = 0;
  cl_int st = clGetMemObjectInfo(mem, CL_MEM_SIZE, sizeof bytes, &bytes, NULL);
  if (st != CL_SUCCESS) return nn_fail("%s: %s is not a buffer: %s (%d)", what, arg, nn_cl_error_name(st), st);
  if (bytes / elem < count)
    return nn_fail("%s: %s holds %zu bytes, %zu elements need %zu", what, arg, bytes, count, count * elem);
  return 0;
}

static int check_size(int n, const char *name, int min, const char *what) {
  if (n < min) return nn_fail("%s: %s = %d, must be at least %d", what, name, n, min);
  return 0;
}

/* rows * cols as an int, failing when it does not fit (tensors stay below 2^31 elements). */
static int matrix_size(int rows, int cols, int min_rows, int min_cols, int *count, const char *what) {
  if (check_size(rows, "rows", min_rows, what) != 0 || check_size(cols, "cols", min_cols, what) != 0) return -1;
  if ((int64_t)rows * cols > INT_MAX)
    return nn_fail("%s: %d x %d elements are too many (at most 2^31 - 1)", what, rows, cols);
  *count = rows * cols;
  return 0;
}

static int find_kernel(nn_cl *cl, const char *family, const char *name, cl_kernel *k, const char *what) {
  if (nn_cl_kernel(cl, family, name, k) != 0) return nn_fail_prefix("%s", what);
  return 0;
}

/* Global size of the flat float4 kernels: one work-item per 4 elements. */
static size_t quads(int n) { return ((size_t)n + 3) / 4; }

/* Local size of the one-work-group reductions in cl/rows.cl: a power of two (their tree sum
 * needs one), at most 256 (enough to hide memory latency on a GPU; these kernels only see losses
 * and metrics) and at most what this kernel may use on this device. */
static int reduction_size(nn_cl *cl, cl_kernel k, size_t *local, const char *what) {
  size_t max = 0;
  cl_int st = clGetKernelWorkGroupInfo(k, nn_cl_device(cl)->id, CL_KERNEL_WORK_GROUP_SIZE, sizeof max, &max, NULL);
  if (nn_cl_check(st, what) != 0) return -1;
  size_t l = 1;
  while (l * 2 <= max && l * 2 <= 256) l *= 2;
  *local = l;
  return 0;
}

/* The `chunk` argument of the one-work-group sums over elements (rows.cl's my_range): contiguous
 * runs on a CPU, interleaved elements (0) elsewhere. */
static int reduction_chunk(nn_cl *cl, int n, size_t local) {
  return nn_cl_device(cl)->type & CL_DEVICE_TYPE_CPU ? (int)(((size_t)n + local - 1) / local) : 0;
}

/* Launch of a row kernel (elementwise.cl's broadcasting ops and reduce_to_rows, data.cl's
 * gathers): work-item (x, r) handles elements [x len, x len + len) of row r, of `cols`. */
typedef struct row_launch {
  size_t global[2], local[2];
  int len;
} row_launch;

/* On a CPU (PoCL), one work-item per row: its loop over a contiguous row is what the compiler
 * vectorises, and index arithmetic is paid once per row. Rows are split into pieces only when
 * there are too few of them to keep every core busy, and never into pieces shorter than 256
 * elements. Elsewhere (GPUs), one work-item per element, 256 to a work-group, adjacent
 * work-items on adjacent elements of a row. */
static row_launch row_geometry(nn_cl *cl, int rows, int cols) {
  const nn_device_info *d = nn_cl_device(cl);
  row_launch g;
  if (d->type & CL_DEVICE_TYPE_CPU) {
    int busy = 4 * (int)(d->compute_units ? d->compute_units : 1);
    int pieces = rows >= busy ? 1 : (busy + rows - 1) / rows, most = (cols + 255) / 256;
    if (pieces > most) pieces = most;
    g.len = (cols + pieces - 1) / pieces;
    int per_group = rows / busy;
    g.global[0] = (size_t)((cols + g.len - 1) / g.len);
    g.global[1] = (size_t)rows;
    g.local[0] = 1;
    g.local[1] = (size_t)(per_group < 1 ? 1 : per_group > 16 ? 16 : per_group);
  } else {
    size_t group = d->max_work_group < 256 ? d->max_work_group : 256, l0 = 1;
    while (l0 < (size_t)cols && l0 < group) l0 *= 2;
    g.len = 1;
    g.global[0] = (size_t)cols;
    g.global[1] = (size_t)rows;
    g.local[0] = l0;
    g.local[1] = group / l0;
  }
  return g;
}

/* ---- elementwise ---- */

static const char *const unary_kernels[][2] = {
    [NN_UNARY_RELU] = {"unary_relu", "unary_relu_backward"},
    [NN_UNARY_SIGMOID] = {"unary_sigmoid", "unary_sigmoid_backward"},
    [NN_UNARY_TANH] = {"unary_tanh", "unary_tanh_backward"},
    [NN_UNARY_EXP] = {"unary_exp", "unary_exp_backward"},
    [NN_UNARY_LOG] = {"unary_log", "unary_log_backward"},
    [NN_UNARY_SQUARE] = {"unary_square", "unary_square_backward"},
};

static int check_unary(nn_unary f, int n, const char *what) {
  if ((unsigned)f >= sizeof unary_kernels / sizeof unary_kernels[0])
    return nn_fail("%s: unknown unary function %d", what, (int)f);
  return check_size(n, "n", 0, what);
}

int nn_op_unary(nn_cl *cl, nn_unary f, cl_mem x, cl_mem y, int n, const char *what) {
  cl_kernel k;
  if (check_unary(f, n, what) != 0 || need(x, n, 4, "x", what) != 0 || need(y, n, 4, "y", what) != 0 ||
      find_kernel(cl, "elementwise", unary_kernels[f][0], &k, what) != 0 ||
      nn_cl_args(k, what, NN_ARG(x), NN_ARG(y), NN_ARG(n), NN_END) != 0)
    return -1;
  return nn_cl_run1d(cl, k, quads(n), 0, what);
}

bool nn_unary_backward_reads_x(nn_unary f) { return f == NN_UNARY_LOG || f == NN_UNARY_SQUARE; }

int nn_op_unary_backward(nn_cl *cl, nn_unary f, cl_mem x, cl_mem y, cl_mem dy, cl_mem dx, int n, const char *what) {
  if (check_unary(f, n, what) != 0) return -1;
  /* The kernel reads only the one it needs; the other may be NULL. */
  bool uses_x = nn_unary_backward_reads_x(f);
  cl_mem s = uses_x ? x : y;
  cl_kernel k;
  if (need(s, n, 4, uses_x ? "x" : "y", what) != 0 || need(dy, n, 4, "dy", what) != 0 ||
      need(dx, n, 4, "dx", what) != 0 || find_kernel(cl, "elementwise", unary_kernels[f][1], &k, what) != 0 ||
      nn_cl_args(k, what, NN_ARG(s), NN_ARG(dy), NN_ARG(dx), NN_ARG(n), NN_END) != 0)
    return -1;
  return nn_cl_run1d(cl, k, quads(n), 0, what);
}

int nn_op_affine(nn_cl *cl, cl_mem x, cl_mem y, int n, float a, float b, const char *what) {
  cl_kernel k;
  if (check_size(n, "n", 0, what) != 0 || need(x, n, 4, "x", what) != 0 || need(y, n, 4, "y", what) != 0 ||
      find_kernel(cl, "elementwise", "affine", &k, what) != 0 ||
      nn_cl_args(k, what, NN_ARG(x), NN_ARG(y), NN_ARG(n), NN_ARG(a), NN_ARG(b), NN_END) != 0)
    return -1;
  return nn_cl_run1d(cl, k, quads(n), 0, what);
}

/* ---- broadcasting ---- */

static const char *dims_str(const int d[4], char *buf, size_t size) {
  snprintf(buf, size, "(%d, %d, %d, %d)", d[0], d[1], d[2], d[3]);
  return buf;
}

/* Element count of a 4-D shape, failing on a negative dimension or more than 2^31 - 1 elements. */
static int dims_count(const int d[4], const char *arg, int *count, const char *what) {
  int64_t c = 1;
  for (int i = 0; i < 4; i++) {
    if (d[i] < 0) return nn_fail("%s: %s has a negative dimension %d", what, arg, d[i]);
    c *= d[i];
    if (c > INT_MAX) return nn_fail("%s: %s has too many elements (at most 2^31 - 1)", what, arg);
  }
  *count = (int)c;
  return 0;
}

/* Fails unless every part[i] is full[i] or 1. */
static int check_broadcast(const int part[4], const char *arg, const int full[4], const char *full_arg,
                           const char *what) {
  for (int i = 0; i < 4; i++)
    if (part[i] != full[i] && part[i] != 1) {
      char a[64], b[64];
      return nn_fail("%s: %s %s does not broadcast to %s %s", what, arg, dims_str(part, a, sizeof a), full_arg,
                     dims_str(full, b, sizeof b));
    }
  return 0;
}

/* Merges adjacent dimensions of `full` that each of the nparts operands (whose dimensions are
 * full's or 1) treats alike, and drops full's dimensions of size 1. The kernels then do fewer
 * index divisions and their inner loops run longer: (n, c, h, w) + (1, c, 1, 1) becomes
 * (1, n, c, h w) + (1, 1, c, 1); same shapes become one dimension. Results are left-padded
 * with 1 to 4 dimensions. */
static void merge_dims(const int full[4], int nparts, const int *const parts[], int mfull[4], int mparts[][4]) {
  int nd = 0, f[4], p[2][4];
  for (int i = 0; i < 4; i++) {
    if (full[i] == 1) continue;
    bool alike = nd > 0;
    for (int k = 0; k < nparts && alike; k++) alike = (parts[k][i] == 1) == (p[k][nd - 1] == 1);
    if (alike) {
      f[nd - 1] *= full[i];
      for (int k = 0; k < nparts; k++) p[k][nd - 1] *= parts[k][i];
    } else {
      f[nd] = full[i];
      for (int k = 0; k < nparts; k++) p[k][nd] = parts[k][i];
      nd++;
    }
  }
  for (int i = 0; i < 4; i++) {
    int j = i - (4 - nd);
    mfull[i] = j < 0 ? 1 : f[j];
    for (int k = 0; k < nparts; k++) mparts[k][i] = j < 0 ? 1 : p[k][j];
  }
}

/* Row-major strides of shape d, 0 on its dimensions of size 1 (where it is broadcast). */
static cl_int4 broadcast_strides(const int d[4]) {
  cl_int4 s;
  int stride = 1;
  for (int i = 3; i >= 0; i--) {
    s.s[i] = d[i] == 1 ? 0 : stride;
    stride *= d[i];
  }
  return s;
}

/* y (dims) = a (a_dims) OP b (b_dims) by kernel names[0] when the shapes agree (a flat kernel),
 * else by names[1] (a broadcasting one), OP being whatever those kernels compute. */
static int broadcast_launch(nn_cl *cl, const char *const names[2], cl_mem a, const int a_dims[4], cl_mem b,
                            const int b_dims[4], cl_mem y, const int dims[4], const char *what) {
  int total = 0, na = 0, nb = 0;
  if (dims_count(dims, "y", &total, what) != 0 || dims_count(a_dims, "a", &na, what) != 0 ||
      dims_count(b_dims, "b", &nb, what) != 0 || check_broadcast(a_dims, "a", dims, "y", what) != 0 ||
      check_broadcast(b_dims, "b", dims, "y", what) != 0 || need(a, na, 4, "a", what) != 0 ||
      need(b, nb, 4, "b", what) != 0 || need(y, total, 4, "y", what) != 0)
    return -1;
  if (total == 0) return 0;
  cl_kernel k;
  if (na == total && nb == total) {
    if (find_kernel(cl, "elementwise", names[0], &k, what) != 0 ||
        nn_cl_args(k, what, NN_ARG(a), NN_ARG(b), NN_ARG(y), NN_ARG(total), NN_END) != 0)
      return -1;
    return nn_cl_run1d(cl, k, quads(total), 0, what);
  }
  int d[4], p[2][4];
  merge_dims(dims, 2, (const int *const[]){a_dims, b_dims}, d, p);
  cl_int4 sa = broadcast_strides(p[0]), sb = broadcast_strides(p[1]);
  int rows = total / d[3];
  row_launch g = row_geometry(cl, rows, d[3]);
  if (find_kernel(cl, "elementwise", names[1], &k, what) != 0 ||
      nn_cl_args(k, what, NN_ARG(a), NN_ARG(sa), NN_ARG(b), NN_ARG(sb), NN_ARG(y), NN_ARG(d[1]), NN_ARG(d[2]),
                 NN_ARG(d[3]), NN_ARG(rows), NN_ARG(g.len), NN_END) != 0)
    return -1;
  return nn_cl_run2d(cl, k, g.global, g.local, what);
}

int nn_op_binary(nn_cl *cl, nn_binary op, cl_mem a, const int a_dims[4], cl_mem b, const int b_dims[4], cl_mem y,
                 const int dims[4], const char *what) {
  static const char *const names[][2] = {
      [NN_BINARY_ADD] = {"binary_add", "binary_add_bcast"},
      [NN_BINARY_SUB] = {"binary_sub", "binary_sub_bcast"},
      [NN_BINARY_MUL] = {"binary_mul", "binary_mul_bcast"},
      [NN_BINARY_DIV] = {"binary_div", "binary_div_bcast"},
  };
  if ((unsigned)op >= sizeof names / sizeof names[0]) return nn_fail("%s: unknown binary op %d", what, (int)op);
  return broadcast_launch(cl, names[op], a, a_dims, b, b_dims, y, dims, what);
}

int nn_op_add_unary(nn_cl *cl, nn_unary f, cl_mem a, const int a_dims[4], cl_mem b, const int b_dims[4], cl_mem y,
                    const int dims[4], const char *what) {
  static const char *const names[][2] = {
      [NN_UNARY_RELU] = {"add_relu", "add_relu_bcast"},       [NN_UNARY_SIGMOID] = {"add_sigmoid", "add_sigmoid_bcast"},
      [NN_UNARY_TANH] = {"add_tanh", "add_tanh_bcast"},       [NN_UNARY_EXP] = {"add_exp", "add_exp_bcast"},
      [NN_UNARY_LOG] = {"add_log", "add_log_bcast"},          [NN_UNARY_SQUARE] = {"add_square", "add_square_bcast"},
  };
  if (check_unary(f, 0, what) != 0) return -1;
  return broadcast_launch(cl, names[f], a, a_dims, b, b_dims, y, dims, what);
}

int nn_op_reduce_to(nn_cl *cl, cl_mem x, const int x_dims[4], cl_mem y, const int y_dims[4], float scale,
                    const char *what) {
  int nx = 0, ny = 0;
  if (dims_count(x_dims, "x", &nx, what) != 0 || dims_count(y_dims, "y", &ny, what) != 0 ||
      check_broadcast(y_dims, "y", x_dims, "x", what) != 0 || need(x, nx, 4, "x", what) != 0 ||
      need(y, ny, 4, "y", what) != 0)
    return -1;
  if (ny == 0) return 0;
  /* Everything summed into one number: the work-group reduction is parallel where the loop
   * below would run on one work-item. */
  if (ny == 1) return nn_op_sum(cl, x, y, nx, scale, what);
  int xd[4], yd[1][4];
  merge_dims(x_dims, 1, (const int *const[]){y_dims}, xd, yd);
  cl_int4 xv = {{xd[0], xd[1], xd[2], xd[3]}}, yv = {{yd[0][0], yd[0][1], yd[0][2], yd[0][3]}};
  cl_kernel k;
  /* Per-channel sums, (n, c, hw) -> (c) (a convolution's bias gradient): a work-group per channel. */
  if (xd[0] == 1 && yd[0][0] == 1 && yd[0][1] == 1 && yd[0][2] == xd[2] && yd[0][3] == 1) {
    size_t local;
    if (find_kernel(cl, "rows", "channel_sum", &k, what) != 0 || reduction_size(cl, k, &local, what) != 0)
      return -1;
    int chunk = reduction_chunk(cl, xd[1] * xd[3], local);
    if (nn_cl_args(k, what, NN_ARG(x), NN_ARG(y), NN_ARG(xd[1]), NN_ARG(xd[2]), NN_ARG(xd[3]), NN_ARG(scale),
                   NN_ARG(chunk), NN_LOCAL(local * sizeof(float)), NN_END) != 0)
      return -1;
    return nn_cl_run1d(cl, k, (size_t)xd[2] * local, local, what);
  }
  /* x's innermost dimension kept, on a CPU: the row kernel (see cl/elementwise.cl). */
  if ((nn_cl_device(cl)->type & CL_DEVICE_TYPE_CPU) && yd[0][3] == xd[3] && xd[3] > 1) {
    int rows = ny / xd[3];
    row_launch g = row_geometry(cl, rows, xd[3]);
    if (find_kernel(cl, "elementwise", "reduce_to_rows", &k, what) != 0 ||
        nn_cl_args(k, what, NN_ARG(x), NN_ARG(xv), NN_ARG(y), NN_ARG(yv), NN_ARG(scale), NN_ARG(rows), NN_ARG(g.len),
                   NN_END) != 0)
      return -1;
    return nn_cl_run2d(cl, k, g.global, g.local, what);
  }
  if (find_kernel(cl, "elementwise", "reduce_to", &k, what) != 0 ||
      nn_cl_args(k, what, NN_ARG(x), NN_ARG(xv), NN_ARG(y), NN_ARG(yv), NN_ARG(scale), NN_ARG(ny), NN_END) != 0)
    return -1;
  return nn_cl_run1d(cl, k, (size_t)ny, 0, what);
}

/* ---- rows ---- */

int nn_op_softmax(nn_cl *cl, cl_mem x, cl_mem y, int rows, int cols, bool log, const char *what) {
  int count = 0, take_log = log;
  cl_kernel k;
  if (matrix_size(rows, cols, 0, 1, &count, what) != 0 || need(x, count, 4, "x", what) != 0 ||
      need(y, count, 4, "y", what) != 0 || find_kernel(cl, "rows", "softmax", &k, what) != 0 ||
      nn_cl_args(k, what, NN_ARG(x), NN_ARG(y), NN_ARG(rows), NN_ARG(cols), NN_ARG(take_log), NN_END) != 0)
    return -1;
  return nn_cl_run1d(cl, k, (size_t)rows, 0, what);
}

int nn_op_softmax_backward(nn_cl *cl, cl_mem y, cl_mem dy, cl_mem dx, int rows, int cols, bool log, const char *what) {
  int count = 0, take_log = log;
  cl_kernel k;
  if (matrix_size(rows, cols, 0, 1, &count, what) != 0 || need(y, count, 4, "y", what) != 0 ||
      need(dy, count, 4, "dy", what) != 0 || need(dx, count, 4, "dx", what) != 0 ||
      find_kernel(cl, "rows", "softmax_backward", &k, what) != 0 ||
      nn_cl_args(k, what, NN_ARG(y), NN_ARG(dy), NN_ARG(dx), NN_ARG(rows), NN_ARG(cols), NN_ARG(take_log), NN_END) != 0)
    return -1;
  return nn_cl_run1d(cl, k, (size_t)rows, 0, what);
}

/* Runs one of the one-work-group kernels of cl/rows.cl whose arguments are (logits, labels,
 * out, rows, cols, scratch): cross_entropy and accuracy. */
static int logits_reduction(nn_cl *cl, const char *name, cl_mem logits, cl_mem labels, cl_mem out, int rows, int cols,
                            int min_rows, const char *what) {
  int count = 0;
  size_t local;
  cl_kernel k;
  if (matrix_size(rows, cols, min_rows, 1, &count, what) != 0 || need(logits, count, 4, "logits", what) != 0 ||
      need(labels, rows, 4, "labels", what) != 0 || need(out, 1, 4, "result", what) != 0 ||
      find_kernel(cl, "rows", name, &k, what) != 0 || reduction_size(cl, k, &local, what) != 0 ||
      nn_cl_args(k, what, NN_ARG(logits), NN_ARG(labels), NN_ARG(out), NN_ARG(rows), NN_ARG(cols),
                 NN_LOCAL(local * sizeof(float)), NN_END) != 0)
    return -1;
  return nn_cl_run1d(cl, k, local, local, what);
}

int nn_op_cross_entropy(nn_cl *cl, cl_mem logits, cl_mem labels, cl_mem loss, int rows, int cols, const char *what) {
  /* A mean over no rows has no value. */
  return logits_reduction(cl, "cross_entropy", logits, labels, loss, rows, cols, 1, what);
}

int nn_op_cross_entropy_backward(nn_cl *cl, cl_mem logits, cl_mem labels, cl_mem dloss, cl_mem dlogits, int rows,
                                 int cols, const char *what) {
  int count = 0;
  cl_kernel k;
  if (matrix_size(rows, cols, 1, 1, &count, what) != 0 || need(logits, count, 4, "logits", what) != 0 ||
      need(labels, rows, 4, "labels", what) != 0 || need(dloss, 1, 4, "dloss", what) != 0 ||
      need(dlogits, count, 4, "dlogits", what) != 0 ||
      find_kernel(cl, "rows", "cross_entropy_backward", &k, what) != 0 ||
      nn_cl_args(k, what, NN_ARG(logits), NN_ARG(labels), NN_ARG(dloss), NN_ARG(dlogits), NN_ARG(rows), NN_ARG(cols),
                 NN_END) != 0)
    return -1;
  return nn_cl_run1d(cl, k, (size_t)rows, 0, what);
}

int nn_op_accuracy(nn_cl *cl, cl_mem logits, cl_mem labels, cl_mem correct, int rows, int cols, const char *what) {
  return logits_reduction(cl, "accuracy", logits, labels, correct, rows, cols, 0, what);
}

int nn_op_mse(nn_cl *cl, cl_mem pred, cl_mem target, cl_mem loss, int n, const char *what) {
  size_t local;
  cl_kernel k;
  if (check_size(n, "n", 1, what) != 0 || need(pred, n, 4, "pred", what) != 0 ||
      need(target, n, 4, "target", what) != 0 || need(loss, 1, 4, "loss", what) != 0 ||
      find_kernel(cl, "rows", "mse", &k, what) != 0 || reduction_size(cl, k, &local, what) != 0)
    return -1;
  int chunk = reduction_chunk(cl, n, local);
  if (nn_cl_args(k, what, NN_ARG(pred), NN_ARG(target), NN_ARG(loss), NN_ARG(n), NN_ARG(chunk),
                 NN_LOCAL(local * sizeof(float)), NN_END) != 0)
    return -1;
  return nn_cl_run1d(cl, k, local, local, what);
}

int nn_op_mse_backward(nn_cl *cl, cl_mem pred, cl_mem target, cl_mem dloss, cl_mem dpred, int n, const char *what) {
  cl_kernel k;
  if (check_size(n, "n", 1, what) != 0 || need(pred, n, 4, "pred", what) != 0 ||
      need(target, n, 4, "target", what) != 0 || need(dloss, 1, 4, "dloss", what) != 0 ||
      need(dpred, n, 4, "dpred", what) != 0 || find_kernel(cl, "rows", "mse_backward", &k, what) != 0 ||
      nn_cl_args(k, what, NN_ARG(pred), NN_ARG(target), NN_ARG(dloss), NN_ARG(dpred), NN_ARG(n), NN_END) != 0)
    return -1;
  return nn_cl_run1d(cl, k, (size_t)n, 0, what);
}

/* ---- reductions and scalars ---- */

int nn_op_sum(nn_cl *cl, cl_mem x, cl_mem y, int n, float scale, const char *what) {
  size_t local;
  cl_kernel k;
  if (check_size(n, "n", 0, what) != 0 || need(x, n, 4, "x", what) != 0 || need(y, 1, 4, "y", what) != 0 ||
      find_kernel(cl, "rows", "sum", &k, what) != 0 || reduction_size(cl, k, &local, what) != 0)
    return -1;
  int chunk = reduction_chunk(cl, n, local);
  if (nn_cl_args(k, what, NN_ARG(x), NN_ARG(y), NN_ARG(n), NN_ARG(scale), NN_ARG(chunk),
                 NN_LOCAL(local * sizeof(float)), NN_END) != 0)
    return -1;
  return nn_cl_run1d(cl, k, local, local, what);
}

int nn_op_broadcast_scalar(nn_cl *cl, cl_mem s, cl_mem y, int n, float scale, const char *what) {
  cl_kernel k;
  if (check_size(n, "n", 0, what) != 0 || need(s, 1, 4, "s", what) != 0 || need(y, n, 4, "y", what) != 0 ||
      find_kernel(cl, "rows", "broadcast_scalar", &k, what) != 0 ||
      nn_cl_args(k, what, NN_ARG(s), NN_ARG(y), NN_ARG(n), NN_ARG(scale), NN_END) != 0)
    return -1;
  return nn_cl_run1d(cl, k, (size_t)n, 0, what);
}

int nn_op_accumulate(nn_cl *cl, cl_mem x, cl_mem acc, int index, float scale, const char *what) {
  cl_kernel k;
  if (check_size(index, "index", 0, what) != 0 || need(x, 1, 4, "x", what) != 0 ||
      need(acc, (size_t)index + 1, 4, "acc", what) != 0 || find_kernel(cl, "rows", "accumulate", &k, what) != 0 ||
      nn_cl_args(k, what, NN_ARG(x), NN_ARG(acc), NN_ARG(index), NN_ARG(scale), NN_END) != 0)
    return -1;
  return nn_cl_run1d(cl, k, 1, 1, what);
}

int nn_op_slice(nn_cl *cl, cl_mem x, int offset, cl_mem y, int n, const char *what) {
  if (check_size(offset, "offset", 0, what) != 0 || check_size(n, "n", 1, what) != 0 ||
      need(x, (size_t)offset + (size_t)n, 4, "x", what) != 0 || need(y, n, 4, "y", what) != 0)
    return -1;
  cl_int st = clEnqueueCopyBuffer(nn_cl_queue(cl), x, y, (size_t)offset * 4, 0, (size_t)n * 4, 0, NULL, NULL);
  return nn_cl_check(st, what);
}

/* ---- dropout ---- */

/* Forward and backward are the same masked scaling (cl/elementwise.cl's dropout kernel). */
static int dropout(nn_cl *cl, cl_mem in, const char *in_arg, cl_mem out, const char *out_arg, cl_mem rate, int n,
                   uint32_t seed, const char *what) {
  cl_uint s = seed;
  cl_kernel k;
  if (check_size(n, "n", 0, what) != 0 || need(in, n, 4, in_arg, what) != 0 || need(out, n, 4, out_arg, what) != 0 ||
      need(rate, 1, 4, "rate", what) != 0 || find_kernel(cl, "elementwise", "dropout", &k, what) != 0 ||
      nn_cl_args(k, what, NN_ARG(in), NN_ARG(out), NN_ARG(rate), NN_ARG(n), NN_ARG(s), NN_END) != 0)
    return -1;
  return nn_cl_run1d(cl, k, (size_t)n, 0, what);
}

int nn_op_dropout(nn_cl *cl, cl_mem x, cl_mem y, cl_mem rate, int n, uint32_t seed, const char *what) {
  return dropout(cl, x, "x", y, "y", rate, n, seed, what);
}

int nn_op_dropout_backward(nn_cl *cl, cl_mem dy, cl_mem dx, cl_mem rate, int n, uint32_t seed, const char *what) {
  return dropout(cl, dy, "dy", dx, "dx", rate, n, seed, what);
}

/* ---- data ---- */

int nn_op_gather(nn_cl *cl, cl_mem column, nn_column_type type, int sample_size, cl_mem index, int start, int n,
                 cl_mem out, bool out_int, float scale, const char *what) {
  static const struct {
    size_t bytes;
    const char *name, *to_float, *to_int; /* to_int NULL: not a label type */
  } types[] = {
      [NN_COLUMN_U8] = {1, "uint8", "gather_u8_f32", "gather_u8_i32"},
      [NN_COLUMN_I32] = {4, "int32", "gather_i32_f32", "gather_i32_i32"},
      [NN_COLUMN_F32] = {4, "float32", "gather_f32_f32", NULL},
  };
  if ((unsigned)type >= sizeof types / sizeof types[0]) return nn_fail("%s: unknown column type %d", what, (int)type);
  const char *name = out_int ? types[type].to_int : types[type].to_float;
  if (!name) return nn_fail("%s: a %s column cannot be gathered as int32 labels", what, types[type].name);
  int total = 0;
  if (check_size(start, "start", 0, what) != 0 || check_size(n, "n", 0, what) != 0 ||
      check_size(sample_size, "sample_size", 1, what) != 0 || matrix_size(n, sample_size, 0, 1, &total, what) != 0 ||
      need(index, (size_t)start + (size_t)n, 4, "index", what) != 0 || need(out, total, 4, "out", what) != 0)
    return -1;
  if (n == 0) return 0;
  /* The sample count bounds the kernel's reads: it follows from the column's size. */
  size_t bytes = 0;
  cl_int st = column ? clGetMemObjectInfo(column, CL_MEM_SIZE, sizeof bytes, &bytes, NULL) : CL_INVALID_MEM_OBJECT;
  if (st != CL_SUCCESS) return nn_fail("%s: column is not a buffer: %s (%d)", what, nn_cl_error_name(st), st);
  size_t samples = bytes / types[type].bytes / (size_t)sample_size;
  if (samples == 0)
    return nn_fail("%s: the column holds %zu bytes, less than one sample of %d %s", what, bytes, sample_size,
                   types[type].name);
  int count = samples > INT_MAX ? INT_MAX : (int)samples;
  row_launch g = row_geometry(cl, n, sample_size);
  cl_kernel k;
  if (find_kernel(cl, "data", name, &k, what) != 0 ||
      nn_cl_args(k, what, NN_ARG(column), NN_ARG(count), NN_ARG(sample_size), NN_ARG(index), NN_ARG(start), NN_ARG(n),
                 NN_ARG(out), NN_ARG(scale), NN_ARG(g.len), NN_END) != 0)
    return -1;
  return nn_cl_run2d(cl, k, g.global, g.local, what);
}

/* ---- optimisers ---- */

int nn_op_sgd(nn_cl *cl, cl_mem p, cl_mem g, cl_mem v, int n, float lr, float momentum, bool nesterov,
              float weight_decay, const char *what) {
  cl_kernel k;
  if (check_size(n, "n", 0, what) != 0 || need(p, n, 4, "parameter", what) != 0 || need(g, n, 4, "gradient", what) != 0)
    return -1;
  /* Without momentum v is never read (momentum * v = 0) and nesterov changes nothing. */
  if (momentum == 0) {
    if (find_kernel(cl, "optim", "sgd", &k, what) != 0 ||
        nn_cl_args(k, what, NN_ARG(p), NN_ARG(g), NN_ARG(n), NN_ARG(lr), NN_ARG(weight_decay), NN_END) != 0)
      return -1;
    return nn_cl_run1d(cl, k, (size_t)n, 0, what);
  }
  int nest = nesterov;
  if (need(v, n, 4, "velocity", what) != 0 || find_kernel(cl, "optim", "sgd_momentum", &k, what) != 0 ||
      nn_cl_args(k, what, NN_ARG(p), NN_ARG(g), NN_ARG(v), NN_ARG(n), NN_ARG(lr), NN_ARG(momentum), NN_ARG(nest),
                 NN_ARG(weight_decay), NN_END) != 0)
    return -1;
  return nn_cl_run1d(cl, k, (size_t)n, 0, what);
}

int nn_op_adam(nn_cl *cl, cl_mem p, cl_mem g, cl_mem m, cl_mem v, int n, float lr, float beta1, float beta2, float eps,
               int t, float weight_decay, const char *what) {
  if (check_size(t, "step t", 1, what) != 0) return -1;
  /* beta = 1 would make a bias correction 1 - beta^t zero. */
  if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1))
    return nn_fail("%s: beta1 = %g and beta2 = %g must be in [0, 1)", what, beta1, beta2);
  /* In double: in float, 1 - 0.999 cancels to a value 1e-5 off (relative). */
  double c1 = 1 - pow(beta1, t), c2 = 1 - pow(beta2, t);
  float step = (float)(lr / c1), rsqrt_c2 = (float)(1 / sqrt(c2));
  cl_kernel k;
  if (check_size(n, "n", 0, what) != 0 || need(p, n, 4, "parameter", what) != 0 ||
      need(g, n, 4, "gradient", what) != 0 || need(m, n, 4, "first moment", what) != 0 ||
      need(v, n, 4, "second moment", what) != 0 || find_kernel(cl, "optim", "adam", &k, what) != 0 ||
      nn_cl_args(k, what, NN_ARG(p), NN_ARG(g), NN_ARG(m), NN_ARG(v), NN_ARG(n), NN_ARG(step), NN_ARG(beta1),
                 NN_ARG(beta2), NN_ARG(eps), NN_ARG(rsqrt_c2), NN_ARG(weight_decay), NN_END) != 0)
    return -1;
  return nn_cl_run1d(cl, k, (size_t)n, 0, what);
}
