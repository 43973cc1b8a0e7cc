/* CLBlast tuning on the test device (PoCL in CI), with NN_GEMM=clblast and a private NN_CACHE:
 * one real tuning run at the smallest fraction (one configuration of each kernel, 128^3) writes the
 * device's file under its key; a new handle applies it, and GEMMs through the tuned kernels match a
 * float64 reference on both of CLBlast's paths; files made for another device, driver or CLBlast,
 * and damaged ones, are ignored with a reason and change no parameter. Overrides are global to the
 * process, so between steps the test puts CLBlast's own parameters back, as a new process has them. */
#include <clblast_c.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nn_base.h"
#include "nn_cl.h"
#include "nn_gemm.h"
#include "nn_gemm_clblast.h"
#include "nn_gemm_tune.h"
#include "nn_rng.h"
#include "nn_test.h"

static bool same_params(const nn_gemm_params *a, const nn_gemm_params *b) {
  if (strcmp(a->kernel, b->kernel) != 0 || a->count != b->count) return false;
  for (int i = 0; i < a->count; i++)
    if (strcmp(a->names[i], b->names[i]) != 0 || a->values[i] != b->values[i]) return false;
  return true;
}

static void current(nn_cl *cl, nn_gemm_params now[NN_GEMM_TUNE_KERNELS]) {
  for (int k = 0; k < NN_GEMM_TUNE_KERNELS; k++)
    CHECK_OK(nn_gemm_clblast_params(nn_cl_device(cl)->id, nn_gemm_tune_kernels[k], &now[k]));
}

static void set_params(nn_cl *cl, const nn_gemm_params *p) {
  const char *names[NN_GEMM_TUNE_PARAMS];
  for (int i = 0; i < p->count; i++) names[i] = p->names[i];
  CHECK(CLBlastOverrideParameters(nn_cl_device(cl)->id, p->kernel, CLBlastPrecisionSingle, (size_t)p->count, names,
                                  p->values) == CLBlastSuccess,
        "override %s", p->kernel);
}

/* Sets every tuned kernel back to `params`. */
static void reset(nn_cl *cl, const nn_gemm_params params[NN_GEMM_TUNE_KERNELS]) {
  for (int k = 0; k < NN_GEMM_TUNE_KERNELS; k++) set_params(cl, &params[k]);
}

/* C = alpha op(A) op(B) + beta C through nn_gemm against float64, within 2 gamma_(k+2) of
 * |alpha||A||B| + |beta||C0| element by element (the bound test_gemm.c derives). */
static void check_gemm(nn_cl *cl, bool ta, bool tb, size_t m, size_t n, size_t k, float alpha, float beta,
                       const char *path) {
  nn_rng rng;
  nn_rng_seed(&rng, m * 1000003 + n * 1009 + k);
  size_t sizes[3] = {m * k, k * n, m * n};
  float *host[3], *out = malloc(m * n * 4);
  nn_buffer buf[3];
  for (int i = 0; i < 3; i++) {
    host[i] = malloc(sizes[i] * 4);
    for (size_t j = 0; j < sizes[i]; j++) host[i][j] = (float)(nn_rng_uniform(&rng) * 2 - 1);
    CHECK_OK(nn_cl_alloc(cl, sizes[i] * 4, "operand", &buf[i]));
    CHECK_OK(nn_cl_write(cl, &buf[i], 0, host[i], sizes[i] * 4));
  }
  size_t lda = ta ? m : k, ldb = tb ? k : n;
  CHECK_OK(nn_gemm(cl, ta, tb, m, n, k, alpha, (nn_matrix){buf[0].mem, 0, lda}, (nn_matrix){buf[1].mem, 0, ldb}, beta,
                   (nn_matrix){buf[2].mem, 0, n}, "tuned GEMM"));
  CHECK_OK(nn_cl_read(cl, &buf[2], 0, out, m * n * 4));
  double u = ldexp(1.0, -24), gamma = (double)(k + 2) * u / (1 - (double)(k + 2) * u);
  size_t bad = 0;
  for (size_t i = 0; i < m; i++)
    for (size_t j = 0; j < n; j++) {
      double ref = 0, mag = 0;
      for (size_t l = 0; l < k; l++) {
        double x = ta ? host[0][l * lda + i] : host[0][i * lda + l];
        double y = tb ? host[1][j * ldb + l] : host[1][l * ldb + j];
        ref += x * y;
        mag += fabs(x * y);
      }
      double c0 = host[2][i * n + j];
      ref = alpha * ref + beta * c0;
      double bound = 2 * gamma * (fabs(alpha) * mag + fabs(beta * c0)) + 1e-30;
      bad += !(fabs(out[i * n + j] - ref) <= bound);
    }
  CHECK(bad == 0, "%s path: %zux%zux%zu ta=%d tb=%d: %zu elements beyond the bound", path, m, n, k, ta, tb, bad);
  for (int i = 0; i < 3; i++) {
    nn_cl_free(cl, &buf[i]);
    free(host[i]);
  }
  free(out);
}

