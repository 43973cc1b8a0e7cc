/* nn_perceptron: the perceptron rule on the device (cl/perceptron.cl) and on the host. See
 * nn_perceptron.h. Both paths draw the same random numbers in the same order from each problem's
 * own generator, so a problem's run does not depend on which problems train beside it. */
#include "nn_perceptron.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn_base.h"
#include "nn_rng.h"

static int check_problems(const nn_perceptron_problem *problems, int count, int d,
                          const nn_perceptron_options *opt) {
  if (count < 1) return nn_fail("perceptron: no problems to train");
  if (d < 1) return nn_fail("perceptron: %d features", d);
  if (!(opt->eta > 0) || opt->max_epochs < 1 || !(opt->tol >= 0) || opt->n_iter_no_change < 1 ||
      !(opt->init_scale >= 0))
    return nn_fail("perceptron: eta %g, max_epochs %d, tol %g, n_iter_no_change %d, init_scale %g: "
                   "eta must be > 0, tol and init_scale >= 0, the counts >= 1",
                   (double)opt->eta, opt->max_epochs, opt->tol, opt->n_iter_no_change,
                   (double)opt->init_scale);
  for (int p = 0; p < count; p++) {
    const nn_perceptron_problem *pr = &problems[p];
    if (pr->n < 1) return nn_fail("perceptron: problem %d has %d samples", p + 1, pr->n);
    int positive = 0;
    for (int i = 0; i < pr->n; i++) {
      if (pr->y[i] != 1 && pr->y[i] != -1)
        return nn_fail("perceptron: problem %d: label %d of sample %d is not +1 or -1", p + 1, pr->y[i], i);
      positive += pr->y[i] == 1;
    }
    if (positive == 0 || positive == pr->n)
      return nn_fail("perceptron: problem %d: all %d samples are of one class", p + 1, pr->n);
  }
  return 0;
}

/* Per-problem state on the host: the generator, the visiting order and the stopping rule. */
typedef struct run_state {
  nn_rng rng;
  int32_t *order;  /* (n) */
  double best;     /* lowest training error so far */
  int stale;       /* epochs in a row without beating best by tol */
  bool done;
} run_state;

/* Seeds the generator and draws the initial weights and bias into pr->w. */
static int state_init(run_state *st, nn_perceptron_problem *pr, int d, const nn_perceptron_options *opt) {
  nn_rng_seed(&st->rng, pr->seed);
  for (int j = 0; j <= d; j++) pr->w[j] = (float)(opt->init_scale * nn_rng_normal(&st->rng));
  st->order = nn_alloc((size_t)pr->n * sizeof(int32_t), "perceptron order");
  if (!st->order) return -1;
  for (int i = 0; i < pr->n; i++) st->order[i] = i;
  st->best = INFINITY;
  st->stale = 0;
  st->done = false;
  pr->epochs = 0;
  pr->best_epoch = 0;
  pr->converged = false;
  return 0;
}

/* Records the epoch just run (mistakes = updates made, wrong = samples misclassified after it) and
 * applies the stopping rule. True when the epoch's weights are the best so far (the caller then
 * keeps them as the pocket). */
static bool state_epoch(run_state *st, nn_perceptron_problem *pr, int mistakes, int wrong,
                        const nn_perceptron_options *opt) {
  double error = (double)wrong / pr->n;
  pr->errors[pr->epochs++] = (float)error;
  if (error > st->best - opt->tol) st->stale++;
  else st->stale = 0;
  bool better = error < st->best;
  if (better) st->best = error, pr->best_epoch = pr->epochs;
  if (mistakes == 0) pr->converged = true;
  st->done = pr->converged || st->stale >= opt->n_iter_no_change || pr->epochs >= opt->max_epochs;
  return better;
}

static void free_states(run_state *states, int count) {
  if (!states) return;
  for (int p = 0; p < count; p++) free(states[p].order);
  free(states);
}

