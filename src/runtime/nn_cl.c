/* nn_cl: the OpenCL runtime (see nn_cl.h). */
#include "nn_cl.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn_base.h"
#include "nn_kernels.h"

/* ---- status names ---- */

const char *nn_cl_error_name(int status) {
  switch (status) {
#define NAME(code) \
  case code: return #code;
    NAME(CL_SUCCESS) NAME(CL_DEVICE_NOT_FOUND) NAME(CL_DEVICE_NOT_AVAILABLE)
    NAME(CL_COMPILER_NOT_AVAILABLE) NAME(CL_MEM_OBJECT_ALLOCATION_FAILURE)
    NAME(CL_OUT_OF_RESOURCES) NAME(CL_OUT_OF_HOST_MEMORY) NAME(CL_PROFILING_INFO_NOT_AVAILABLE)
    NAME(CL_MEM_COPY_OVERLAP) NAME(CL_IMAGE_FORMAT_MISMATCH) NAME(CL_IMAGE_FORMAT_NOT_SUPPORTED)
    NAME(CL_BUILD_PROGRAM_FAILURE) NAME(CL_MAP_FAILURE) NAME(CL_MISALIGNED_SUB_BUFFER_OFFSET)
    NAME(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST) NAME(CL_COMPILE_PROGRAM_FAILURE)
    NAME(CL_LINKER_NOT_AVAILABLE) NAME(CL_LINK_PROGRAM_FAILURE) NAME(CL_DEVICE_PARTITION_FAILED)
    NAME(CL_KERNEL_ARG_INFO_NOT_AVAILABLE) NAME(CL_INVALID_VALUE) NAME(CL_INVALID_DEVICE_TYPE)
    NAME(CL_INVALID_PLATFORM) NAME(CL_INVALID_DEVICE) NAME(CL_INVALID_CONTEXT)
    NAME(CL_INVALID_QUEUE_PROPERTIES) NAME(CL_INVALID_COMMAND_QUEUE) NAME(CL_INVALID_HOST_PTR)
    NAME(CL_INVALID_MEM_OBJECT) NAME(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR) NAME(CL_INVALID_IMAGE_SIZE)
    NAME(CL_INVALID_SAMPLER) NAME(CL_INVALID_BINARY) NAME(CL_INVALID_BUILD_OPTIONS)
    NAME(CL_INVALID_PROGRAM) NAME(CL_INVALID_PROGRAM_EXECUTABLE) NAME(CL_INVALID_KERNEL_NAME)
    NAME(CL_INVALID_KERNEL_DEFINITION) NAME(CL_INVALID_KERNEL) NAME(CL_INVALID_ARG_INDEX)
    NAME(CL_INVALID_ARG_VALUE) NAME(CL_INVALID_ARG_SIZE) NAME(CL_INVALID_KERNEL_ARGS)
    NAME(CL_INVALID_WORK_DIMENSION) NAME(CL_INVALID_WORK_GROUP_SIZE) NAME(CL_INVALID_WORK_ITEM_SIZE)
    NAME(CL_INVALID_GLOBAL_OFFSET) NAME(CL_INVALID_EVENT_WAIT_LIST) NAME(CL_INVALID_EVENT)
    NAME(CL_INVALID_OPERATION) NAME(CL_INVALID_GL_OBJECT) NAME(CL_INVALID_BUFFER_SIZE)
    NAME(CL_INVALID_MIP_LEVEL) NAME(CL_INVALID_GLOBAL_WORK_SIZE) NAME(CL_INVALID_PROPERTY)
    NAME(CL_INVALID_IMAGE_DESCRIPTOR) NAME(CL_INVALID_COMPILER_OPTIONS)
    NAME(CL_INVALID_LINKER_OPTIONS) NAME(CL_INVALID_DEVICE_PARTITION_COUNT)
#undef NAME
    /* CLBlast extends the CL codes with its own (clblast.h, StatusCode). */
    case -1024: return "CLBlastNotImplemented";
    case -1022: return "CLBlastInvalidMatrixA";
    case -1021: return "CLBlastInvalidMatrixB";
    case -1020: return "CLBlastInvalidMatrixC";
    case -1019: return "CLBlastInvalidVectorX";
    case -1018: return "CLBlastInvalidVectorY";
    case -1017: return "CLBlastInvalidDimension";
    case -1016: return "CLBlastInvalidLeadDimA";
    case -1015: return "CLBlastInvalidLeadDimB";
    case -1014: return "CLBlastInvalidLeadDimC";
    case -1013: return "CLBlastInvalidIncrementX";
    case -1012: return "CLBlastInvalidIncrementY";
    case -1011: return "CLBlastInsufficientMemoryA";
    case -1010: return "CLBlastInsufficientMemoryB";
    case -1009: return "CLBlastInsufficientMemoryC";
    case -1008: return "CLBlastInsufficientMemoryX";
    case -1007: return "CLBlastInsufficientMemoryY";
    case -2050: return "CLBlastInsufficientMemoryTemp";
    case -2049: return "CLBlastInvalidBatchCount";
    case -2048: return "CLBlastInvalidOverrideKernel";
    case -2047: return "CLBlastMissingOverrideParameter";
    case -2046: return "CLBlastInvalidLocalMemUsage";
    case -2045: return "CLBlastNoHalfPrecision";
    case -2044: return "CLBlastNoDoublePrecision";
    case -2043: return "CLBlastInvalidVectorScalar";
    case -2042: return "CLBlastInsufficientMemoryScalar";
    case -2041: return "CLBlastDatabaseError";
    case -2040: return "CLBlastUnknownError";
    case -2039: return "CLBlastUnexpectedError";
  }
  return "unknown OpenCL status";
}

