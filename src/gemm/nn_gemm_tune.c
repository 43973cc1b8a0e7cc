/* nn_gemm_tune: tuning files, applying them, and the tuning run itself (see nn_gemm_tune.h).
 * CLBlast's tuners and its current parameters are reached through nn_gemm_clblast.cc (C++ only);
 * parameters are applied here with CLBlastOverrideParameters, which makes CLBlast rebuild the
 * affected kernels at their next use. Overrides hold per device for the whole process. */
#include "nn_gemm_tune.h"

#include <clblast_c.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nn_base.h"
#include "nn_gemm.h"
#include "nn_gemm_clblast.h"
#include "nn_rng.h"

const char *const nn_gemm_tune_kernels[NN_GEMM_TUNE_KERNELS] = {"Xgemm", "XgemmDirect", "Copy",
                                                                 "Pad", "Transpose", "Padtranspose"};

#define MAGIC "nnrun-clblast-tuning 1"
/* Values beyond any tile size or flag CLBlast has: a larger one is a damaged file. */
#define MAX_VALUE 65536

#define STR(x) #x
#define XSTR(x) STR(x)
static const char clblast_version[] =
    XSTR(CLBLAST_VERSION_MAJOR) "." XSTR(CLBLAST_VERSION_MINOR) "." XSTR(CLBLAST_VERSION_PATCH);

/* ---- the file ---- */

static int kernel_index(const char *name) {
  for (int i = 0; i < NN_GEMM_TUNE_KERNELS; i++)
    if (strcmp(nn_gemm_tune_kernels[i], name) == 0) return i;
  return -1;
}

/* Copies a header field's value; fails if it does not fit. */
static int header(char *out, size_t size, const char *value, int line, const char *name) {
  if (*out) return nn_fail("line %d: a second '%s:'", line, name);
  if (!*value || strlen(value) >= size) return nn_fail("line %d: '%s:' is empty or too long", line, name);
  memcpy(out, value, strlen(value) + 1);
  return 0;
}

/* One line (without its newline, NUL-terminated). `kernel` is the block being read, or NULL. */
static int parse_line(char *s, int line, nn_gemm_tuning *t, nn_gemm_params **kernel) {
  if (strncmp(s, "device: ", 8) == 0) return header(t->device, sizeof t->device, s + 8, line, "device");
  if (strncmp(s, "driver: ", 8) == 0) return header(t->driver, sizeof t->driver, s + 8, line, "driver");
  if (strncmp(s, "clblast: ", 9) == 0) return header(t->clblast, sizeof t->clblast, s + 9, line, "clblast");
  if (strncmp(s, "kernel ", 7) == 0) {
    int k = kernel_index(s + 7);
    if (k < 0) return nn_fail("line %d: '%.40s' is not a tuned CLBlast kernel", line, s + 7);
    for (int i = 0; i < t->nkernels; i++)
      if (strcmp(t->kernels[i].kernel, s + 7) == 0) return nn_fail("line %d: kernel %s a second time", line, s + 7);
    *kernel = &t->kernels[t->nkernels++];
    snprintf((*kernel)->kernel, sizeof (*kernel)->kernel, "%.31s", nn_gemm_tune_kernels[k]);
    return 0;
  }
  char *eq = strchr(s, '=');
  if (!eq) return nn_fail("line %d: '%.40s' is none of device:, driver:, clblast:, kernel, NAME=value, end", line, s);
  *eq = 0;
  const char *name = s, *value = eq + 1;
  size_t nlen = strlen(name);
  if (!*kernel) return nn_fail("line %d: parameter %.40s before any 'kernel' line", line, name);
  if (nlen == 0 || nlen >= sizeof (*kernel)->names[0] || strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != nlen)
    return nn_fail("line %d: '%.40s' is not a parameter name (capitals, digits, _)", line, name);
  if (!*value || strlen(value) > 5 || strspn(value, "0123456789") != strlen(value) || atol(value) > MAX_VALUE)
    return nn_fail("line %d: %s=%.40s: the value must be a number up to %d", line, name, value, MAX_VALUE);
  nn_gemm_params *p = *kernel;
  for (int i = 0; i < p->count; i++)
    if (strcmp(p->names[i], name) == 0) return nn_fail("line %d: %s a second time in kernel %s", line, name, p->kernel);
  if (p->count == NN_GEMM_TUNE_PARAMS) return nn_fail("line %d: kernel %s has too many parameters", line, p->kernel);
  memcpy(p->names[p->count], name, nlen + 1);
  p->values[p->count++] = (size_t)atol(value);
  return 0;
}