/* w·x + b in float, summed as the device's single-work-item path sums it: eight lanes over the
 * chunks of 8 features, the lanes paired up, then the d % 8 tail. Eight independent sums also let
 * the compiler vectorise, so the host reference is a fair single-core baseline. */
static float score(const float *xi, int d, const float *w) {
  int chunks = d >> 3;
  float lane[8] = {0};
  for (int c = 0; c < chunks; c++)
    for (int k = 0; k < 8; k++) lane[k] += w[8 * c + k] * xi[8 * c + k];
  float acc = ((lane[0] + lane[4]) + (lane[1] + lane[5])) + ((lane[2] + lane[6]) + (lane[3] + lane[7]));
  for (int j = chunks << 3; j < d; j++) acc += w[j] * xi[j];
  return acc + w[d];
}

double nn_perceptron_error(const float *x, const int8_t *y, int n, int d, const float *w) {
  if (n < 1) return 0;
  int wrong = 0;
  for (int i = 0; i < n; i++) wrong += y[i] * score(x + (size_t)i * d, d, w) <= 0.0f;
  return (double)wrong / n;
}

int nn_perceptron_train_host(nn_perceptron_problem *problems, int count, int d,
                             const nn_perceptron_options *opt) {
  if (check_problems(problems, count, d, opt) != 0) return -1;
  for (int p = 0; p < count; p++) {
    nn_perceptron_problem *pr = &problems[p];
    run_state st;
    if (state_init(&st, pr, d, opt) != 0) return -1;
    while (!st.done) {
      nn_rng_shuffle(&st.rng, st.order, (size_t)pr->n);
      int mistakes = 0;
      for (int s = 0; s < pr->n; s++) {
        int i = st.order[s];
        const float *xi = pr->x + (size_t)i * d;
        if (pr->y[i] * score(xi, d, pr->w) <= 0.0f) {
          float step = opt->eta * pr->y[i];
          for (int j = 0; j < d; j++) pr->w[j] += step * xi[j];
          pr->w[d] += step;
          mistakes++;
        }
      }
      int wrong = 0;
      for (int i = 0; i < pr->n; i++) wrong += pr->y[i] * score(pr->x + (size_t)i * d, d, pr->w) <= 0.0f;
      if (state_epoch(&st, pr, mistakes, wrong, opt)) memcpy(pr->best_w, pr->w, ((size_t)d + 1) * sizeof(float));
    }
    free(st.order);
  }
  return 0;
}

/* The work-group size: the option if given, else a size that suits the device. On a CPU
 * (PoCL) each group runs on one core and a barrier costs a pass over the group's work-items, so
 * a few work-items per group is fastest; a GPU wants a group wide enough to fill its SIMD units. */
static int pick_local_size(nn_cl *cl, const nn_perceptron_options *opt, int d, size_t *local) {
  const nn_device_info *dev = nn_cl_device(cl);
  size_t l = opt->local_size > 0 ? (size_t)opt->local_size : (dev->type & CL_DEVICE_TYPE_GPU ? 256 : 1);
  if (l & (l - 1)) return nn_fail("perceptron: work-group size %zu is not a power of two", l);
  if (l > dev->max_work_group)
    return nn_fail("perceptron: work-group size %zu exceeds the device's %zu", l, dev->max_work_group);
  size_t need = ((size_t)d + 2 * l) * sizeof(float);
  if (need > dev->local_mem)
    return nn_fail("perceptron: %d features need %zu bytes of local memory; the device has %llu", d, need,
                   (unsigned long long)dev->local_mem);
  *local = l;
  return 0;
}

typedef struct device_bufs {
  nn_buffer x, y, order, first, count, active, wb, best, mistakes, wrong;
} device_bufs;

static void free_bufs(nn_cl *cl, device_bufs *b) {
  nn_buffer *all[] = {&b->x, &b->y, &b->order, &b->first, &b->count, &b->active, &b->wb, &b->best, &b->mistakes, &b->wrong};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++) nn_cl_free(cl, all[i]);
}