int nn_cl_check(cl_int status, const char *what) {
  if (status == CL_SUCCESS) return 0;
  return nn_fail("%s: %s (%d)", what, nn_cl_error_name(status), status);
}

const char *nn_cl_type_name(cl_device_type type) {
  if (type & CL_DEVICE_TYPE_GPU) return "GPU";
  if (type & CL_DEVICE_TYPE_CPU) return "CPU";
  if (type & CL_DEVICE_TYPE_ACCELERATOR) return "accelerator";
  return "other";
}

/* ---- devices ---- */

static void device_string(cl_device_id id, cl_device_info what, char *out, size_t size) {
  if (clGetDeviceInfo(id, what, size, out, NULL) != CL_SUCCESS) snprintf(out, size, "?");
  out[size - 1] = 0;
}

static void describe_device(nn_device_info *d) {
  cl_ulong u = 0;
  cl_uint n = 0;
  size_t s = 0;
  clGetDeviceInfo(d->id, CL_DEVICE_TYPE, sizeof d->type, &d->type, NULL);
  device_string(d->id, CL_DEVICE_NAME, d->name, sizeof d->name);
  device_string(d->id, CL_DRIVER_VERSION, d->driver, sizeof d->driver);
  device_string(d->id, CL_DEVICE_VERSION, d->version, sizeof d->version);
  clGetPlatformInfo(d->platform_id, CL_PLATFORM_NAME, sizeof d->platform_name, d->platform_name, NULL);
  d->platform_name[sizeof d->platform_name - 1] = 0;
  clGetDeviceInfo(d->id, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof u, &u, NULL);
  d->global_mem = u;
  clGetDeviceInfo(d->id, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof u, &u, NULL);
  d->max_alloc = u;
  clGetDeviceInfo(d->id, CL_DEVICE_LOCAL_MEM_SIZE, sizeof u, &u, NULL);
  d->local_mem = u;
  clGetDeviceInfo(d->id, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof n, &n, NULL);
  d->compute_units = n;
  clGetDeviceInfo(d->id, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof n, &n, NULL);
  d->base_align = n / 8 ? n / 8 : 128;
  clGetDeviceInfo(d->id, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof s, &s, NULL);
  d->max_work_group = s;
}

int nn_cl_list_devices(nn_device_info **devices, int *count) {
  *devices = NULL;
  *count = 0;
  cl_uint nplat = 0;
  cl_int st = clGetPlatformIDs(0, NULL, &nplat);
  /* The ICD loader answers CL_PLATFORM_NOT_FOUND_KHR (-1001) when no driver is installed. */
  if (st == -1001 || nplat == 0) return 0;
  if (nn_cl_check(st, "list OpenCL platforms") != 0) return -1;
  cl_platform_id plats[16];
  if (nplat > 16) nplat = 16;
  if (nn_cl_check(clGetPlatformIDs(nplat, plats, NULL), "list OpenCL platforms") != 0) return -1;
  nn_device_info *list = NULL;
  int n = 0;
  for (cl_uint p = 0; p < nplat; p++) {
    cl_uint ndev = 0;
    if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 0, NULL, &ndev) != CL_SUCCESS || ndev == 0) continue;
    cl_device_id ids[64];
    if (ndev > 64) ndev = 64;
    if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, ndev, ids, NULL) != CL_SUCCESS) continue;
    nn_device_info *grown = realloc(list, (size_t)(n + (int)ndev) * sizeof *list);
    if (!grown) {
      free(list);
      return nn_fail("list OpenCL devices: out of host memory");
    }
    list = grown;
    for (cl_uint i = 0; i < ndev; i++) {
      nn_device_info *d = &list[n++];
      memset(d, 0, sizeof *d);
      d->platform = (int)p;
      d->index = (int)i;
      d->platform_id = plats[p];
      d->id = ids[i];
      describe_device(d);
    }
  }
  *devices = list;
  *count = n;
  return 0;
}

static int contains_nocase(const char *haystack, const char *needle) {
  size_t n = strlen(needle);
  for (; *haystack; haystack++) {
    size_t i = 0;
    while (i < n && haystack[i] && tolower((unsigned char)haystack[i]) == tolower((unsigned char)needle[i])) i++;
    if (i == n) return 1;
  }
  return 0;
}

static int first_of_type(const nn_device_info *devices, int count, cl_device_type type) {
  for (int i = 0; i < count; i++)
    if (devices[i].type & type) return i;
  return -1;
}