int nn_gemm_tune_parse(const char *text, size_t bytes, nn_gemm_tuning *out) {
  memset(out, 0, sizeof *out);
  nn_gemm_params *kernel = NULL;
  bool ended = false;
  char s[512];
  int line = 0;
  for (size_t at = 0; at < bytes;) {
    const char *nl = memchr(text + at, '\n', bytes - at);
    size_t len = nl ? (size_t)(nl - (text + at)) : bytes - at;
    line++;
    if (len >= sizeof s) return nn_fail("line %d: longer than %zu characters", line, sizeof s - 1);
    memcpy(s, text + at, len);
    s[len] = 0;
    at += len + (nl != NULL);
    if (memchr(s, 0, len)) return nn_fail("line %d: a NUL byte in a text file", line);
    if (line == 1) {
      if (strcmp(s, MAGIC) != 0) return nn_fail("line 1: not '%s'", MAGIC);
      continue;
    }
    if (ended) return nn_fail("line %d: text after 'end'", line);
    if (s[0] == '#' || s[0] == 0) continue;
    if (strcmp(s, "end") == 0) {
      ended = true;
      continue;
    }
    if (parse_line(s, line, out, &kernel) != 0) return -1;
  }
  /* Written atomically, a file can still be cut short by a copy or an editor: it lacks its last line. */
  if (!ended) return nn_fail("no 'end' line: the file is cut short");
  if (!*out->device || !*out->driver || !*out->clblast) return nn_fail("'device:', 'driver:' or 'clblast:' is missing");
  for (int i = 0; i < out->nkernels; i++)
    if (out->kernels[i].count == 0) return nn_fail("kernel %s has no parameters", out->kernels[i].kernel);
  return 0;
}

/* A growing string for the file's text. */
typedef struct text {
  char *data;
  size_t used, size;
  bool failed;
} text;

static void append(text *t, const char *fmt, ...) NN_PRINTF(2, 3);
static void append(text *t, const char *fmt, ...) {
  if (t->failed) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->data ? t->data + t->used : NULL, t->data ? t->size - t->used : 0, fmt, ap);
    va_end(ap);
    if (n < 0) break;
    if (t->data && t->used + (size_t)n < t->size) {
      t->used += (size_t)n;
      return;
    }
    size_t size = (t->size + (size_t)n + 1) * 2;
    char *grown = realloc(t->data, size);
    if (!grown) break;
    t->data = grown;
    t->size = size;
  }
  t->failed = true;
}

char *nn_gemm_tune_format(const nn_gemm_tuning *t, const char *comment) {
  text out = {NULL, 0, 0, false};
  append(&out, "%s\n%s%sdevice: %s\ndriver: %s\nclblast: %s\n", MAGIC, comment ? comment : "",
         comment && *comment && comment[strlen(comment) - 1] != '\n' ? "\n" : "", t->device, t->driver, t->clblast);
  for (int k = 0; k < t->nkernels; k++) {
    append(&out, "kernel %s\n", t->kernels[k].kernel);
    for (int i = 0; i < t->kernels[k].count; i++)
      append(&out, "%s=%zu\n", t->kernels[k].names[i], t->kernels[k].values[i]);
  }
  append(&out, "end\n");
  if (out.failed) {
    free(out.data);
    nn_fail("format the CLBlast tuning file: out of host memory");
    return NULL;
  }
  return out.data;
}