int nn_perceptron_train(nn_cl *cl, nn_perceptron_problem *problems, int count, int d,
                        const nn_perceptron_options *opt) {
  if (check_problems(problems, count, d, opt) != 0) return -1;
  size_t local = 0;
  if (pick_local_size(cl, opt, d, &local) != 0) return -1;
  cl_kernel k_epoch, k_errors;
  if (nn_cl_kernel(cl, "perceptron", "perceptron_epoch", &k_epoch) != 0 ||
      nn_cl_kernel(cl, "perceptron", "perceptron_errors", &k_errors) != 0)
    return -1;
  size_t rows = 0;
  for (int p = 0; p < count; p++) rows += (size_t)problems[p].n;
  if (rows > INT32_MAX) return nn_fail("perceptron: %zu samples in all; at most %d", rows, INT32_MAX);
  size_t x_bytes, wb_bytes;
  if (nn_mul_size(rows, (size_t)d * sizeof(float), &x_bytes, "perceptron samples") != 0 ||
      nn_mul_size((size_t)count, (size_t)(d + 1) * sizeof(float), &wb_bytes, "perceptron weights") != 0)
    return -1;

  device_bufs b = {0};
  run_state *states = nn_calloc((size_t)count, sizeof *states, "perceptron state");
  int32_t *first = nn_alloc((size_t)count * sizeof(int32_t), "perceptron offsets");
  int32_t *ns = nn_alloc((size_t)count * sizeof(int32_t), "perceptron counts");
  int32_t *active = nn_alloc((size_t)count * sizeof(int32_t), "perceptron flags");
  int32_t *mistakes = nn_alloc((size_t)count * sizeof(int32_t), "perceptron mistakes");
  int32_t *wrong = nn_alloc((size_t)count * sizeof(int32_t), "perceptron errors");
  float *labels = nn_alloc(rows * sizeof(float), "perceptron labels");
  int rc = -1;
  if (!states || !first || !ns || !active || !mistakes || !wrong || !labels) goto done;

  size_t at = 0;
  for (int p = 0; p < count; p++) {
    nn_perceptron_problem *pr = &problems[p];
    if (state_init(&states[p], pr, d, opt) != 0) goto done;
    first[p] = (int32_t)at, ns[p] = pr->n, active[p] = 1;
    for (int i = 0; i < pr->n; i++) labels[at + (size_t)i] = pr->y[i];
    at += (size_t)pr->n;
  }
  if (nn_cl_alloc(cl, x_bytes, "perceptron samples", &b.x) != 0 ||
      nn_cl_alloc(cl, rows * sizeof(float), "perceptron labels", &b.y) != 0 ||
      nn_cl_alloc(cl, rows * sizeof(int32_t), "perceptron order", &b.order) != 0 ||
      nn_cl_alloc(cl, (size_t)count * sizeof(int32_t), "perceptron offsets", &b.first) != 0 ||
      nn_cl_alloc(cl, (size_t)count * sizeof(int32_t), "perceptron counts", &b.count) != 0 ||
      nn_cl_alloc(cl, (size_t)count * sizeof(int32_t), "perceptron flags", &b.active) != 0 ||
      nn_cl_alloc(cl, wb_bytes, "perceptron weights", &b.wb) != 0 ||
      nn_cl_alloc(cl, wb_bytes, "perceptron pocket weights", &b.best) != 0 ||
      nn_cl_alloc(cl, (size_t)count * sizeof(int32_t), "perceptron mistakes", &b.mistakes) != 0 ||
      nn_cl_alloc(cl, (size_t)count * sizeof(int32_t), "perceptron errors", &b.wrong) != 0)
    goto done;
  for (int p = 0; p < count; p++) {
    size_t row_bytes = (size_t)d * sizeof(float);
    if (nn_cl_write(cl, &b.x, (size_t)first[p] * row_bytes, problems[p].x, (size_t)problems[p].n * row_bytes) != 0 ||
        nn_cl_write(cl, &b.wb, (size_t)p * (d + 1) * sizeof(float), problems[p].w, (size_t)(d + 1) * sizeof(float)) != 0)
      goto done;
  }
  if (nn_cl_write(cl, &b.y, 0, labels, rows * sizeof(float)) != 0 ||
      nn_cl_write(cl, &b.first, 0, first, (size_t)count * sizeof(int32_t)) != 0 ||
      nn_cl_write(cl, &b.count, 0, ns, (size_t)count * sizeof(int32_t)) != 0)
    goto done;
  const float eta = opt->eta;
  if (nn_cl_args(k_epoch, "perceptron_epoch", NN_ARG(b.x.mem), NN_ARG(b.y.mem), NN_ARG(b.order.mem),
                 NN_ARG(b.first.mem), NN_ARG(b.count.mem), NN_ARG(b.active.mem), NN_ARG(b.wb.mem),
                 NN_ARG(b.mistakes.mem), NN_ARG(d), NN_ARG(eta), NN_LOCAL((size_t)d * sizeof(float)),
                 NN_LOCAL(2 * local * sizeof(float)), NN_END) != 0 ||
      nn_cl_args(k_errors, "perceptron_errors", NN_ARG(b.x.mem), NN_ARG(b.y.mem), NN_ARG(b.first.mem),
                 NN_ARG(b.count.mem), NN_ARG(b.active.mem), NN_ARG(b.wb.mem), NN_ARG(b.wrong.mem), NN_ARG(d),
                 NN_LOCAL(local * sizeof(int32_t)), NN_END) != 0)
    goto done;

  /* One epoch of every live problem per round trip: the orders go up, the counts come back and
   * the host applies each problem's stopping rule. */
  for (int live = count; live > 0;) {
    for (int p = 0; p < count; p++) {
      if (!active[p]) continue;
      nn_rng_shuffle(&states[p].rng, states[p].order, (size_t)ns[p]);
      if (nn_cl_write(cl, &b.order, (size_t)first[p] * sizeof(int32_t), states[p].order,
                      (size_t)ns[p] * sizeof(int32_t)) != 0)
        goto done;
    }
    if (nn_cl_write(cl, &b.active, 0, active, (size_t)count * sizeof(int32_t)) != 0 ||
        nn_cl_run1d(cl, k_epoch, (size_t)count * local, local, "perceptron epoch") != 0 ||
        nn_cl_run1d(cl, k_errors, (size_t)count * local, local, "perceptron errors") != 0 ||
        nn_cl_read(cl, &b.mistakes, 0, mistakes, (size_t)count * sizeof(int32_t)) != 0 ||
        nn_cl_read(cl, &b.wrong, 0, wrong, (size_t)count * sizeof(int32_t)) != 0)
      goto done;
    for (int p = 0; p < count; p++) {
      if (!active[p]) continue;
      size_t row = (size_t)p * (d + 1) * sizeof(float);
      if (state_epoch(&states[p], &problems[p], mistakes[p], wrong[p], opt) &&
          nn_cl_check(clEnqueueCopyBuffer(nn_cl_queue(cl), b.wb.mem, b.best.mem, row, row,
                                          (size_t)(d + 1) * sizeof(float), 0, NULL, NULL),
                      "perceptron: keep the best weights") != 0)
        goto done;
      if (states[p].done) active[p] = 0, live--;
    }
  }
  for (int p = 0; p < count; p++) {
    size_t row = (size_t)p * (d + 1) * sizeof(float);
    if (nn_cl_read(cl, &b.wb, row, problems[p].w, (size_t)(d + 1) * sizeof(float)) != 0 ||
        nn_cl_read(cl, &b.best, row, problems[p].best_w, (size_t)(d + 1) * sizeof(float)) != 0)
      goto done;
  }
  rc = 0;
done:
  free_bufs(cl, &b);
  free_states(states, count);
  free(first), free(ns), free(active), free(mistakes), free(wrong), free(labels);
  return rc;
}