int nn_cl_select(const char *spec, const nn_device_info *devices, int count, int *chosen) {
  int pick = -1;
  if (count == 0)
    return nn_fail("no OpenCL device found (is an OpenCL driver installed? ./setup.sh installs "
                   "pocl-opencl-icd for the CPU)");
  if (!spec || !*spec) {
    pick = first_of_type(devices, count, CL_DEVICE_TYPE_GPU);
    if (pick < 0) pick = first_of_type(devices, count, CL_DEVICE_TYPE_CPU);
    if (pick < 0) pick = 0;
  } else if (strcasecmp(spec, "cpu") == 0) {
    pick = first_of_type(devices, count, CL_DEVICE_TYPE_CPU);
  } else if (strcasecmp(spec, "gpu") == 0) {
    pick = first_of_type(devices, count, CL_DEVICE_TYPE_GPU);
  } else {
    int p, d;
    char tail;
    if (sscanf(spec, "%d:%d%c", &p, &d, &tail) == 2) {
      for (int i = 0; i < count; i++)
        if (devices[i].platform == p && devices[i].index == d) pick = i;
    } else {
      for (int i = 0; i < count && pick < 0; i++)
        if (contains_nocase(devices[i].name, spec)) pick = i;
    }
  }
  if (pick >= 0) {
    *chosen = pick;
    return 0;
  }
  char list[768] = "";
  size_t used = 0;
  for (int i = 0; i < count && used < sizeof list; i++)
    used += (size_t)snprintf(list + used, sizeof list - used, "%s%d:%d %s (%s)", i ? "; " : "",
                             devices[i].platform, devices[i].index, devices[i].name,
                             nn_cl_type_name(devices[i].type));
  return nn_fail("NN_DEVICE='%s' matches no OpenCL device; use cpu, gpu, P:D or part of a name. "
                 "Devices: %s", spec, list);
}

/* ---- context ---- */

/* A built program and the kernels taken from it so far. */
typedef struct program_entry {
  char name[64];
  cl_program program;
  int nkernels;
  struct {
    char name[64];
    cl_kernel kernel;
  } kernels[48];
} program_entry;

struct nn_cl {
  nn_device_info device;
  cl_context context;
  cl_command_queue queue;
  nn_cl_stats stats;
  int gemm_choice;  /* nn_gemm's engine for this device; 0: not chosen yet */
  nn_cl_profiling_mode profiling; /* NN_PROFILE: see nn_cl.h */
  int nprofile;
  nn_cl_profile_entry profile[64];
  /* NN_PROFILE=queue: launches whose events are not read yet, each with its profile entry, and
   * the device time the last one read ended (0: none since the last reset). */
  struct pending_launch {
    cl_event event;
    int entry;
  } pending[1024];
  int npending;
  cl_ulong last_end;
  int nprograms;
  program_entry programs[48];
};

int nn_cl_open(nn_cl **out, const char *spec, bool quiet) {
  *out = NULL;
  nn_device_info *devices;
  int count, chosen;
  if (nn_cl_list_devices(&devices, &count) != 0) return -1;
  if (nn_cl_select(spec, devices, count, &chosen) != 0) {
    free(devices);
    return -1;
  }
  nn_cl *cl = nn_calloc(1, sizeof *cl, "OpenCL runtime");
  if (!cl) {
    free(devices);
    return -1;
  }
  cl->device = devices[chosen];
  free(devices);
  const char *profile = nn_env("NN_PROFILE");
  cl_int st;
  if (!profile || !*profile || strcmp(profile, "0") == 0) {
    cl->profiling = NN_PROFILE_OFF;
  } else if (strcmp(profile, "1") == 0) {
    cl->profiling = NN_PROFILE_ALONE;
  } else if (strcmp(profile, "queue") == 0) {
    cl->profiling = NN_PROFILE_QUEUE;
  } else {
    nn_fail("NN_PROFILE='%s': use 1 (each launch timed alone), queue (timed in the running queue) or 0", profile);
    goto fail;
  }
  cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)cl->device.platform_id, 0};
  cl->context = clCreateContext(props, 1, &cl->device.id, NULL, NULL, &st);
  if (nn_cl_check(st, "create OpenCL context") != 0) goto fail;
  cl_command_queue_properties queue_props = cl->profiling == NN_PROFILE_QUEUE ? CL_QUEUE_PROFILING_ENABLE : 0;
  cl->queue = clCreateCommandQueue(cl->context, cl->device.id, queue_props, &st);
  if (nn_cl_check(st, "create OpenCL command queue") != 0) goto fail;
  if (!quiet)
    fprintf(stderr, "nnrun: device %d:%d %s (%s, %s)\n", cl->device.platform, cl->device.index,
            cl->device.name, nn_cl_type_name(cl->device.type), cl->device.platform_name);
  *out = cl;
  return 0;
fail:
  nn_cl_close(cl);
  return -1;
}

void nn_cl_close(nn_cl *cl) {
  if (!cl) return;
  for (int i = 0; i < cl->npending; i++) clReleaseEvent(cl->pending[i].event);
  for (int p = 0; p < cl->nprograms; p++) {
    for (int k = 0; k < cl->programs[p].nkernels; k++) clReleaseKernel(cl->programs[p].kernels[k].kernel);
    clReleaseProgram(cl->programs[p].program);
  }
  if (cl->queue) clReleaseCommandQueue(cl->queue);
  if (cl->context) clReleaseContext(cl->context);
  free(cl);
}