int nn_gemm_tune_path(const nn_cl *cl, char *path, size_t size) {
  const nn_device_info *d = nn_cl_device(cl);
  char dir[3072];
  if (nn_cl_cache_dir(dir, sizeof dir) != 0)
    return nn_fail("no cache folder for the CLBlast tuning file: set NN_CACHE (or HOME)");
  uint64_t key = nn_hash_str(NN_HASH_SEED, d->platform_name);
  key = nn_hash_str(key, d->name);
  key = nn_hash_str(key, d->driver);
  key = nn_hash_str(key, clblast_version);
  int n = snprintf(path, size, "%s/clblast-tuning-%016llx.txt", dir, (unsigned long long)key);
  if (n < 0 || (size_t)n >= size) return nn_fail("the CLBlast tuning file's path is too long");
  return 0;
}

/* ---- applying ---- */

static int override(cl_device_id device, const nn_gemm_params *p) {
  const char *names[NN_GEMM_TUNE_PARAMS];
  for (int i = 0; i < p->count; i++) names[i] = p->names[i];
  CLBlastStatusCode st =
      CLBlastOverrideParameters(device, p->kernel, CLBlastPrecisionSingle, (size_t)p->count, names, p->values);
  if (st != CLBlastSuccess)
    return nn_fail("set CLBlast kernel %s's parameters: %s (%d)", p->kernel, nn_cl_error_name(st), (int)st);
  return 0;
}

/* Whether p names exactly the parameters CLBlast has for its kernel, so that overriding it cannot
 * stop half-way through a file. */
static int same_names(cl_device_id device, const nn_gemm_params *p) {
  nn_gemm_params now;
  if (nn_gemm_clblast_params(device, p->kernel, &now) != 0) return -1;
  bool same = now.count == p->count;
  for (int i = 0; same && i < p->count; i++) same = strcmp(now.names[i], p->names[i]) == 0;
  if (!same)
    return nn_fail("kernel %s: its parameters are not the %d that CLBlast %s has (%s, ...)", p->kernel, now.count,
                   clblast_version, now.count ? now.names[0] : "none");
  return 0;
}

/* Reads, parses and checks the file against the device; 1 if applied, else -1 with nn_fail. */
static int apply_file(nn_cl *cl, const char *path) {
  const nn_device_info *d = nn_cl_device(cl);
  char *data;
  size_t bytes;
  nn_gemm_tuning t;
  if (nn_file_read(path, &data, &bytes) != 0) return -1;
  int st = nn_gemm_tune_parse(data, bytes, &t);
  free(data);
  if (st != 0) return -1;
  if (strcmp(t.device, d->name) != 0 || strcmp(t.driver, d->driver) != 0 || strcmp(t.clblast, clblast_version) != 0)
    return nn_fail("made on '%s' (driver %s, CLBlast %s), not this '%s' (driver %s, CLBlast %s)", t.device, t.driver,
                   t.clblast, d->name, d->driver, clblast_version);
  for (int k = 0; k < t.nkernels; k++)
    if (same_names(d->id, &t.kernels[k]) != 0) return -1;
  for (int k = 0; k < t.nkernels; k++)
    if (override(d->id, &t.kernels[k]) != 0) return -1;
  return 1;
}

int nn_gemm_tune_apply(nn_cl *cl, char *why, size_t why_size) {
  char saved[1024], path[4096];
  snprintf(saved, sizeof saved, "%s", nn_error());
  int applied = 0;
  if (why && why_size) why[0] = 0;
  if (nn_gemm_tune_path(cl, path, sizeof path) != 0 || access(path, F_OK) != 0) {
    if (why) snprintf(why, why_size, "no tuning file for this device");
  } else if (apply_file(cl, path) == 1) {
    applied = 1;
    if (nn_env("NN_VERBOSE")) fprintf(stderr, "nnrun: CLBlast tuning applied from %s\n", path);
  } else {
    if (why) snprintf(why, why_size, "%s", nn_error());
    if (nn_env("NN_VERBOSE")) fprintf(stderr, "nnrun: CLBlast tuning file %s ignored: %s\n", path, nn_error());
  }
  nn_fail("%s", saved);
  return applied;
}

