/* Runtime tests: device selection, buffers and their accounting, the kernel cache, and the error
 * paths (a failing kernel build, impossible allocations). Runs on NN_DEVICE (PoCL in CI). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <signal.h>
#include <sys/resource.h>

#include <clblast_c.h>

#include "nn_base.h"
#include "nn_cl.h"
#include "nn_test.h"

static void test_select(void) {
  nn_device_info devs[3] = {0};
  devs[0] = (nn_device_info){.platform = 0, .index = 0, .type = CL_DEVICE_TYPE_CPU, .name = "pthread-haswell-AMD EPYC"};
  devs[1] = (nn_device_info){.platform = 1, .index = 0, .type = CL_DEVICE_TYPE_GPU, .name = "NVIDIA H100 80GB HBM3"};
  devs[2] = (nn_device_info){.platform = 1, .index = 1, .type = CL_DEVICE_TYPE_GPU, .name = "NVIDIA A100"};
  int c = -1;
  CHECK(nn_cl_select(NULL, devs, 3, &c) == 0 && c == 1, "unset picks the first GPU, got %d", c);
  CHECK(nn_cl_select("", devs, 3, &c) == 0 && c == 1, "empty picks the first GPU, got %d", c);
  CHECK(nn_cl_select("CPU", devs, 3, &c) == 0 && c == 0, "cpu, got %d", c);
  CHECK(nn_cl_select("gpu", devs, 3, &c) == 0 && c == 1, "gpu, got %d", c);
  CHECK(nn_cl_select("1:1", devs, 3, &c) == 0 && c == 2, "P:D, got %d", c);
  CHECK(nn_cl_select("a100", devs, 3, &c) == 0 && c == 2, "substring, any case, got %d", c);
  CHECK(nn_cl_select(NULL, devs, 1, &c) == 0 && c == 0, "no GPU: first CPU, got %d", c);
  CHECK(nn_cl_select("nonsense", devs, 3, &c) != 0, "nonsense must fail");
  CHECK(strstr(nn_error(), "NN_DEVICE='nonsense'") && strstr(nn_error(), "1:0 NVIDIA H100"),
        "the error lists the devices: %s", nn_error());
  CHECK(nn_cl_select("gpu", devs, 1, &c) != 0, "gpu without a GPU must fail");
  CHECK(nn_cl_select("2:0", devs, 3, &c) != 0, "a missing P:D must fail");
  CHECK(nn_cl_select("1:0x", devs, 3, &c) != 0, "trailing junk in P:D is a name, and matches nothing");
  CHECK(nn_cl_select(NULL, devs, 0, &c) != 0 && strstr(nn_error(), "no OpenCL device"), "%s", nn_error());
}

static void test_error_names(void) {
  CHECK(strcmp(nn_cl_error_name(CL_OUT_OF_RESOURCES), "CL_OUT_OF_RESOURCES") == 0, "%s", nn_cl_error_name(-5));
  CHECK(strcmp(nn_cl_error_name(CL_BUILD_PROGRAM_FAILURE), "CL_BUILD_PROGRAM_FAILURE") == 0, "name");
  CHECK(strcmp(nn_cl_error_name(CLBlastMissingOverrideParameter), "CLBlastMissingOverrideParameter") == 0 &&
            strcmp(nn_cl_error_name(CLBlastUnexpectedError), "CLBlastUnexpectedError") == 0,
        "CLBlast codes are named: %s", nn_cl_error_name(CLBlastUnexpectedError));
  CHECK(nn_cl_check(CL_INVALID_VALUE, "enqueue 'relu'") != 0 &&
            strcmp(nn_error(), "enqueue 'relu': CL_INVALID_VALUE (-30)") == 0,
        "%s", nn_error());
}

static void test_buffers(nn_cl *cl) {
  nn_cl_stats before = nn_cl_get_stats(cl);
  nn_buffer a, b;
  CHECK_OK(nn_cl_alloc(cl, 1000 * sizeof(float), "a", &a));
  CHECK_OK(nn_cl_alloc(cl, 3000, "b", &b));
  nn_cl_stats s = nn_cl_get_stats(cl);
  CHECK(s.live_bytes == before.live_bytes + 7000 && s.live_buffers == before.live_buffers + 2, "live %zu", s.live_bytes);
  float host[1000], back[1000];
  for (int i = 0; i < 1000; i++) host[i] = (float)i * 0.5f - 3;
  CHECK_OK(nn_cl_write(cl, &a, 0, host, sizeof host));
  CHECK_OK(nn_cl_read(cl, &a, 0, back, sizeof back));
  CHECK(memcmp(host, back, sizeof host) == 0, "round trip");
  float one = 1.0f;
  uint32_t pattern;
  memcpy(&pattern, &one, 4);
  CHECK_OK(nn_cl_fill(cl, &a, 40, 80, pattern));
  CHECK_OK(nn_cl_read(cl, &a, 0, back, sizeof back));
  CHECK(back[9] == host[9] && back[10] == 1.0f && back[29] == 1.0f && back[30] == host[30], "fill range");
  CHECK(nn_cl_read(cl, &a, 3996, back, 8) != 0 && strstr(nn_error(), "outside the 4000-byte buffer"), "%s", nn_error());
  nn_cl_free(cl, &b);
  s = nn_cl_get_stats(cl);
  CHECK(s.live_bytes == before.live_bytes + 4000 && s.peak_bytes >= before.live_bytes + 7000, "accounting after free");
  nn_cl_free(cl, &a);
  nn_cl_free(cl, &a); /* freeing twice is harmless */
  CHECK(nn_cl_get_stats(cl).live_bytes == before.live_bytes, "all freed");
}