const nn_device_info *nn_cl_device(const nn_cl *cl) { return &cl->device; }
cl_context nn_cl_context(const nn_cl *cl) { return cl->context; }
cl_command_queue nn_cl_queue(const nn_cl *cl) { return cl->queue; }
nn_cl_stats nn_cl_get_stats(const nn_cl *cl) { return cl->stats; }
int *nn_cl_gemm_choice(nn_cl *cl) { return &cl->gemm_choice; }

/* ---- buffers ---- */

static const char *human_bytes(double bytes, char *buf, size_t size) {
  const char *units[] = {"B", "KB", "MB", "GB", "TB"};
  int u = 0;
  while (bytes >= 1000 && u < 4) bytes /= 1000, u++;
  snprintf(buf, size, u ? "%.1f %s" : "%.0f %s", bytes, units[u]);
  return buf;
}

int nn_cl_alloc(nn_cl *cl, size_t bytes, const char *what, nn_buffer *buf) {
  char a[32], b[32], c[32];
  buf->mem = NULL;
  buf->bytes = 0;
  if (bytes > cl->device.max_alloc)
    return nn_fail("allocate '%s' (%s): larger than the largest buffer %s allows (%s)", what,
                   human_bytes((double)bytes, a, sizeof a), cl->device.name,
                   human_bytes((double)cl->device.max_alloc, b, sizeof b));
  if (cl->stats.live_bytes + bytes > cl->device.global_mem)
    return nn_fail("allocate '%s' (%s): device memory exhausted (%s of %s in use on %s)", what,
                   human_bytes((double)bytes, a, sizeof a), human_bytes((double)cl->stats.live_bytes, b, sizeof b),
                   human_bytes((double)cl->device.global_mem, c, sizeof c), cl->device.name);
  cl_int st;
  /* OpenCL forbids zero-sized buffers; an empty tensor still gets a handle. */
  buf->mem = clCreateBuffer(cl->context, CL_MEM_READ_WRITE, bytes ? bytes : 4, NULL, &st);
  if (st != CL_SUCCESS) {
    buf->mem = NULL;
    return nn_fail("allocate '%s' (%s): %s (%d)", what, human_bytes((double)bytes, a, sizeof a),
                   nn_cl_error_name(st), st);
  }
  buf->bytes = bytes;
  cl->stats.live_bytes += bytes;
  cl->stats.live_buffers++;
  if (cl->stats.live_bytes > cl->stats.peak_bytes) cl->stats.peak_bytes = cl->stats.live_bytes;
  return 0;
}

void nn_cl_free(nn_cl *cl, nn_buffer *buf) {
  if (!buf->mem) return;
  clReleaseMemObject(buf->mem);
  cl->stats.live_bytes -= buf->bytes;
  cl->stats.live_buffers--;
  buf->mem = NULL;
  buf->bytes = 0;
}

static int check_range(const nn_buffer *buf, size_t offset, size_t bytes, const char *op) {
  if (offset > buf->bytes || bytes > buf->bytes - offset)
    return nn_fail("%s: bytes %zu..%zu are outside the %zu-byte buffer", op, offset, offset + bytes, buf->bytes);
  return 0;
}

int nn_cl_write(nn_cl *cl, nn_buffer *buf, size_t offset, const void *src, size_t bytes) {
  if (check_range(buf, offset, bytes, "write to device") != 0) return -1;
  if (bytes == 0) return 0;
  return nn_cl_check(clEnqueueWriteBuffer(cl->queue, buf->mem, CL_TRUE, offset, bytes, src, 0, NULL, NULL),
                     "write to device");
}

int nn_cl_read(nn_cl *cl, const nn_buffer *buf, size_t offset, void *dst, size_t bytes) {
  if (check_range(buf, offset, bytes, "read from device") != 0) return -1;
  if (bytes == 0) return 0;
  return nn_cl_check(clEnqueueReadBuffer(cl->queue, buf->mem, CL_TRUE, offset, bytes, dst, 0, NULL, NULL),
                     "read from device");
}

int nn_cl_fill(nn_cl *cl, nn_buffer *buf, size_t offset, size_t bytes, uint32_t pattern) {
  if (check_range(buf, offset, bytes, "fill device buffer") != 0) return -1;
  if (bytes == 0) return 0;
  return nn_cl_check(clEnqueueFillBuffer(cl->queue, buf->mem, &pattern, sizeof pattern, offset, bytes, 0,
                                         NULL, NULL),
                     "fill device buffer");
}

int nn_cl_finish(nn_cl *cl) { return nn_cl_check(clFinish(cl->queue), "wait for the device"); }

/* ---- programs and the kernel cache ---- */

/* Cache file layout: magic, then the binary's length and FNV hash (so a truncated or corrupt file
 * is detected and rebuilt), then the binary. Keyed by a hash of everything that shapes the binary. */
#define CACHE_MAGIC "nnrun-kernel-cache-1\n"

int nn_cl_cache_dir(char *out, size_t size) {
  const char *dir = nn_env("NN_CACHE");
  const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
  int n;
  if (dir) n = snprintf(out, size, "%s", dir);
  else if (xdg && *xdg) n = snprintf(out, size, "%s/nnrun", xdg);
  else if (home && *home) n = snprintf(out, size, "%s/.cache/nnrun", home);
  else return -1;
  return n > 0 && (size_t)n < size ? 0 : -1;
}

static const char build_options[] = "-cl-std=CL1.2 -cl-mad-enable";

