/* PCA against data of known spectrum and against a float64 reference.
 *
 * The data are built so that their sample covariance is exactly Q diag(s) Qᵀ for a random
 * orthogonal Q: X = sqrt(n - 1) U diag(sqrt(s)) Qᵀ + mean, where U (n, d) has centred orthonormal
 * columns. The eigenvalues must come back as s (largest first), the components as the columns of
 * Q up to sign, with the sign convention applied. The reference is the same decomposition of a
 * covariance summed on the host in double from the same float data: the device's float GEMM must
 * agree with it to within float rounding of the sums (|error| <= gamma_n * trace). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn_base.h"
#include "nn_cl.h"
#include "nn_pca.h"
#include "nn_rng.h"
#include "nn_test.h"

/* Orthonormalises the columns of a (rows, cols) in place (modified Gram-Schmidt, twice). */
static void orthonormalise(double *a, int rows, int cols) {
  for (int pass = 0; pass < 2; pass++)
    for (int c = 0; c < cols; c++) {
      for (int p = 0; p < c; p++) {
        double dot = 0;
        for (int r = 0; r < rows; r++) dot += a[(size_t)r * cols + c] * a[(size_t)r * cols + p];
        for (int r = 0; r < rows; r++) a[(size_t)r * cols + c] -= dot * a[(size_t)r * cols + p];
      }
      double norm = 0;
      for (int r = 0; r < rows; r++) norm += a[(size_t)r * cols + c] * a[(size_t)r * cols + c];
      norm = sqrt(norm);
      for (int r = 0; r < rows; r++) a[(size_t)r * cols + c] /= norm;
    }
}

/* x (n, d) float with covariance Q diag(s) Qᵀ; q (d, d) receives Q. */
static void make_data(nn_rng *rng, int n, int d, const double *s, float *x, double *q) {
  double *u = malloc((size_t)n * d * sizeof *u);
  for (size_t i = 0; i < (size_t)n * d; i++) u[i] = nn_rng_normal(rng);
  for (int c = 0; c < d; c++) { /* centre the columns, so U's span holds no constant vector */
    double m = 0;
    for (int r = 0; r < n; r++) m += u[(size_t)r * d + c];
    for (int r = 0; r < n; r++) u[(size_t)r * d + c] -= m / n;
  }
  orthonormalise(u, n, d);
  for (int i = 0; i < d * d; i++) q[i] = nn_rng_normal(rng);
  orthonormalise(q, d, d);
  for (int r = 0; r < n; r++)
    for (int j = 0; j < d; j++) {
      double v = 2.5 + 0.5 * j; /* a mean that the fit must remove */
      for (int c = 0; c < d; c++) v += sqrt((double)(n - 1)) * u[(size_t)r * d + c] * sqrt(s[c]) * q[(size_t)j * d + c];
      x[(size_t)r * d + j] = (float)v;
    }
  free(u);
}