/* ---- tuning ---- */

/* A GEMM that tuning times or checks. */
typedef struct gemm_shape {
  bool ta, tb;
  size_t m, n, k;
} gemm_shape;

/* Seconds per call of nn_gemm (CLBlast on cl), the best of 3 trials of enough calls to take about
 * 0.1 s each, after one call that builds the kernels; -1 with nn_fail. */
static double gemm_seconds(nn_cl *cl, const gemm_shape *g) {
  nn_buffer a = {0}, b = {0}, c = {0};
  double best = -1;
  const uint32_t one_hundredth = 0x3c23d70a; /* 0.01f: no denormals, no overflow */
  if (nn_cl_alloc(cl, g->m * g->k * 4, "tuning A", &a) == 0 && nn_cl_alloc(cl, g->k * g->n * 4, "tuning B", &b) == 0 &&
      nn_cl_alloc(cl, g->m * g->n * 4, "tuning C", &c) == 0 && nn_cl_fill(cl, &a, 0, a.bytes, one_hundredth) == 0 &&
      nn_cl_fill(cl, &b, 0, b.bytes, one_hundredth) == 0 && nn_cl_fill(cl, &c, 0, c.bytes, 0) == 0) {
    nn_matrix ma = {a.mem, 0, g->ta ? g->m : g->k}, mb = {b.mem, 0, g->tb ? g->k : g->n}, mc = {c.mem, 0, g->n};
    int repeats = 1;
    for (int trial = -1; trial < 3; trial++) { /* trial -1 builds the kernels and sizes the trials */
      double t0 = nn_seconds();
      for (int r = 0; r < repeats; r++)
        if (nn_gemm(cl, g->ta, g->tb, g->m, g->n, g->k, 1, ma, mb, 0, mc, "tuning benchmark") != 0) goto done;
      if (nn_cl_finish(cl) != 0) goto done;
      double dt = (nn_seconds() - t0) / repeats;
      if (trial < 0) repeats = dt >= 0.1 ? 1 : dt * 100 < 0.1 ? 100 : (int)(0.1 / dt) + 1;
      else if (best < 0 || dt < best) best = dt;
    }
  }
done:
  nn_cl_free(cl, &a), nn_cl_free(cl, &b), nn_cl_free(cl, &c);
  return best;
}

/* "1/8192" for fractions that are one over a whole number, else "0.3". */
static const char *fraction_name(double f, char *out, size_t size) {
  double inverse = 1 / f;
  if (f < 1 && inverse - (double)(long)(inverse + 0.5) < 1e-6 && (double)(long)(inverse + 0.5) - inverse < 1e-6)
    snprintf(out, size, "1/%ld", (long)(inverse + 0.5));
  else snprintf(out, size, "%g", f);
  return out;
}

static void say(FILE *log, const char *fmt, ...) NN_PRINTF(2, 3);
static void say(FILE *log, const char *fmt, ...) {
  if (!log) return;
  va_list ap;
  va_start(ap, fmt);
  vfprintf(log, fmt, ap);
  va_end(ap);
  fflush(log);
}

/* GEMMs unlike the tuners' own (odd sizes, every transpose), which tuned kernels must get right.
 * A tuner checks a configuration only at its own size, where the GEMM routine pads nothing: on PoCL
 * 3.1, CLBlast 1.5.3's tuner returned Xgemm configurations that pass there and are wrong at
 * 67x45x33, where the routine pads the matrices around them. */