static uint64_t program_key(const nn_cl *cl, const char *source, size_t length) {
  uint64_t h = NN_HASH_SEED;
  h = nn_hash_str(h, cl->device.platform_name);
  h = nn_hash_str(h, cl->device.name);
  h = nn_hash_str(h, cl->device.driver);
  h = nn_hash_str(h, cl->device.version);
  h = nn_hash_str(h, build_options);
  return nn_hash(h, source, length);
}

bool nn_cl_cache_check(const char *data, size_t bytes, const unsigned char **binary, size_t *length) {
  size_t head = sizeof CACHE_MAGIC - 1;
  uint64_t stored_length, hash;
  if (bytes < head + 16 || memcmp(data, CACHE_MAGIC, head) != 0) return false;
  memcpy(&stored_length, data + head, 8);
  memcpy(&hash, data + head + 8, 8);
  const unsigned char *start = (const unsigned char *)data + head + 16;
  if (stored_length != bytes - head - 16 || hash != nn_hash(NN_HASH_SEED, start, bytes - head - 16)) return false;
  *binary = start;
  *length = bytes - head - 16;
  return true;
}

static cl_program load_cached(nn_cl *cl, const char *path) {
  char *data;
  size_t bytes;
  char saved[1024];
  snprintf(saved, sizeof saved, "%s", nn_error());  /* a cache miss is not an error */
  if (nn_file_read(path, &data, &bytes) != 0) {
    nn_fail("%s", saved);
    return NULL;
  }
  cl_program program = NULL;
  const unsigned char *binary;
  size_t length;
  if (nn_cl_cache_check(data, bytes, &binary, &length)) {
    cl_int st, bst;
    program = clCreateProgramWithBinary(cl->context, 1, &cl->device.id, &length, &binary, &bst, &st);
    if (st != CL_SUCCESS || bst != CL_SUCCESS ||
        clBuildProgram(program, 1, &cl->device.id, build_options, NULL, NULL) != CL_SUCCESS) {
      if (program) clReleaseProgram(program);
      program = NULL;
    }
  }
  free(data);
  nn_fail("%s", saved);
  return program;
}

static void store_cached(nn_cl *cl, cl_program program, const char *dir, const char *path) {
  size_t size = 0;
  if (clGetProgramInfo(program, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, NULL) != CL_SUCCESS || !size) return;
  size_t head = sizeof CACHE_MAGIC - 1;
  unsigned char *file = malloc(head + 16 + size);
  if (!file) return;
  unsigned char *binary = file + head + 16;
  if (clGetProgramInfo(program, CL_PROGRAM_BINARIES, sizeof binary, &binary, NULL) == CL_SUCCESS) {
    uint64_t length = size, hash = nn_hash(NN_HASH_SEED, binary, size);
    memcpy(file, CACHE_MAGIC, head);
    memcpy(file + head, &length, 8);
    memcpy(file + head + 8, &hash, 8);
    char saved[1024];
    snprintf(saved, sizeof saved, "%s", nn_error());
    /* The cache only saves time: failing to write it is not worth stopping a run for. */
    if (nn_mkdirs(dir) != 0 || nn_file_write_atomic(path, file, head + 16 + size) != 0) {
      if (nn_env("NN_VERBOSE")) fprintf(stderr, "nnrun: kernel cache not written: %s\n", nn_error());
    }
    nn_fail("%s", saved);
  }
  (void)cl;
  free(file);
}

static int build_failure(nn_cl *cl, cl_program program, const char *name, cl_int st) {
  size_t size = 0;
  clGetProgramBuildInfo(program, cl->device.id, CL_PROGRAM_BUILD_LOG, 0, NULL, &size);
  char *log = malloc(size + 1);
  if (log) {
    log[0] = 0;
    clGetProgramBuildInfo(program, cl->device.id, CL_PROGRAM_BUILD_LOG, size, log, NULL);
    log[size] = 0;
    /* The error is one line: the first lines of the log, folded. */
    for (char *p = log; *p; p++)
      if (*p == '\n') *p = ' ';
  }
  nn_fail("build kernels '%s' for %s: %s (%d): %.600s", name, cl->device.name, nn_cl_error_name(st), st,
          log ? log : "(no build log)");
  free(log);
  return -1;
}