static void check_gemms(nn_cl *cl, const char *path) {
  check_gemm(cl, false, false, 67, 45, 33, 1, 0, path);
  check_gemm(cl, true, false, 130, 7, 129, -0.5f, 1.5f, path);
  check_gemm(cl, false, true, 128, 100, 78, 1, 1, path);
  check_gemm(cl, true, true, 1, 257, 31, 2, 0, path);
  check_gemm(cl, false, false, 100, 129, 65, 1, 0, path); /* none of nn_gemm_tune's own checks */
}

/* The tuning file with one line changed (`from` is a line's start), or cut before `from`. */
static void write_variant(const char *path, const char *text, const char *from, const char *to, bool cut) {
  const char *at = strstr(text, from);
  CHECK(at != NULL, "'%s' in the tuning file", from);
  if (!at) return;
  const char *rest = cut ? "" : strchr(at, '\n');
  size_t head = (size_t)(at - text);
  char *v = malloc(strlen(text) + strlen(to) + 2);
  memcpy(v, text, head);
  sprintf(v + head, "%s%s", to, rest);
  CHECK_OK(nn_file_write_atomic(path, v, strlen(v)));
  free(v);
}

/* A variant of the file is ignored, saying `reason`, and leaves CLBlast's parameters alone. */
static void check_ignored(nn_cl *cl, const char *what, const char *reason,
                          const nn_gemm_params defaults[NN_GEMM_TUNE_KERNELS]) {
  char why[1024];
  nn_fail("earlier error");
  CHECK(nn_gemm_tune_apply(cl, why, sizeof why) == 0 && strstr(why, reason), "%s: applied, or not because '%s'", what,
        why);
  CHECK(strcmp(nn_error(), "earlier error") == 0, "%s: nn_error() became '%s'", what, nn_error());
  nn_gemm_params now[NN_GEMM_TUNE_KERNELS];
  current(cl, now);
  for (int k = 0; k < NN_GEMM_TUNE_KERNELS; k++)
    CHECK(same_params(&now[k], &defaults[k]), "%s: kernel %s's parameters changed", what, nn_gemm_tune_kernels[k]);
}