static const gemm_shape checked[] = {
    {false, false, 67, 45, 33}, {true, false, 130, 7, 129}, {false, true, 128, 100, 78}, {true, true, 1, 257, 31}};

/* Runs one checked GEMM (alpha 1, beta -0.5) and compares it with a float64 reference within
 * 2 gamma_(k+2) (|A||B| + |beta C0|) element by element, gamma_k = k u / (1 - k u), u = 2^-24:
 * Higham's bound for any summation order, as tests/runtime/test_gemm.c uses it; a wrong
 * configuration misses it by orders of magnitude. *right is set; -1 with nn_fail on a device error. */
static int gemm_right(nn_cl *cl, const gemm_shape *g, bool *right) {
  size_t m = g->m, n = g->n, k = g->k, count[3] = {m * k, k * n, m * n};
  size_t lda = g->ta ? m : k, ldb = g->tb ? k : n;
  float *host[3] = {NULL, NULL, NULL}, *out = malloc(m * n * 4);
  nn_buffer buf[3] = {{0}};
  nn_rng rng;
  nn_rng_seed(&rng, m * n * k);
  int st = out ? 0 : nn_fail("check tuned GEMMs: out of host memory");
  for (int i = 0; i < 3 && st == 0; i++) {
    host[i] = malloc(count[i] * 4);
    if (!host[i]) st = nn_fail("check tuned GEMMs: out of host memory");
    for (size_t j = 0; st == 0 && j < count[i]; j++) host[i][j] = (float)(nn_rng_uniform(&rng) * 2 - 1);
    if (st == 0) st = nn_cl_alloc(cl, count[i] * 4, "tuning check", &buf[i]);
    if (st == 0) st = nn_cl_write(cl, &buf[i], 0, host[i], count[i] * 4);
  }
  if (st == 0)
    st = nn_gemm(cl, g->ta, g->tb, m, n, k, 1, (nn_matrix){buf[0].mem, 0, lda}, (nn_matrix){buf[1].mem, 0, ldb}, -0.5f,
                 (nn_matrix){buf[2].mem, 0, n}, "check tuned GEMM");
  if (st == 0) st = nn_cl_read(cl, &buf[2], 0, out, m * n * 4);
  double u = ldexp(1.0, -24), gamma = (double)(k + 2) * u / (1 - (double)(k + 2) * u);
  *right = true;
  for (size_t i = 0; st == 0 && i < m; i++)
    for (size_t j = 0; j < n; j++) {
      double ref = 0, mag = 0;
      for (size_t l = 0; l < k; l++) {
        double x = g->ta ? host[0][l * lda + i] : host[0][i * lda + l];
        double y = g->tb ? host[1][j * ldb + l] : host[1][l * ldb + j];
        ref += x * y;
        mag += fabs(x * y);
      }
      double c0 = host[2][i * n + j];
      ref -= 0.5 * c0;
      *right = *right && fabs(out[i * n + j] - ref) <= 2 * gamma * (mag + fabs(0.5 * c0)) + 1e-30;
    }
  for (int i = 0; i < 3; i++) {
    nn_cl_free(cl, &buf[i]);
    free(host[i]);
  }
  free(out);
  return st;
}

/* Sets CLBlast's indirect threshold (GemmRoutine's only parameter). */
static int set_threshold(cl_device_id device, size_t threshold) {
  nn_gemm_params routine = {.kernel = "GemmRoutine", .count = 1, .names = {"XGEMM_MIN_INDIRECT_SIZE"},
                            .values = {threshold}};
  return override(device, &routine);
}

/* Whether every checked GEMM is right on one of CLBlast's paths, forced by moving its threshold
 * (back to `threshold` after). `wrong` names the first wrong one. -1 on a device error. */