int nn_cl_program(nn_cl *cl, const char *name, const char *source, size_t length, cl_program *out) {
  for (int p = 0; p < cl->nprograms; p++)
    if (strcmp(cl->programs[p].name, name) == 0) {
      *out = cl->programs[p].program;
      return 0;
    }
  if (cl->nprograms == (int)(sizeof cl->programs / sizeof cl->programs[0]))
    return nn_fail("build kernels '%s': too many kernel families", name);
  char dir[3072] = "", path[4096] = "";
  int cacheable = nn_cl_cache_dir(dir, sizeof dir) == 0;
  if (cacheable)
    snprintf(path, sizeof path, "%s/%s-%016llx.bin", dir, name,
             (unsigned long long)program_key(cl, source, length));
  double t0 = nn_seconds();
  cl_program program = cacheable ? load_cached(cl, path) : NULL;
  if (program) {
    cl->stats.programs_cached++;
    if (nn_env("NN_VERBOSE")) fprintf(stderr, "nnrun: kernels '%s' loaded from %s\n", name, path);
  } else {
    cl_int st;
    program = clCreateProgramWithSource(cl->context, 1, &source, &length, &st);
    if (nn_cl_check(st, "create program") != 0) return nn_fail_prefix("build kernels '%s'", name);
    st = clBuildProgram(program, 1, &cl->device.id, build_options, NULL, NULL);
    if (st != CL_SUCCESS) {
      build_failure(cl, program, name, st);
      clReleaseProgram(program);
      return -1;
    }
    cl->stats.programs_built++;
    /* A compilation is worth a line: it shows that sweeps do not recompile. */
    fprintf(stderr, "nnrun: compiled kernels '%s' (%.2f s)\n", name, nn_seconds() - t0);
    if (cacheable) store_cached(cl, program, dir, path);
  }
  program_entry *e = &cl->programs[cl->nprograms++];
  memset(e, 0, sizeof *e);
  snprintf(e->name, sizeof e->name, "%s", name);
  e->program = program;
  *out = program;
  return 0;
}

/* The source of a family: the embedded copy, or NN_CL_DIR/<family>.cl while editing kernels. */
static int family_source(const char *family, char **owned, const char **source, size_t *length) {
  *owned = NULL;
  const char *dir = nn_env("NN_CL_DIR");
  if (dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.cl", dir, family);
    if (nn_file_read(path, owned, length) != 0) return nn_fail_prefix("kernels '%s' (NN_CL_DIR)", family);
    *source = *owned;
    return 0;
  }
  for (const nn_kernel_source *k = nn_kernel_sources; k->family; k++)
    if (strcmp(k->family, family) == 0) {
      *source = k->source;
      *length = k->length;
      return 0;
    }
  return nn_fail("no kernel family '%s' (no cl/%s.cl was built in)", family, family);
}

int nn_cl_kernel(nn_cl *cl, const char *family, const char *kernel, cl_kernel *out) {
  program_entry *e = NULL;
  for (int p = 0; p < cl->nprograms && !e; p++)
    if (strcmp(cl->programs[p].name, family) == 0) e = &cl->programs[p];
  if (e)
    for (int k = 0; k < e->nkernels; k++)
      if (strcmp(e->kernels[k].name, kernel) == 0) {
        *out = e->kernels[k].kernel;
        return 0;
      }
  if (!e) {
    char *owned;
    const char *source;
    size_t length;
    cl_program program;
    if (family_source(family, &owned, &source, &length) != 0) return -1;
    int st = nn_cl_program(cl, family, source, length, &program);
    free(owned);
    if (st != 0) return -1;
    e = &cl->programs[cl->nprograms - 1];
  }
  if (e->nkernels == (int)(sizeof e->kernels / sizeof e->kernels[0]))
    return nn_fail("kernel '%s.%s': too many kernels in one family", family, kernel);
  cl_int st;
  cl_kernel k = clCreateKernel(e->program, kernel, &st);
  if (st != CL_SUCCESS) return nn_fail("kernel '%s' in cl/%s.cl: %s (%d)", kernel, family, nn_cl_error_name(st), st);
  snprintf(e->kernels[e->nkernels].name, sizeof e->kernels[0].name, "%s", kernel);
  e->kernels[e->nkernels++].kernel = k;
  *out = k;
  return 0;
}

/* ---- launching ---- */

int nn_cl_args(cl_kernel kernel, const char *what, ...) {
  va_list ap;
  va_start(ap, what);
  cl_uint index = 0;
  for (;;) {
    size_t size = va_arg(ap, size_t);
    if (size == 0) break;
    const void *value = va_arg(ap, const void *);
    cl_int st = clSetKernelArg(kernel, index, size, value);
    if (st != CL_SUCCESS) {
      va_end(ap);
      return nn_fail("%s: argument %u: %s (%d)", what, index, nn_cl_error_name(st), st);
    }
    index++;
  }
  va_end(ap);
  return 0;
}

/* ---- launches ---- */

nn_cl_profiling_mode nn_cl_profiling(const nn_cl *cl) { return cl->profiling; }

double nn_cl_launch_begin(nn_cl *cl) {
  if (cl->profiling != NN_PROFILE_ALONE) return 0;
  clFinish(cl->queue);
  return nn_seconds();
}

cl_event *nn_cl_launch_event(nn_cl *cl, cl_event *event) {
  *event = NULL;
  return cl->profiling == NN_PROFILE_QUEUE ? event : NULL;
}

/* The entry of name, made on first use; the last one takes the rest if the table fills. */
static int profile_entry(nn_cl *cl, const char *name) {
  for (int i = 0; i < cl->nprofile; i++)
    if (strcmp(cl->profile[i].name, name) == 0) return i;
  int n = (int)(sizeof cl->profile / sizeof cl->profile[0]);
  if (cl->nprofile == n) return n - 1;
  nn_cl_profile_entry *e = &cl->profile[cl->nprofile];
  *e = (nn_cl_profile_entry){.count = 0};
  snprintf(e->name, sizeof e->name, "%s", name);
  return cl->nprofile++;
}

/* NN_PROFILE=queue: reads the pending launches' device times, oldest first. A launch is charged
 * from the end of the one before it (or from when it was queued, if that was later) to its own
 * end, so the charges add up to the time the device was busy with the queue, gaps between
 * commands included; the time the device sat with an empty queue goes to the host's entry. */