int main(void) {
  char cache[] = "/tmp/nn-test-tune-XXXXXX";
  CHECK(mkdtemp(cache) != NULL, "temp dir");
  setenv("NN_CACHE", cache, 1);
  setenv("NN_GEMM", "clblast", 1);
  nn_cl *cl;
  if (nn_cl_open(&cl, nn_env("NN_DEVICE"), false) != 0) {
    CHECK(0, "open device: %s", nn_error());
    return nn_test_done();
  }
  const nn_device_info *d = nn_cl_device(cl);
  CHECK(strcmp(nn_gemm_engine(cl), "CLBlast") == 0, "engine %s", nn_gemm_engine(cl));
  nn_gemm_params defaults[NN_GEMM_TUNE_KERNELS], now[NN_GEMM_TUNE_KERNELS];
  current(cl, defaults);
  char path[4096], why[1024];
  CHECK_OK(nn_gemm_tune_path(cl, path, sizeof path));
  CHECK(strncmp(path, cache, strlen(cache)) == 0 && strstr(path, "/clblast-tuning-") && strstr(path, ".txt"), "%s", path);
  CHECK(nn_gemm_tune_apply(cl, why, sizeof why) == 0 && strstr(why, "no tuning file"), "no file yet: %s", why);

  /* Tuning: one configuration per kernel. Xgemm has about 20,000 configurations; the other kernels'
   * fractions are raised until they have one. */
  double t0 = nn_seconds();
  nn_gemm_tune_options opt = {1.0 / 32768, 128, false, stdout};
  CHECK_OK(nn_gemm_tune(cl, &opt));
  printf("tuned in %.1f s\n", nn_seconds() - t0);
  char *text = NULL;
  size_t bytes = 0;
  nn_gemm_tuning file;
  CHECK_OK(nn_file_read(path, &text, &bytes));
  CHECK_OK(nn_gemm_tune_parse(text, bytes, &file));
  char version[32];
  snprintf(version, sizeof version, "%d.%d.%d", CLBLAST_VERSION_MAJOR, CLBLAST_VERSION_MINOR, CLBLAST_VERSION_PATCH);
  CHECK(strcmp(file.device, d->name) == 0 && strcmp(file.driver, d->driver) == 0 && strcmp(file.clblast, version) == 0,
        "the file's key: '%s', '%s', '%s'", file.device, file.driver, file.clblast);
  CHECK(file.nkernels == NN_GEMM_TUNE_KERNELS, "%d kernels", file.nkernels);
  current(cl, now);
  bool tuned_differ = false;
  for (int k = 0; k < file.nkernels && k < NN_GEMM_TUNE_KERNELS; k++) {
    CHECK(same_params(&file.kernels[k], &now[k]), "kernel %s: the file is what the tuning applied", now[k].kernel);
    tuned_differ |= !same_params(&now[k], &defaults[k]);
  }
  CHECK(tuned_differ, "the tuning changed no kernel's parameters");
  /* The text round-trips: what a person reads is what is applied. */
  char *again = nn_gemm_tune_format(&file, NULL);
  nn_gemm_tuning reparsed;
  CHECK(again && nn_gemm_tune_parse(again, strlen(again), &reparsed) == 0 && memcmp(&reparsed, &file, sizeof file) == 0,
        "format and parse round-trip");
  free(again);

  /* A new handle, in a process whose CLBlast has its own parameters, applies the file. */
  reset(cl, defaults);
  nn_cl *fresh;
  CHECK_OK(nn_cl_open(&fresh, nn_env("NN_DEVICE"), true));
  if (fresh) {
    CHECK(strcmp(nn_gemm_engine(fresh), "CLBlast") == 0, "engine");
    current(fresh, now);
    for (int k = 0; k < NN_GEMM_TUNE_KERNELS; k++)
      CHECK(same_params(&now[k], &file.kernels[k]), "kernel %s: the file was applied", now[k].kernel);
    /* The tuned kernels compute the right products, on CLBlast's direct path (these sizes are far
     * below its indirect threshold) and, with the threshold at 1, on the indirect one (Xgemm with
     * Copy, Pad, Transpose and Padtranspose around it). */
    check_gemms(fresh, "direct");
    nn_gemm_params routine;
    CHECK_OK(nn_gemm_clblast_params(d->id, "GemmRoutine", &routine));
    nn_gemm_params everything_indirect = routine;
    CHECK(routine.count == 1 && strcmp(routine.names[0], "XGEMM_MIN_INDIRECT_SIZE") == 0, "GemmRoutine %s",
          routine.names[0]);
    everything_indirect.values[0] = 1;
    set_params(fresh, &everything_indirect);
    check_gemms(fresh, "indirect");
    set_params(fresh, &routine);
    nn_cl_close(fresh);
  }

  /* Files that are not for exactly this device, driver and CLBlast, or damaged: ignored. */
  reset(cl, defaults);
  char line[512];
  snprintf(line, sizeof line, "device: %s", d->name);
  write_variant(path, text, line, "device: Another GPU", false);
  check_ignored(cl, "another device", "made on 'Another GPU'", defaults);
  snprintf(line, sizeof line, "driver: %s", d->driver);
  write_variant(path, text, line, "driver: 0.1-other", false);
  check_ignored(cl, "another driver", "driver 0.1-other", defaults);
  write_variant(path, text, "clblast: ", "clblast: 0.9.0", false);
  check_ignored(cl, "another CLBlast", "CLBlast 0.9.0", defaults);
  write_variant(path, text, "kernel Pad\n", "", true);
  check_ignored(cl, "cut short", "cut short", defaults);
  write_variant(path, text, "MWG=", "MWG=lots", false);
  check_ignored(cl, "a bad value", "MWG=lots", defaults);
  write_variant(path, text, "KWID=", "UNKNOWN=1", false);
  check_ignored(cl, "a parameter CLBlast lacks", "kernel XgemmDirect", defaults);
  /* Whole again: applied. */
  CHECK_OK(nn_file_write_atomic(path, text, bytes));
  CHECK(nn_gemm_tune_apply(cl, why, sizeof why) == 1, "the file as written is applied: %s", why);
  reset(cl, defaults);

  free(text);
  nn_cl_close(cl);
  nn_test_remove_dir(cache);
  return nn_test_done();
}