static int path_right(nn_cl *cl, bool direct, size_t threshold, bool *right, char *wrong, size_t size) {
  cl_device_id device = nn_cl_device(cl)->id;
  /* 1: everything is indirect; 4096: every checked GEMM is direct. */
  if (set_threshold(device, direct ? 4096 : 1) != 0) return -1;
  *right = true;
  int st = 0;
  for (size_t i = 0; st == 0 && *right && i < sizeof checked / sizeof checked[0]; i++) {
    const gemm_shape *g = &checked[i];
    st = gemm_right(cl, g, right);
    if (!*right) snprintf(wrong, size, "%zux%zux%zu (%s%s)", g->m, g->n, g->k, g->ta ? "T" : "N", g->tb ? "T" : "N");
  }
  return set_threshold(device, threshold) != 0 ? -1 : st;
}

/* Sets of tuned kernels, as bits of nn_gemm_tune_kernels' indices: CLBlast's direct path is
 * XgemmDirect alone; its indirect path is Xgemm with Copy, Pad, Transpose and Padtranspose. */
#define KERNEL_XGEMM 1u
#define KERNEL_DIRECT 2u
#define KERNELS_INDIRECT (0x3fu & ~KERNEL_DIRECT)

static const char *kernels_name(unsigned set) {
  return set == KERNEL_DIRECT ? "XgemmDirect" : set == KERNEL_XGEMM ? "Xgemm" : "Xgemm and its helpers";
}

/* Puts the kernels of `set` back to their parameters from before the tuning. */
static int revert(cl_device_id device, const nn_gemm_params before[NN_GEMM_TUNE_KERNELS], unsigned set) {
  for (int k = 0; k < NN_GEMM_TUNE_KERNELS; k++)
    if ((set & 1u << k) && override(device, &before[k]) != 0) return -1;
  return 0;
}

/* Checks both of CLBlast's paths with the tuned kernels; where one gets a product wrong, its
 * kernels go back to their previous parameters (on the indirect path Xgemm first, the likelier
 * culprit, then its helpers too). Says so on log and in the file's comment. */
static int keep_right(nn_cl *cl, const nn_gemm_params before[NN_GEMM_TUNE_KERNELS], size_t threshold, FILE *log,
                      text *comment) {
  cl_device_id device = nn_cl_device(cl)->id;
  const unsigned steps[3] = {KERNEL_DIRECT, KERNEL_XGEMM, KERNELS_INDIRECT};
  for (int i = 0; i < 3; i++) {
    bool direct = steps[i] == KERNEL_DIRECT, right;
    char wrong[64];
    if (path_right(cl, direct, threshold, &right, wrong, sizeof wrong) != 0) return -1;
    if (right) {
      if (steps[i] == KERNEL_XGEMM) i++; /* the helpers are right as tuned */
      continue;
    }
    say(log, "  wrong products at %s with the tuned %s: %s keep%s the previous parameters\n", wrong,
        direct ? "XgemmDirect" : "indirect path", kernels_name(steps[i]), steps[i] == KERNELS_INDIRECT ? "" : "s");
    append(comment, "# wrong products at %s: %s kept the previous parameters\n", wrong, kernels_name(steps[i]));
    if (revert(device, before, steps[i]) != 0) return -1;
  }
  return 0;
}

/* Writes the parameters now in effect for every kernel to the tuning file. */
static int store(nn_cl *cl, const char *path, const char *comment) {
  const nn_device_info *d = nn_cl_device(cl);
  nn_gemm_tuning t;
  memset(&t, 0, sizeof t);
  snprintf(t.device, sizeof t.device, "%s", d->name);
  snprintf(t.driver, sizeof t.driver, "%s", d->driver);
  snprintf(t.clblast, sizeof t.clblast, "%s", clblast_version);
  for (int k = 0; k < NN_GEMM_TUNE_KERNELS; k++)
    if (nn_gemm_clblast_params(d->id, nn_gemm_tune_kernels[k], &t.kernels[t.nkernels++]) != 0) return -1;
  char *data = nn_gemm_tune_format(&t, comment);
  if (!data) return -1;
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", path);
  *strrchr(dir, '/') = 0;
  int st = nn_mkdirs(dir) != 0 || nn_file_write_atomic(path, data, strlen(data)) != 0 ? -1 : 0;
  free(data);
  return st != 0 ? nn_fail_prefix("write the tuning file") : 0;
}