static int read_pending(nn_cl *cl) {
  if (cl->npending == 0) return 0;
  int failed = nn_cl_check(clFinish(cl->queue), "wait for the profiled launches");
  for (int i = 0; i < cl->npending; i++) {
    cl_ulong queued = 0, start = 0, end = 0;
    cl_event ev = cl->pending[i].event;
    if (!failed)
      failed = nn_cl_check(clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_QUEUED, sizeof queued, &queued, NULL) |
                               clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_START, sizeof start, &start, NULL) |
                               clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_END, sizeof end, &end, NULL),
                           "read a launch's profiling times");
    clReleaseEvent(ev);
    if (failed) continue;
    cl_ulong from = cl->last_end ? cl->last_end : start;
    if (queued > from) {
      cl->profile[profile_entry(cl, NN_CL_HOST_WAIT)].seconds += (double)(queued - from) * 1e-9;
      from = queued;
    }
    if (end > from) cl->profile[cl->pending[i].entry].seconds += (double)(end - from) * 1e-9;
    if (end > cl->last_end) cl->last_end = end;
  }
  cl->npending = 0;
  return failed ? -1 : 0;
}

int nn_cl_launch_end(nn_cl *cl, double start, const char *name, cl_int status, cl_event event, const char *what) {
  if (nn_cl_check(status, what) != 0) {
    if (event) clReleaseEvent(event);
    return -1;
  }
  cl->stats.launches++;
  if (cl->profiling == NN_PROFILE_ALONE) {
    if (nn_cl_finish(cl) != 0) return -1;
    nn_cl_profile_entry *e = &cl->profile[profile_entry(cl, name)];
    e->count++;
    e->seconds += nn_seconds() - start;
  } else if (cl->profiling == NN_PROFILE_QUEUE) {
    int entry = profile_entry(cl, name);
    cl->profile[entry].count++;
    if (!event) return 0;
    int n = (int)(sizeof cl->pending / sizeof cl->pending[0]);
    if (cl->npending == n && read_pending(cl) != 0) {
      clReleaseEvent(event);
      return -1;
    }
    cl->pending[cl->npending++] = (struct pending_launch){event, entry};
  }
  return 0;
}

int nn_cl_profile(nn_cl *cl, const nn_cl_profile_entry **entries) {
  if (read_pending(cl) != 0) return -1;
  *entries = cl->profile;
  return cl->nprofile;
}

void nn_cl_profile_reset(nn_cl *cl) {
  read_pending(cl);
  cl->nprofile = 0;
  cl->last_end = 0;
}

/* A kernel's function name, for the profile ("?" if the driver will not say). */
static const char *kernel_name(cl_kernel kernel, char *buf, size_t size) {
  if (clGetKernelInfo(kernel, CL_KERNEL_FUNCTION_NAME, size, buf, NULL) != CL_SUCCESS) snprintf(buf, size, "?");
  return buf;
}

static size_t round_up(size_t n, size_t m) { return (n + m - 1) / m * m; }

/* The work-group size of a 1-D launch that leaves it to the runtime: 256 on a GPU. On a CPU,
 * PoCL runs a work-group as one loop over its work-items and pays its scheduling per group, so
 * groups are as large as still leaves each compute unit 4 of them, between 64 and 1024 (Adam
 * over 1.8 M elements ran 1.3x faster, a ReLU over 1.6 M 1.9x, with 1024 than with 64). */
static size_t default_local(const nn_cl *cl, size_t global) {
  if (cl->device.type & CL_DEVICE_TYPE_GPU) return 256;
  size_t local = 64, units = cl->device.compute_units ? cl->device.compute_units : 1;
  while (local < 1024 && global / (2 * local) >= 4 * units) local *= 2;
  return local;
}

int nn_cl_run1d(nn_cl *cl, cl_kernel kernel, size_t global, size_t local, const char *what) {
  if (global == 0) return 0;
  if (local == 0) local = default_local(cl, global);
  if (local > cl->device.max_work_group) local = cl->device.max_work_group;
  size_t g = round_up(global, local);
  char name[48];
  double t = nn_cl_launch_begin(cl);
  cl_event ev;
  cl_int st = clEnqueueNDRangeKernel(cl->queue, kernel, 1, NULL, &g, &local, 0, NULL, nn_cl_launch_event(cl, &ev));
  return nn_cl_launch_end(cl, t, cl->profiling ? kernel_name(kernel, name, sizeof name) : "", st, ev, what);
}

int nn_cl_run2d(nn_cl *cl, cl_kernel kernel, const size_t global[2], const size_t local[2], const char *what) {
  if (global[0] == 0 || global[1] == 0) return 0;
  size_t g[2] = {global[0], global[1]};
  if (local) {
    g[0] = round_up(g[0], local[0]);
    g[1] = round_up(g[1], local[1]);
  }
  char name[48];
  double t = nn_cl_launch_begin(cl);
  cl_event ev;
  cl_int st = clEnqueueNDRangeKernel(cl->queue, kernel, 2, NULL, g, local, 0, NULL, nn_cl_launch_event(cl, &ev));
  return nn_cl_launch_end(cl, t, cl->profiling ? kernel_name(kernel, name, sizeof name) : "", st, ev, what);
}

