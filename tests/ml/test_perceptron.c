/* The perceptron on the device against the host reference (the checkasm pattern: same inputs,
 * same random draws, compare), and the behaviour of the rule itself: convergence on a separable
 * set, stopping by tol on a non-separable one, independence of problems trained together, and
 * errors for bad input. Timings of both paths are printed for the record. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn_base.h"
#include "nn_cl.h"
#include "nn_perceptron.h"
#include "nn_rng.h"
#include "nn_test.h"

typedef struct toy {
  int n, d;
  float *x;   /* (n, d) */
  int8_t *y;  /* (n) */
} toy;

/* Two Gaussian clouds in d dimensions, centres at ±shift along a random direction. With a large
 * shift they are separable with a margin; with a small one they overlap. */
static toy make_toy(uint64_t seed, int n, int d, double shift) {
  toy t = {n, d, malloc((size_t)n * d * sizeof(float)), malloc((size_t)n)};
  nn_rng rng;
  nn_rng_seed(&rng, seed);
  double *dir = malloc((size_t)d * sizeof *dir), norm = 0;
  for (int j = 0; j < d; j++) dir[j] = nn_rng_normal(&rng), norm += dir[j] * dir[j];
  for (int i = 0; i < n; i++) {
    t.y[i] = nn_rng_below(&rng, 2) ? 1 : -1;
    for (int j = 0; j < d; j++)
      t.x[(size_t)i * d + j] = (float)(nn_rng_normal(&rng) + t.y[i] * shift * dir[j] / sqrt(norm) + 0.5);
  }
  free(dir);
  return t;
}

static void free_toy(toy *t) { free(t->x), free(t->y); }

static nn_perceptron_problem problem(const toy *t, uint64_t seed, int max_epochs) {
  return (nn_perceptron_problem){.x = t->x, .y = t->y, .n = t->n, .seed = seed,
                                 .w = calloc((size_t)t->d + 1, sizeof(float)),
                                 .best_w = calloc((size_t)t->d + 1, sizeof(float)),
                                 .errors = calloc((size_t)max_epochs, sizeof(float))};
}

static void free_problem(nn_perceptron_problem *p) { free(p->w), free(p->best_w), free(p->errors); }

static const nn_perceptron_options defaults = {
    .eta = 0.01f, .max_epochs = 1000, .tol = 1e-3, .n_iter_no_change = 5, .init_scale = 0.01f};

/* Device and host agree on one problem: the same epochs and, epoch by epoch, the same errors. The
 * two sum each dot product in different orders, so a sample whose score is within rounding of 0
 * could go either way; on continuous random data that does not happen in a few epochs. */
static void compare_paths(nn_cl *cl, const toy *t, int local, int max_epochs) {
  nn_perceptron_options o = defaults;
  o.local_size = local, o.max_epochs = max_epochs, o.n_iter_no_change = max_epochs;
  nn_perceptron_problem dev = problem(t, 5, max_epochs), host = problem(t, 5, max_epochs);
  CHECK_OK(nn_perceptron_train(cl, &dev, 1, t->d, &o));
  CHECK_OK(nn_perceptron_train_host(&host, 1, t->d, &o));
  CHECK(dev.epochs == host.epochs, "L=%d: %d epochs on the device, %d on the host", local, dev.epochs, host.epochs);
  for (int e = 0; e < dev.epochs && e < host.epochs; e++)
    CHECK(dev.errors[e] == host.errors[e], "L=%d epoch %d: error %g on the device, %g on the host", local, e + 1,
          dev.errors[e], host.errors[e]);
  double worst = 0, scale = 0;
  for (int j = 0; j <= t->d; j++) {
    worst = fmax(worst, fmax(fabs(dev.w[j] - host.w[j]), fabs(dev.best_w[j] - host.best_w[j])));
    scale = fmax(scale, fabs(host.w[j]));
  }
  CHECK(worst <= 1e-4 * scale, "L=%d: weights differ by %g (largest %g)", local, worst, scale);
  CHECK(dev.best_epoch == host.best_epoch, "L=%d: pocket from epoch %d on the device, %d on the host", local,
        dev.best_epoch, host.best_epoch);
  free_problem(&dev), free_problem(&host);
}