static void test_impossible_allocations(nn_cl *cl) {
  const nn_device_info *d = nn_cl_device(cl);
  nn_buffer huge;
  CHECK(nn_cl_alloc(cl, (size_t)d->max_alloc + 1, "fc1.weight", &huge) != 0, "beyond max alloc must fail");
  CHECK(strstr(nn_error(), "allocate 'fc1.weight'") && strstr(nn_error(), "largest buffer"), "%s", nn_error());
  CHECK(huge.mem == NULL, "no handle on failure");
  /* Fill the device with max-alloc buffers until the accounting refuses: never a crash. */
  nn_buffer parts[64];
  int n = 0, refused = 0;
  while (n < 64) {
    if (nn_cl_alloc(cl, (size_t)d->max_alloc, "filler", &parts[n]) != 0) {
      refused = 1;
      break;
    }
    n++;
  }
  CHECK(refused && (strstr(nn_error(), "device memory exhausted") || strstr(nn_error(), "CL_")),
        "filling the device ends in a clear error: %s", nn_error());
  for (int i = 0; i < n; i++) nn_cl_free(cl, &parts[i]);
}

static const char good_source[] =
    "__kernel void add_one(__global float *x, int n) { int i = get_global_id(0); if (i < n) x[i] += 1.0f; }\n";
static const char bad_source[] = "__kernel void broken(__global float *x) { x[0] = undeclared_thing; }\n";