/* ---- host functions in the queue ---- */

bool nn_cl_runs_host(const nn_cl *cl) {
  cl_device_exec_capabilities caps = 0;
  if (!(cl->device.type & CL_DEVICE_TYPE_CPU)) return false;
  if (clGetDeviceInfo(cl->device.id, CL_DEVICE_EXECUTION_CAPABILITIES, sizeof caps, &caps, NULL) != CL_SUCCESS)
    return false;
  return (caps & CL_EXEC_NATIVE_KERNEL) != 0;
}

/* Handing over the addresses. The spec puts each buffer's address where args_mem_loc says that
 * buffer's handle is. PoCL 3.1 instead sorts mem_list by creation, swaps sub-buffers for their
 * parents (losing the origin) and merges repeats, then fills the places in that order: a layer whose
 * weights were created before the activation arena got its operands swapped. A native kernel with
 * one buffer is unambiguous everywhere, so a host call is a short chain: one "bind" command per
 * distinct root buffer (sub-buffers resolved here to parent + CL_MEM_OFFSET), each storing its
 * buffer's address in the call, then the call itself, which lists every root only so that the
 * runtime keeps them all alive while fn reads them. This relies on a buffer of a CPU device keeping
 * its address from one command to the next, which holds where device memory is host memory. A
 * native kernel costs about 5 us on PoCL. */
typedef struct host_call {
  nn_cl_host_fn *fn;
  void *job;
  int nmem;
  int root_of[NN_CL_HOST_MEMS];    /* the root buffer of mem[i], an index into base[] */
  size_t origin[NN_CL_HOST_MEMS];  /* bytes from that root's start to mem[i]'s */
  char *base[NN_CL_HOST_MEMS];     /* each root's host address, filled by the binds */
} host_call;

/* The arguments of one command of the chain. The runtime copies this struct and, in its copy,
 * replaces the cl_mem handles in mem[] by the buffers' host addresses. */
typedef struct host_step {
  host_call *call;  /* shared by the chain; the last command frees it */
  int root;         /* a bind: the base[] it fills from mem[0]; -1: the call */
  void *mem[NN_CL_HOST_MEMS];
} host_step;

static void CL_CALLBACK host_step_run(void *args) {
  const host_step *step = args;
  host_call *c = step->call;
  if (step->root >= 0) {
    c->base[step->root] = step->mem[0];
    return;
  }
  char *addr[NN_CL_HOST_MEMS];
  for (int i = 0; i < c->nmem; i++) addr[i] = c->base[c->root_of[i]] + c->origin[i];
  c->fn(c->job, addr);
  free(c->job);
  free(c);
}

int nn_cl_enqueue_host(nn_cl *cl, nn_cl_host_fn *fn, void *job, const cl_mem *mem, int nmem, cl_event *event,
                       const char *what) {
  host_call *c = NULL;
  if (nmem < 1 || nmem > NN_CL_HOST_MEMS) {
    free(job);
    return nn_fail("%s: a host function in the queue takes 1 to %d buffers, not %d", what, NN_CL_HOST_MEMS, nmem);
  }
  if (!(c = nn_alloc(sizeof *c, what))) {
    free(job);
    return -1;
  }
  *c = (host_call){.fn = fn, .job = job, .nmem = nmem};
  host_step run = {c, -1, {NULL}};
  cl_mem roots[NN_CL_HOST_MEMS];
  const void *locs[NN_CL_HOST_MEMS];
  cl_uint nroots = 0;
  cl_int st = CL_SUCCESS;
  for (int i = 0; i < nmem && st == CL_SUCCESS; i++) {
    cl_mem parent = NULL;
    st = clGetMemObjectInfo(mem[i], CL_MEM_ASSOCIATED_MEMOBJECT, sizeof parent, &parent, NULL);
    if (st == CL_SUCCESS) st = clGetMemObjectInfo(mem[i], CL_MEM_OFFSET, sizeof c->origin[i], &c->origin[i], NULL);
    cl_mem root = parent ? parent : mem[i];
    cl_uint r = 0;
    while (r < nroots && roots[r] != root) r++;
    if (r == nroots) {
      roots[nroots] = run.mem[nroots] = root;
      locs[nroots] = &run.mem[nroots];
      nroots++;
    }
    c->root_of[i] = (int)r;
  }
  cl_uint bound = 0;
  while (st == CL_SUCCESS && bound < nroots) {
    host_step bind = {c, (int)bound, {roots[bound]}};
    const void *loc = &bind.mem[0];
    st = clEnqueueNativeKernel(cl->queue, host_step_run, &bind, sizeof bind, 1, &roots[bound], &loc, 0, NULL, NULL);
    if (st == CL_SUCCESS) bound++;
  }
  if (st == CL_SUCCESS)
    st = clEnqueueNativeKernel(cl->queue, host_step_run, &run, sizeof run, nroots, roots, locs, 0, NULL, event);
  if (st == CL_SUCCESS) return 0;
  /* Binds already queued write into the call: let them run before freeing it. */
  if (bound > 0) clFinish(cl->queue);
  free(job);
  free(c);
  return nn_fail("%s: host function in the queue: %s (%d)", what, nn_cl_error_name(st), st);
}
