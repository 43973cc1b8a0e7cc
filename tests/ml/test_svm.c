/* The linear SVM against problems whose optimum is known in closed form, and against the
 * optimality condition of its primal objective on a random problem.
 *
 * Primal: f(w) = 0.5 |w|^2 + C sum_i max(0, 1 - y_i w·x_i)^2, x_i extended by the bias feature.
 * f is convex and differentiable, so the optimum is where its gradient
 *     w - 2C sum_{i: margin_i < 1} y_i x_i (1 - y_i w·x_i)
 * vanishes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn_base.h"
#include "nn_rng.h"
#include "nn_svm.h"
#include "nn_test.h"

static const nn_svm_options defaults = {.c = 1, .tol = 1e-4, .max_iter = 10000, .bias = 1, .seed = 1};

/* The largest entry of the primal gradient at w (d + 1, intercept already scaled by bias). */
static double gradient_norm(const double *x, const int *y, int n, int d, const double *w, const nn_svm_options *o) {
  double *g = calloc((size_t)d + 1, sizeof *g);
  for (int j = 0; j < d; j++) g[j] = w[j];
  g[d] = w[d] / o->bias; /* the weight of the bias feature */
  for (int i = 0; i < n; i++) {
    double m = w[d];
    for (int j = 0; j < d; j++) m += w[j] * x[(size_t)i * d + j];
    double slack = 1 - y[i] * m;
    if (slack <= 0) continue;
    for (int j = 0; j < d; j++) g[j] -= 2 * o->c * y[i] * x[(size_t)i * d + j] * slack;
    g[d] -= 2 * o->c * y[i] * o->bias * slack;
  }
  double worst = 0;
  for (int j = 0; j <= d; j++) worst = fmax(worst, fabs(g[j]));
  free(g);
  return worst;
}

int main(void) {
  double w[3];
  nn_svm_info info;

  /* Separable, one feature: x = -1 (y = -1), x = +1 (y = +1). By symmetry b = 0, and
   * f(w) = 0.5 w^2 + 2C (1 - w)^2 is least at w = 4C / (1 + 4C) = 0.8. */
  {
    const double x[] = {-1, 1};
    const int y[] = {-1, 1};
    CHECK_OK(nn_svm_fit(x, y, 2, 1, &defaults, w, &info));
    CHECK(fabs(w[0] - 0.8) < 1e-4 && fabs(w[1]) < 1e-4, "separable: w = %g, b = %g; want 0.8, 0", w[0], w[1]);
    CHECK(info.converged, "separable: not converged in %d passes", info.iterations);
    CHECK(nn_svm_accuracy(x, y, 2, 1, w) == 1.0, "separable: accuracy %g", nn_svm_accuracy(x, y, 2, 1, w));
  }

  /* Non-separable: three copies of x = 1, labels +1, +1, -1. With the bias feature every sample
   * is v = (1, 1); the least |w| for a score u = w·v is w = (u/2, u/2), so
   * f(u) = u^2/4 + C (2 (1 - u)^2 + (1 + u)^2), least at u = 4/13: w = b = 2/13. */
  {
    const double x[] = {1, 1, 1};
    const int y[] = {1, 1, -1};
    CHECK_OK(nn_svm_fit(x, y, 3, 1, &defaults, w, &info));
    CHECK(fabs(w[0] - 2.0 / 13) < 1e-4 && fabs(w[1] - 2.0 / 13) < 1e-4, "non-separable: w = %g, b = %g; want %g",
          w[0], w[1], 2.0 / 13);
    CHECK(fabs(nn_svm_accuracy(x, y, 3, 1, w) - 2.0 / 3) < 1e-12, "non-separable: accuracy %g",
          nn_svm_accuracy(x, y, 3, 1, w));
  }

  /* A random overlapping 2-D problem (two Gaussian clouds): the gradient vanishes at the result,
   * the optimum does not depend on the visiting order, and C and the bias scale are honoured. */
  {
    enum { N = 400, D = 2 };
    double x[N * D];
    int y[N];
    nn_rng rng;
    nn_rng_seed(&rng, 7);
    for (int i = 0; i < N; i++) {
      y[i] = i % 2 ? 1 : -1;
      x[i * D] = nn_rng_normal(&rng) + 0.8 * y[i] + 3;
      x[i * D + 1] = 2 * nn_rng_normal(&rng) - 0.5 * y[i];
    }
    nn_svm_options o = defaults;
    double w2[D + 1];
    const double cs[] = {1, 0.01};
    const double biases[] = {1, 5};
    for (int t = 0; t < 2; t++) {
      o.c = cs[t], o.bias = biases[t], o.tol = 1e-8, o.seed = 1;
      CHECK_OK(nn_svm_fit(x, y, N, D, &o, w, &info));
      double g = gradient_norm(x, y, N, D, w, &o);
      CHECK(info.converged && g < 1e-5, "random C=%g bias=%g: gradient %g after %d passes", o.c, o.bias, g,
            info.iterations);
      o.seed = 99;
      CHECK_OK(nn_svm_fit(x, y, N, D, &o, w2, &info));
      double diff = 0;
      for (int j = 0; j <= D; j++) diff = fmax(diff, fabs(w[j] - w2[j]));
      CHECK(diff < 1e-6, "random C=%g: another order gives weights %g away", o.c, diff);
    }
    double acc = nn_svm_accuracy(x, y, N, D, w);
    CHECK(acc > 0.6 && acc < 1, "random: accuracy %g on overlapping clouds", acc);
  }

  /* Bad input: one class, labels other than ±1, bad options. */
  {
    const double x[] = {1, 2};
    CHECK(nn_svm_fit(x, (const int[]){1, 1}, 2, 1, &defaults, w, &info) == -1 && strstr(nn_error(), "one class"),
          "one class: %s", nn_error());
    CHECK(nn_svm_fit(x, (const int[]){1, 0}, 2, 1, &defaults, w, &info) == -1 && strstr(nn_error(), "not +1 or -1"),
          "labels: %s", nn_error());
    nn_svm_options bad = defaults;
    bad.c = 0;
    CHECK(nn_svm_fit(x, (const int[]){1, -1}, 2, 1, &bad, w, &info) == -1 && strstr(nn_error(), "C and tol"),
          "C = 0: %s", nn_error());
  }
  return nn_test_done();
}
