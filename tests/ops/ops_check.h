/* Helpers for op tests: random host data, device round trips, and comparisons with a float64
 * reference. Tolerances are relative to the reference's scale: |got - want| <= tol * (1 + |want|). */
#ifndef OPS_CHECK_H
#define OPS_CHECK_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn_base.h"
#include "nn_cl.h"
#include "nn_rng.h"
#include "nn_test.h"

/* A device buffer with a host copy; both float32 unless used for int32 labels. */
typedef struct {
  nn_buffer buf;
  float *host;
  int n;
} dev_array;

static inline dev_array dev_new(nn_cl *cl, int n) {
  dev_array a = {{0}, calloc((size_t)(n ? n : 1), sizeof(float)), n};
  CHECK_OK(nn_cl_alloc(cl, (size_t)(n ? n : 1) * sizeof(float), "test array", &a.buf));
  return a;
}

/* Uniform in [lo, hi), then uploaded. */
static inline dev_array dev_random(nn_cl *cl, nn_rng *rng, int n, double lo, double hi) {
  dev_array a = dev_new(cl, n);
  for (int i = 0; i < n; i++) a.host[i] = (float)(lo + (hi - lo) * nn_rng_uniform(rng));
  CHECK_OK(nn_cl_write(cl, &a.buf, 0, a.host, (size_t)n * sizeof(float)));
  return a;
}

static inline void dev_upload(nn_cl *cl, dev_array *a) {
  CHECK_OK(nn_cl_write(cl, &a->buf, 0, a->host, (size_t)a->n * sizeof(float)));
}

/* Reads the device copy into host (waits for the queue). */
static inline void dev_download(nn_cl *cl, dev_array *a) {
  CHECK_OK(nn_cl_read(cl, &a->buf, 0, a->host, (size_t)a->n * sizeof(float)));
}

static inline void dev_free(nn_cl *cl, dev_array *a) {
  nn_cl_free(cl, &a->buf);
  free(a->host);
  a->host = NULL;
}

/* Largest |got - want| / (1 + |want|) over n elements. */
static inline double max_rel_error(const float *got, const double *want, int n) {
  double worst = 0;
  for (int i = 0; i < n; i++) {
    double e = fabs((double)got[i] - want[i]) / (1 + fabs(want[i]));
    if (!(e <= worst)) worst = isnan(e) ? INFINITY : e;
  }
  return worst;
}

#define CHECK_CLOSE(got, want, n, tol, label)                                          \
  do {                                                                                 \
    double err_ = max_rel_error((got), (want), (n));                                   \
    CHECK(err_ <= (tol), "%s: max relative error %.3g > %.3g", (label), err_, (double)(tol)); \
  } while (0)

#endif
