/* nn_pca: covariance on the device, eigendecomposition by LAPACK. See nn_pca.h. */
#include "nn_pca.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <lapacke.h>

#include "nn_base.h"
#include "nn_gemm.h"

static int check_sizes(int n, int d, int min_n) {
  if (d < 1) return nn_fail("PCA: %d features; at least 1 needed", d);
  if (n < min_n) return nn_fail("PCA: %d samples; at least %d needed", n, min_n);
  return 0;
}

int nn_pca_covariance(nn_cl *cl, const float *x, int n, int d, double *mean, double *cov) {
  if (check_sizes(n, d, 2) != 0) return -1;
  size_t count, bytes, dd;
  if (nn_mul_size((size_t)n, (size_t)d, &count, "PCA data") != 0 ||
      nn_mul_size(count, sizeof(float), &bytes, "PCA data") != 0 ||
      nn_mul_size((size_t)d, (size_t)d, &dd, "PCA covariance") != 0)
    return -1;
  /* Means in double, so centring loses nothing to cancellation before the float GEMM. */
  for (int j = 0; j < d; j++) mean[j] = 0;
  for (int i = 0; i < n; i++)
    for (int j = 0; j < d; j++) mean[j] += x[(size_t)i * d + j];
  for (int j = 0; j < d; j++) mean[j] /= n;
  float *xc = nn_alloc(bytes, "PCA centred data");
  float *c = nn_alloc(dd * sizeof(float), "PCA covariance");
  if (!xc || !c) {
    free(xc), free(c);
    return -1;
  }
  for (int i = 0; i < n; i++)
    for (int j = 0; j < d; j++) xc[(size_t)i * d + j] = (float)(x[(size_t)i * d + j] - mean[j]);
  nn_buffer X = {0}, C = {0};
  int rc = -1;
  if (nn_cl_alloc(cl, bytes, "PCA centred data", &X) == 0 &&
      nn_cl_alloc(cl, dd * sizeof(float), "PCA covariance", &C) == 0 &&
      nn_cl_write(cl, &X, 0, xc, bytes) == 0 &&
      nn_gemm(cl, true, false, (size_t)d, (size_t)d, (size_t)n, 1.0f / (float)(n - 1),
              (nn_matrix){X.mem, 0, (size_t)d}, (nn_matrix){X.mem, 0, (size_t)d}, 0.0f,
              (nn_matrix){C.mem, 0, (size_t)d}, "PCA covariance") == 0 &&
      nn_cl_read(cl, &C, 0, c, dd * sizeof(float)) == 0) {
    /* The GEMM computes both triangles with its own summation orders; average them so the
     * result is exactly symmetric whichever triangle a solver reads. */
    for (int i = 0; i < d; i++)
      for (int j = 0; j < d; j++)
        cov[(size_t)i * d + j] = 0.5 * ((double)c[(size_t)i * d + j] + (double)c[(size_t)j * d + i]);
    rc = 0;
  }
  nn_cl_free(cl, &X);
  nn_cl_free(cl, &C);
  free(xc), free(c);
  return rc;
}

int nn_pca_eigh(double *a, int d, double *values, double *vectors) {
  if (d < 1) return nn_fail("eigendecomposition of a %d x %d matrix", d, d);
  double *w = nn_alloc((size_t)d * sizeof(double), "eigenvalues");
  if (!w) return -1;
  lapack_int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', d, a, d, w);
  if (info != 0) {
    free(w);
    return nn_fail("LAPACKE_dsyevd on a %d x %d matrix: info %d (%s)", d, d, (int)info,
                   info < 0 ? "bad argument" : "did not converge");
  }
  /* dsyevd gives eigenvalues ascending with eigenvector k in column k of a. */
  for (int r = 0; r < d; r++) {
    int k = d - 1 - r;
    values[r] = w[k];
    double *v = vectors + (size_t)r * d;
    int top = 0;
    for (int i = 0; i < d; i++) {
      v[i] = a[(size_t)i * d + k];
      if (fabs(v[i]) > fabs(v[top])) top = i;
    }
    if (v[top] < 0)
      for (int i = 0; i < d; i++) v[i] = -v[i];
  }
  free(w);
  return 0;
}

void nn_pca_free(nn_pca *p) {
  free(p->mean), free(p->variances), free(p->components);
  memset(p, 0, sizeof *p);
}

int nn_pca_fit(nn_cl *cl, const float *x, int n, int d, nn_pca *p) {
  memset(p, 0, sizeof *p);
  if (check_sizes(n, d, 2) != 0) return -1;
  size_t dd;
  if (nn_mul_size((size_t)d, (size_t)d, &dd, "PCA covariance") != 0) return -1;
  p->n = n, p->d = d;
  p->mean = nn_alloc((size_t)d * sizeof(double), "PCA mean");
  p->variances = nn_alloc((size_t)d * sizeof(double), "PCA variances");
  p->components = nn_alloc(dd * sizeof(double), "PCA components");
  double *cov = nn_alloc(dd * sizeof(double), "PCA covariance");
  if (!p->mean || !p->variances || !p->components || !cov ||
      nn_pca_covariance(cl, x, n, d, p->mean, cov) != 0 ||
      nn_pca_eigh(cov, d, p->variances, p->components) != 0) {
    free(cov);
    nn_pca_free(p);
    return -1;
  }
  free(cov);
  /* A covariance is positive semi-definite; rounding can leave tiny negative eigenvalues where
   * the data have fewer dimensions than d (constant pixels, n < d). */
  for (int i = 0; i < d; i++) {
    if (p->variances[i] < 0) p->variances[i] = 0;
    p->total += p->variances[i];
  }
  return 0;
}

int nn_pca_transform(const nn_pca *p, const float *x, int n, int k, double *y) {
  if (k < 1 || k > p->d) return nn_fail("PCA transform: %d components asked of %d", k, p->d);
  if (n < 0) return nn_fail("PCA transform: %d samples", n);
  int d = p->d;
  for (int i = 0; i < n; i++)
    for (int c = 0; c < k; c++) {
      const double *v = p->components + (size_t)c * d;
      double s = 0;
      for (int j = 0; j < d; j++) s += (x[(size_t)i * d + j] - p->mean[j]) * v[j];
      y[(size_t)i * k + c] = s;
    }
  return 0;
}