static int threshold_of(cl_device_id device, size_t *threshold) {
  nn_gemm_params routine;
  if (nn_gemm_clblast_params(device, "GemmRoutine", &routine) != 0) return -1;
  if (routine.count != 1 || strcmp(routine.names[0], "XGEMM_MIN_INDIRECT_SIZE") != 0)
    return nn_fail("CLBlast's GemmRoutine is not just XGEMM_MIN_INDIRECT_SIZE");
  *threshold = routine.values[0];
  return 0;
}

/* The two GEMMs timed before and after: MLP-1's first layer in training, and a large square. 4096^3
 * is 137 GFLOP: a fraction of a second on a GPU, a minute through CLBlast on a CPU device. */
typedef struct timings {
  gemm_shape shapes[2];
  char names[2][32];
  double before[2];
} timings;

static double gflops(const gemm_shape *g, double seconds) {
  return 2e-9 * (double)g->m * (double)g->n * (double)g->k / seconds;
}

static int time_before(nn_cl *cl, timings *t, FILE *log) {
  bool cpu = (nn_cl_device(cl)->type & CL_DEVICE_TYPE_CPU) != 0;
  size_t big = cpu ? 1024 : 4096;
  *t = (timings){.shapes = {{false, true, 128, 1000, 784}, {false, false, big, big, big}}};
  snprintf(t->names[0], sizeof t->names[0], "128x1000x784 (NT)");
  snprintf(t->names[1], sizeof t->names[1], "%zu^3", big);
  for (int g = 0; g < 2; g++)
    if ((t->before[g] = gemm_seconds(cl, &t->shapes[g])) < 0) return -1;
  say(log, "before: %s %.1f GFLOP/s, %s %.1f GFLOP/s%s\n", t->names[0], gflops(&t->shapes[0], t->before[0]),
      t->names[1], gflops(&t->shapes[1], t->before[1]), cpu ? " (1024^3, not 4096^3, on a CPU device)" : "");
  return 0;
}

/* Times the GEMMs again; where one got slower, the kernels of its path go back to their previous
 * parameters. */
static int time_after(nn_cl *cl, const timings *t, const nn_gemm_params before[NN_GEMM_TUNE_KERNELS],
                      size_t threshold, FILE *log, text *comment) {
  say(log, "after: ");
  for (int g = 0; g < 2; g++) {
    const gemm_shape *s = &t->shapes[g];
    double after = gemm_seconds(cl, s);
    if (after < 0) return -1;
    say(log, "%s%s %.1f GFLOP/s (%+.0f%%)", g ? ", " : "", t->names[g], gflops(s, after), 100 * (t->before[g] / after - 1));
    append(comment, "# %s: %.1f GFLOP/s before, %.1f after\n", t->names[g], gflops(s, t->before[g]), gflops(s, after));
    /* Timing noise on a busy machine is a few percent; more than that is the tuning's doing. CLBlast
     * takes the direct path below XGEMM_MIN_INDIRECT_SIZE^3 multiply-adds (Xgemm::UseDirectKernel). */
    if (after <= t->before[g] * 1.03) continue;
    double third = (double)threshold;
    unsigned set = (double)s->m * (double)s->n * (double)s->k < third * third * third ? KERNEL_DIRECT : KERNELS_INDIRECT;
    say(log, " - slower: %s keep%s the previous parameters", kernels_name(set), set == KERNEL_DIRECT ? "s" : "");
    append(comment, "#   slower: %s kept the previous parameters\n", kernels_name(set));
    if (revert(nn_cl_device(cl)->id, before, set) != 0) return -1;
  }
  say(log, "\n");
  return 0;
}