static void check_case(nn_cl *cl, nn_rng *rng, int n, int d, const double *s) {
  float *x = malloc((size_t)n * d * sizeof *x);
  double *q = malloc((size_t)d * d * sizeof *q);
  make_data(rng, n, d, s, x, q);
  nn_pca p;
  CHECK_OK(nn_pca_fit(cl, x, n, d, &p));

  /* float64 reference: covariance summed in double from the same floats, then dsyevd. */
  double *mean = calloc((size_t)d, sizeof *mean), *cov = calloc((size_t)d * d, sizeof *cov);
  double *ref = malloc((size_t)d * sizeof *ref), *vec = malloc((size_t)d * d * sizeof *vec);
  for (int r = 0; r < n; r++)
    for (int j = 0; j < d; j++) mean[j] += x[(size_t)r * d + j] / (double)n;
  for (int r = 0; r < n; r++)
    for (int i = 0; i < d; i++)
      for (int j = 0; j < d; j++)
        cov[(size_t)i * d + j] += (x[(size_t)r * d + i] - mean[i]) * (x[(size_t)r * d + j] - mean[j]) / (n - 1);
  double trace = 0;
  for (int i = 0; i < d; i++) trace += cov[(size_t)i * d + i];
  CHECK_OK(nn_pca_eigh(cov, d, ref, vec));

  double u = ldexp(1.0, -24), bound = 4 * n * u * trace;
  double worst_ref = 0, worst_known = 0, worst_vec = 0;
  for (int i = 0; i < d; i++) {
    worst_ref = fmax(worst_ref, fabs(p.variances[i] - fmax(ref[i], 0)));
    worst_known = fmax(worst_known, fabs(p.variances[i] - s[i]));
  }
  CHECK(worst_ref <= bound, "n=%d d=%d: eigenvalues differ from the float64 reference by %g (bound %g)", n, d,
        worst_ref, bound);
  /* The known spectrum holds up to the rounding of x to float (relative 2^-24 per entry). */
  CHECK(worst_known <= bound + 1e-5 * s[0], "n=%d d=%d: eigenvalues differ from the known spectrum by %g", n, d,
        worst_known);
  double total = 0;
  for (int i = 0; i < d; i++) total += s[i];
  CHECK(fabs(p.total - total) <= bound + 1e-5 * total, "n=%d d=%d: total variance %g, want %g", n, d, p.total,
        total);
  for (int i = 0; i < d; i++)
    CHECK(i == 0 || p.variances[i] <= p.variances[i - 1], "n=%d d=%d: variances not in decreasing order at %d", n,
          d, i);

  /* Components: where the eigenvalue is separated from its neighbours, the component is the
   * column of Q (up to sign); all are unit length, orthogonal, and follow the sign convention. */
  for (int i = 0; i < d; i++) {
    const double *v = p.components + (size_t)i * d;
    double gap = fmin(i > 0 ? s[i - 1] - s[i] : INFINITY, i < d - 1 ? s[i] - s[i + 1] : INFINITY);
    double dot = 0, norm = 0;
    int top = 0;
    for (int j = 0; j < d; j++) {
      dot += v[j] * q[(size_t)j * d + i];
      norm += v[j] * v[j];
      if (fabs(v[j]) > fabs(v[top])) top = j;
    }
    CHECK(fabs(norm - 1) < 1e-9, "component %d has norm^2 %g", i, norm);
    CHECK(v[top] > 0, "component %d: its largest entry is negative (sign convention)", i);
    if (gap > 0.1 * s[0]) worst_vec = fmax(worst_vec, 1 - fabs(dot));
    for (int k = 0; k < i; k++) {
      double o = 0;
      for (int j = 0; j < d; j++) o += v[j] * p.components[(size_t)k * d + j];
      CHECK(fabs(o) < 1e-9, "components %d and %d are not orthogonal (%g)", k, i, o);
    }
  }
  CHECK(worst_vec < 1e-6, "n=%d d=%d: a component is off its axis by 1 - |cos| = %g", n, d, worst_vec);

  /* The projections are centred and have the variances as their variances. */
  int k = d < 3 ? d : 3;
  double *y = malloc((size_t)n * k * sizeof *y);
  CHECK_OK(nn_pca_transform(&p, x, n, k, y));
  for (int c = 0; c < k; c++) {
    double m = 0, v = 0;
    for (int r = 0; r < n; r++) m += y[(size_t)r * k + c] / n;
    for (int r = 0; r < n; r++) v += (y[(size_t)r * k + c] - m) * (y[(size_t)r * k + c] - m) / (n - 1);
    CHECK(fabs(m) < 1e-4 * sqrt(s[0]), "projection %d has mean %g", c, m);
    CHECK(fabs(v - p.variances[c]) <= 1e-5 * s[0] + bound, "projection %d has variance %g, want %g", c, v,
          p.variances[c]);
  }
  free(y);
  nn_pca_free(&p);
  free(x), free(q), free(mean), free(cov), free(ref), free(vec);
}

int main(void) {
  nn_cl *cl;
  if (nn_cl_open(&cl, nn_env("NN_DEVICE"), false) != 0) {
    CHECK(0, "open device: %s", nn_error());
    return nn_test_done();
  }
  nn_rng rng;
  nn_rng_seed(&rng, 2024);

  /* A small spectrum with a repeated pair (2, 2) and a zero (rank-deficient data). */
  const double small[] = {9, 5, 2, 2, 1, 0.5, 0.25, 0.1, 0.01, 0};
  check_case(cl, &rng, 300, 10, small);

  /* A larger case, geometric spectrum. */
  enum { D = 96 };
  double big[D];
  for (int i = 0; i < D; i++) big[i] = 40.0 * pow(0.9, i);
  check_case(cl, &rng, 1500, D, big);

  /* One feature: the variance itself. */
  const double one[] = {3};
  check_case(cl, &rng, 50, 1, one);

  /* Bad sizes fail with a message instead of crashing. */
  nn_pca p;
  float two[2] = {1, 2};
  CHECK(nn_pca_fit(cl, two, 1, 2, &p) == -1 && strstr(nn_error(), "at least 2"), "one sample: %s", nn_error());
  CHECK(nn_pca_fit(cl, two, 2, 0, &p) == -1 && strstr(nn_error(), "features"), "no features: %s", nn_error());
  CHECK_OK(nn_pca_fit(cl, (float[]){1, 2, 3, 5}, 2, 2, &p));
  double y[2];
  CHECK(nn_pca_transform(&p, two, 1, 3, y) == -1 && strstr(nn_error(), "3 components asked of 2"), "k > d: %s",
        nn_error());
  nn_pca_free(&p);

  nn_cl_close(cl);
  return nn_test_done();
}