static void test_programs(const char *cache) {
  nn_cl *cl;
  CHECK_OK(nn_cl_open(&cl, nn_env("NN_DEVICE"), true));
  if (!cl) return;
  cl_program p;
  CHECK_OK(nn_cl_program(cl, "test_add_one", good_source, sizeof good_source - 1, &p));
  CHECK(nn_cl_get_stats(cl).programs_built == 1 && nn_cl_get_stats(cl).programs_cached == 0, "first build compiles");
  /* run it */
  cl_int st;
  cl_kernel k = clCreateKernel(p, "add_one", &st);
  CHECK(st == CL_SUCCESS, "create kernel");
  nn_buffer x;
  float host[37] = {0}, back[37];
  CHECK_OK(nn_cl_alloc(cl, sizeof host, "x", &x));
  CHECK_OK(nn_cl_write(cl, &x, 0, host, sizeof host));
  int n = 37;
  CHECK_OK(nn_cl_args(k, "add_one", NN_ARG(x.mem), NN_ARG(n), NN_END));
  CHECK_OK(nn_cl_run1d(cl, k, 37, 0, "add_one"));
  CHECK_OK(nn_cl_read(cl, &x, 0, back, sizeof back));
  CHECK(back[0] == 1 && back[36] == 1, "kernel ran over every element");
  clReleaseKernel(k);
  nn_cl_free(cl, &x);

  /* A failing build: the error names the program, the status and the build log; nothing cached. */
  CHECK(nn_cl_program(cl, "test_broken", bad_source, sizeof bad_source - 1, &p) != 0, "bad source must fail");
  CHECK(strstr(nn_error(), "build kernels 'test_broken'") && strstr(nn_error(), "CL_BUILD_PROGRAM_FAILURE") &&
            strstr(nn_error(), "undeclared_thing"),
        "%s", nn_error());
  cl_kernel none;
  CHECK(nn_cl_kernel(cl, "no_such_family", "k", &none) != 0 && strstr(nn_error(), "no kernel family"), "%s",
        nn_error());
  nn_cl_close(cl);

  /* A second process start finds the binary in the cache and does not compile. */
  CHECK_OK(nn_cl_open(&cl, nn_env("NN_DEVICE"), true));
  CHECK_OK(nn_cl_program(cl, "test_add_one", good_source, sizeof good_source - 1, &p));
  CHECK(nn_cl_get_stats(cl).programs_built == 0 && nn_cl_get_stats(cl).programs_cached == 1,
        "second start loads from the cache (built %d, cached %d)", nn_cl_get_stats(cl).programs_built,
        nn_cl_get_stats(cl).programs_cached);
  nn_cl_close(cl);

  /* A corrupt cache file is detected and rebuilt, not trusted. */
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "for f in %s/test_add_one-*.bin; do printf 'garbage' > \"$f\"; done", cache);
  CHECK(system(cmd) == 0, "corrupt the cache");
  CHECK_OK(nn_cl_open(&cl, nn_env("NN_DEVICE"), true));
  CHECK_OK(nn_cl_program(cl, "test_add_one", good_source, sizeof good_source - 1, &p));
  CHECK(nn_cl_get_stats(cl).programs_built == 1, "a corrupt cache entry is rebuilt");
  nn_cl_close(cl);
  snprintf(cmd, sizeof cmd, "ls %s | grep -c test_broken >/dev/null && exit 1 || exit 0", cache);
  CHECK(system(cmd) == 0, "a failed build leaves no cache file");
}

/* A disk that fills while saving: writes past RLIMIT_FSIZE fail as on a full disk (SIGXFSZ is
 * ignored so write() returns EFBIG). The save fails with a message, and the old file survives whole. */
static void test_full_disk(const char *dir) {
  char path[512];
  snprintf(path, sizeof path, "%s/checkpoint", dir);
  CHECK_OK(nn_file_write_atomic(path, "old contents", 12));
  struct rlimit old, tiny = {4096, 4096};
  getrlimit(RLIMIT_FSIZE, &old);
  signal(SIGXFSZ, SIG_IGN);
  setrlimit(RLIMIT_FSIZE, &tiny);
  static char big[65536];
  int st = nn_file_write_atomic(path, big, sizeof big);
  setrlimit(RLIMIT_FSIZE, &old);
  CHECK(st != 0 && strstr(nn_error(), "the previous file is kept"), "a failed save says so: %s", nn_error());
  char *data;
  size_t len;
  CHECK_OK(nn_file_read(path, &data, &len));
  CHECK(len == 12 && memcmp(data, "old contents", 12) == 0, "the old file survives whole");
  free(data);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "ls %s | grep -q tmp && exit 1 || exit 0", dir);
  CHECK(system(cmd) == 0, "no temp file is left behind");
}

int main(void) {
  test_select();
  test_error_names();
  /* A private cache folder, so the test sees its own builds. */
  char cache[] = "/tmp/nn-test-cache-XXXXXX";
  CHECK(mkdtemp(cache) != NULL, "temp dir");
  setenv("NN_CACHE", cache, 1);
  nn_cl *cl;
  CHECK_OK(nn_cl_open(&cl, nn_env("NN_DEVICE"), false));
  if (cl) {
    test_buffers(cl);
    test_impossible_allocations(cl);
    nn_cl_close(cl);
  }
  test_programs(cache);
  test_full_disk(cache);
  nn_test_remove_dir(cache);
  return nn_test_done();
}