int nn_gemm_tune(nn_cl *cl, const nn_gemm_tune_options *opt) {
  const nn_device_info *d = nn_cl_device(cl);
  FILE *log = opt->log;
  char path[4096], fname[32];
  if (!(opt->fraction > 0 && opt->fraction <= 1))
    return nn_fail("tune CLBlast: the fraction of configurations to try must be in (0, 1], not %g", opt->fraction);
  if (opt->size < 128 || opt->size % 128 != 0)
    return nn_fail("tune CLBlast: the tuning size must be a multiple of 128 (CLBlast's Xgemm tuner needs it), not %zu",
                   opt->size);
  if (strcmp(nn_gemm_engine(cl), "CLBlast") != 0)
    return nn_fail("tune CLBlast: %s's GEMM engine is %s; open it with NN_GEMM=clblast", d->name, nn_gemm_engine(cl));
  if (nn_gemm_tune_path(cl, path, sizeof path) != 0) return nn_fail_prefix("tune CLBlast");

  /* The parameters in effect before (CLBlast's, or an earlier tuning's), to return to where tuned
   * ones prove wrong or slower. */
  nn_gemm_params before[NN_GEMM_TUNE_KERNELS];
  size_t threshold = 0;
  for (int k = 0; k < NN_GEMM_TUNE_KERNELS; k++)
    if (nn_gemm_clblast_params(d->id, nn_gemm_tune_kernels[k], &before[k]) != 0) return nn_fail_prefix("tune CLBlast");
  if (threshold_of(d->id, &threshold) != 0) return nn_fail_prefix("tune CLBlast");
  say(log, "tuning CLBlast %s on %s (driver %s): fraction %s of each kernel's configurations, size %zu\n",
      clblast_version, d->name, d->driver, fraction_name(opt->fraction, fname, sizeof fname), opt->size);
  timings t;
  if (opt->measure && time_before(cl, &t, log) != 0) return nn_fail_prefix("tune CLBlast");

  int tuned = 0;
  for (int k = 0; k < NN_GEMM_TUNE_KERNELS; k++) {
    const char *kernel = nn_gemm_tune_kernels[k];
    size_t m = opt->size, kk = strcmp(kernel, "XgemmDirect") == 0 && m > 256 ? 256 : m;
    double fraction = opt->fraction, t0 = nn_seconds();
    nn_gemm_params best;
    if (nn_gemm_clblast_tune(nn_cl_queue(cl), kernel, kk, kk, kk, &fraction, &best) != 0 ||
        override(d->id, &best) != 0) {
      say(log, "  %-12s failed, keeps its parameters: %s\n", kernel, nn_error());
      continue;
    }
    tuned++;
    char used[32];
    say(log, "  %-12s %6.1f s%s%s\n", kernel, nn_seconds() - t0, fraction != opt->fraction ? ", fraction raised to " : "",
        fraction != opt->fraction ? fraction_name(fraction, used, sizeof used) : "");
  }
  if (tuned == 0) return nn_fail("tune CLBlast on %s: no kernel could be tuned", d->name);

  /* The file says, for a person, when and how it was tuned and what that changed. */
  text comment = {NULL, 0, 0, false};
  char when[32];
  time_t now = time(NULL);
  struct tm utc;
  strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", gmtime_r(&now, &utc));
  append(&comment, "# nnrun --tune, %s: fraction %s, size %zu\n", when, fraction_name(opt->fraction, fname, sizeof fname),
         opt->size);
  int st = keep_right(cl, before, threshold, log, &comment);
  if (st == 0 && opt->measure) st = time_after(cl, &t, before, threshold, log, &comment);
  if (st == 0 && comment.failed) st = nn_fail("out of host memory");
  if (st == 0) st = store(cl, path, comment.data);
  free(comment.data);
  if (st != 0) return nn_fail_prefix("tune CLBlast");
  say(log, "stored in %s\n", path);
  return 0;
}