int main(void) {
  nn_cl *cl;
  if (nn_cl_open(&cl, nn_env("NN_DEVICE"), false) != 0) {
    CHECK(0, "open device: %s", nn_error());
    return nn_test_done();
  }

  /* An odd number of features, so no group size divides it. */
  toy mixed = make_toy(11, 700, 37, 1.0);
  for (int local = 1; local <= 64; local *= 4) compare_paths(cl, &mixed, local, 3);

  /* Separable with a margin: the rule converges (an epoch without updates) and the training
   * error is 0, on both paths. */
  toy sep = make_toy(12, 500, 20, 8.0);
  nn_perceptron_problem a = problem(&sep, 3, defaults.max_epochs), h = problem(&sep, 3, defaults.max_epochs);
  CHECK_OK(nn_perceptron_train(cl, &a, 1, sep.d, &defaults));
  CHECK_OK(nn_perceptron_train_host(&h, 1, sep.d, &defaults));
  CHECK(a.converged && a.errors[a.epochs - 1] == 0, "separable: converged %d, error %g after %d epochs", a.converged,
        a.errors[a.epochs - 1], a.epochs);
  CHECK(nn_perceptron_error(sep.x, sep.y, sep.n, sep.d, a.w) == 0, "separable: final weights misclassify %g",
        nn_perceptron_error(sep.x, sep.y, sep.n, sep.d, a.w));
  CHECK(h.converged && h.epochs == a.epochs, "separable: host converged %d in %d epochs, device in %d", h.converged,
        h.epochs, a.epochs);

  /* Overlapping: no epoch is free of mistakes, so training ends by the tol rule, well before
   * max_epochs, with n_iter_no_change epochs in a row that did not beat the best by tol. */
  toy over = make_toy(13, 800, 10, 0.5);
  nn_perceptron_problem b = problem(&over, 4, defaults.max_epochs);
  CHECK_OK(nn_perceptron_train(cl, &b, 1, over.d, &defaults));
  CHECK(!b.converged && b.epochs < defaults.max_epochs, "overlapping: converged %d after %d epochs", b.converged,
        b.epochs);
  double best = INFINITY;
  for (int e = 0; e < b.epochs - defaults.n_iter_no_change; e++) best = fmin(best, b.errors[e]);
  for (int e = b.epochs - defaults.n_iter_no_change; e < b.epochs; e++) {
    CHECK(b.errors[e] > best - defaults.tol, "overlapping: epoch %d improved on %g to %g, yet training stopped",
          e + 1, best, b.errors[e]);
    best = fmin(best, b.errors[e]);
  }
  CHECK(fabs(b.errors[b.epochs - 1] - nn_perceptron_error(over.x, over.y, over.n, over.d, b.w)) < 1e-6,
        "overlapping: the last recorded error is not the final weights' error");
  /* The pocket: the weights of the first epoch with the lowest error, and that error is theirs. */
  int first_min = 0;
  for (int e = 1; e < b.epochs; e++)
    if (b.errors[e] < b.errors[first_min]) first_min = e;
  CHECK(b.best_epoch == first_min + 1, "overlapping: pocket from epoch %d, the lowest error is at epoch %d",
        b.best_epoch, first_min + 1);
  CHECK(fabs(b.errors[first_min] - nn_perceptron_error(over.x, over.y, over.n, over.d, b.best_w)) < 1e-6,
        "overlapping: the pocket weights' error %g is not the best epoch's %g",
        nn_perceptron_error(over.x, over.y, over.n, over.d, b.best_w), b.errors[first_min]);

  /* Problems trained together give what each gives alone: one work-group each, own generator. */
  toy sep10 = make_toy(14, 500, 10, 8.0);
  nn_perceptron_problem alone = problem(&sep10, 6, defaults.max_epochs);
  nn_perceptron_problem pair[2] = {problem(&over, 4, defaults.max_epochs), problem(&sep10, 6, defaults.max_epochs)};
  CHECK_OK(nn_perceptron_train(cl, &alone, 1, 10, &defaults));
  CHECK_OK(nn_perceptron_train(cl, pair, 2, 10, &defaults));
  CHECK(pair[0].epochs == b.epochs && memcmp(pair[0].w, b.w, 11 * sizeof(float)) == 0,
        "together: the overlapping problem changed (%d epochs, alone %d)", pair[0].epochs, b.epochs);
  CHECK(pair[1].epochs == alone.epochs && memcmp(pair[1].w, alone.w, 11 * sizeof(float)) == 0,
        "together: the separable problem changed (%d epochs, alone %d)", pair[1].epochs, alone.epochs);

  /* Timings on a problem of MNIST-pair shape (784 features), a few epochs, for the record. */
  toy big = make_toy(15, 4000, 784, 1.0);
  nn_perceptron_options o = defaults;
  o.max_epochs = o.n_iter_no_change = 5;
  nn_perceptron_problem t4[4];
  for (int p = 0; p < 4; p++) t4[p] = problem(&big, (uint64_t)p, o.max_epochs);
  double t0 = nn_seconds();
  CHECK_OK(nn_perceptron_train(cl, t4, 4, 784, &o));
  double t_dev = nn_seconds() - t0;
  t0 = nn_seconds();
  CHECK_OK(nn_perceptron_train_host(t4, 4, 784, &o));
  double t_host = nn_seconds() - t0;
  printf("4 problems x 4000 samples x 784 features x 5 epochs: device %.3f s, host %.3f s\n", t_dev, t_host);
  for (int p = 0; p < 4; p++) free_problem(&t4[p]);

  /* Bad input fails with a message. */
  nn_perceptron_problem bad = problem(&sep, 1, 10);
  int8_t same[500];
  memset(same, 1, sizeof same);
  bad.y = same;
  CHECK(nn_perceptron_train(cl, &bad, 1, sep.d, &defaults) == -1 && strstr(nn_error(), "one class"), "one class: %s",
        nn_error());
  same[3] = 0;
  CHECK(nn_perceptron_train(cl, &bad, 1, sep.d, &defaults) == -1 && strstr(nn_error(), "not +1 or -1"),
        "label 0: %s", nn_error());
  bad.y = sep.y;
  o = defaults;
  o.local_size = 6;
  CHECK(nn_perceptron_train(cl, &bad, 1, sep.d, &o) == -1 && strstr(nn_error(), "power of two"), "local 6: %s",
        nn_error());
  free_problem(&bad);

  free_problem(&a), free_problem(&h), free_problem(&b), free_problem(&alone);
  free_problem(&pair[0]), free_problem(&pair[1]);
  free_toy(&mixed), free_toy(&sep), free_toy(&over), free_toy(&sep10), free_toy(&big);
  nn_cl_close(cl);
  return nn_test_done();
}
