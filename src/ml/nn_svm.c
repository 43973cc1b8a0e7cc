/* nn_svm: liblinear's dual coordinate descent for the L2-loss linear SVM. See nn_svm.h.
 *
 * Dual problem: min over alpha >= 0 of 0.5 alpha'Q alpha - sum(alpha), with
 * Q_ij = y_i y_j x_i·x_j + delta_ij / (2C). The primal weights w = sum_i alpha_i y_i x_i are kept
 * up to date, so the gradient of coordinate i is G = y_i w·x_i - 1 + alpha_i / (2C). */
#include "nn_svm.h"

#include <math.h>
#include <stdlib.h>

#include "nn_base.h"
#include "nn_rng.h"

/* x_i·w over the d features plus the bias feature. */
static double dot(const double *xi, int d, double bias, const double *w) {
  double s = bias * w[d];
  for (int j = 0; j < d; j++) s += xi[j] * w[j];
  return s;
}

int nn_svm_fit(const double *x, const int *y, int n, int d, const nn_svm_options *opt, double *w,
               nn_svm_info *info) {
  if (n < 1 || d < 1) return nn_fail("linear SVM: %d samples of %d features", n, d);
  if (!(opt->c > 0) || !(opt->tol > 0) || opt->max_iter < 1 || opt->bias < 0)
    return nn_fail("linear SVM: C %g, tol %g, max_iter %d, bias %g: C and tol must be > 0, "
                   "max_iter >= 1, bias >= 0", opt->c, opt->tol, opt->max_iter, opt->bias);
  int positive = 0;
  for (int i = 0; i < n; i++) {
    if (y[i] != 1 && y[i] != -1) return nn_fail("linear SVM: label %d of sample %d is not +1 or -1", y[i], i);
    positive += y[i] == 1;
  }
  if (positive == 0 || positive == n) return nn_fail("linear SVM: the %d samples are all of one class", n);

  double *alpha = nn_calloc((size_t)n, sizeof(double), "SVM dual variables");
  double *qd = nn_alloc((size_t)n * sizeof(double), "SVM diagonal");
  int *index = nn_alloc((size_t)n * sizeof(int), "SVM order");
  if (!alpha || !qd || !index) {
    free(alpha), free(qd), free(index);
    return -1;
  }
  const double diag = 0.5 / opt->c;
  for (int j = 0; j <= d; j++) w[j] = 0;
  for (int i = 0; i < n; i++) {
    const double *xi = x + (size_t)i * d;
    qd[i] = diag + opt->bias * opt->bias;
    for (int j = 0; j < d; j++) qd[i] += xi[j] * xi[j];
    index[i] = i;
  }
  nn_rng rng;
  nn_rng_seed(&rng, opt->seed);
  int active = n, iter = 0;
  bool converged = false;
  /* Shrinking: a variable at its bound 0 whose gradient exceeds the largest projected gradient
   * of the previous pass is set aside; the set is restored before accepting convergence. (The
   * L2 loss puts no upper bound on alpha, so liblinear's other shrinking test never applies.) */
  double pg_max_old = INFINITY;
  while (iter < opt->max_iter) {
    double pg_max = -INFINITY, pg_min = INFINITY;
    for (int s = 0; s < active; s++) {
      int j = s + (int)nn_rng_below(&rng, (uint32_t)(active - s));
      int t = index[s];
      index[s] = index[j], index[j] = t;
    }
    for (int s = 0; s < active; s++) {
      int i = index[s];
      const double *xi = x + (size_t)i * d;
      double g = y[i] * dot(xi, d, opt->bias, w) - 1 + alpha[i] * diag;
      double pg = 0;
      if (alpha[i] == 0) {
        if (g > pg_max_old) {
          active--;
          index[s] = index[active], index[active] = i;
          s--;
          continue;
        }
        if (g < 0) pg = g;
      } else {
        pg = g;
      }
      if (pg > pg_max) pg_max = pg;
      if (pg < pg_min) pg_min = pg;
      if (fabs(pg) > 1e-12) {
        double old = alpha[i];
        alpha[i] = fmax(alpha[i] - g / qd[i], 0.0);
        double step = (alpha[i] - old) * y[i];
        for (int j = 0; j < d; j++) w[j] += step * xi[j];
        w[d] += step * opt->bias;
      }
    }
    iter++;
    if (pg_max - pg_min <= opt->tol) {
      if (active == n) {
        converged = true;
        break;
      }
      active = n;
      pg_max_old = INFINITY;
      continue;
    }
    pg_max_old = pg_max > 0 ? pg_max : INFINITY;
  }
  /* The model is w·x + w[d] * bias; fold the bias value into the intercept. */
  w[d] *= opt->bias;
  free(alpha), free(qd), free(index);
  if (info) info->iterations = iter, info->converged = converged;
  return 0;
}

double nn_svm_accuracy(const double *x, const int *y, int n, int d, const double *w) {
  if (n < 1) return 0;
  int right = 0;
  for (int i = 0; i < n; i++) right += y[i] * dot(x + (size_t)i * d, d, 1.0, w) > 0;
  return (double)right / n;
}
