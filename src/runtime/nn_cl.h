/* nn_cl: the OpenCL runtime. Devices, one context with an in-order queue, buffers with accounting,
 * and kernels built from the cl/ families (embedded at build time) once per process and cached on
 * disk across runs. No Lua here: errors come back as nn_fail() messages that name the operation,
 * e.g. "allocate 'fc1.weight' (3.1 MB): CL_OUT_OF_RESOURCES".
 */
#ifndef NN_CL_H
#define NN_CL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <CL/cl.h>

/* One OpenCL device as found on the machine. */
typedef struct nn_device_info {
  int platform;               /* platform index, as clGetPlatformIDs lists them */
  int index;                  /* device index within its platform */
  cl_platform_id platform_id;
  cl_device_id id;
  cl_device_type type;        /* CL_DEVICE_TYPE_CPU, _GPU, ... */
  char name[256];             /* "pthread-haswell-AMD EPYC 9R14" */
  char platform_name[128];    /* "Portable Computing Language" */
  char driver[128];           /* driver version, part of the kernel-cache key */
  char version[128];          /* "OpenCL 3.0 PoCL ..." */
  uint64_t global_mem;        /* bytes */
  uint64_t max_alloc;         /* largest single buffer, bytes */
  uint64_t local_mem;         /* bytes of __local memory per work-group */
  size_t max_work_group;      /* largest work-group */
  unsigned compute_units;
  unsigned base_align;        /* CL_DEVICE_MEM_BASE_ADDR_ALIGN in bytes, for sub-buffer offsets */
} nn_device_info;

/* Lists every device of every platform. *devices is malloc'd (free it); 0 devices is not an error
 * here, the caller decides. */
int nn_cl_list_devices(nn_device_info **devices, int *count);

/* "CPU", "GPU", "accelerator" or "other". */
const char *nn_cl_type_name(cl_device_type type);

/* Picks a device by NN_DEVICE's grammar: NULL or "" (first GPU, else first CPU), "cpu", "gpu",
 * "P:D" (platform and device index) or a case-insensitive substring of the device name.
 * On no match it fails with a message listing what exists. */
int nn_cl_select(const char *spec, const nn_device_info *devices, int count, int *chosen);

/* The name of an OpenCL (or CLBlast) status code: "CL_OUT_OF_RESOURCES". */
const char *nn_cl_error_name(int status);

/* If status is not CL_SUCCESS: nn_fail("<what>: CL_NAME (code)") and return -1; else 0. */
int nn_cl_check(cl_int status, const char *what);

typedef struct nn_cl nn_cl;

/* Statistics, for logs, tests and bench/. */
typedef struct nn_cl_stats {
  size_t live_bytes;       /* device memory held by live buffers */
  size_t peak_bytes;       /* highest live_bytes so far */
  size_t live_buffers;
  int programs_built;      /* families compiled from source in this process */
  int programs_cached;     /* families loaded from the on-disk cache */
  uint64_t launches;       /* kernels and GEMMs enqueued (a GEMM counts once, whatever its engine) */
} nn_cl_stats;

/* Opens the device `spec` selects (see nn_cl_select) with a context and an in-order queue.
 * Says which device on stderr once, unless quiet. */
int nn_cl_open(nn_cl **cl, const char *spec, bool quiet);
void nn_cl_close(nn_cl *cl);

const nn_device_info *nn_cl_device(const nn_cl *cl);
cl_context nn_cl_context(const nn_cl *cl);
cl_command_queue nn_cl_queue(const nn_cl *cl);
nn_cl_stats nn_cl_get_stats(const nn_cl *cl);
/* A slot owned by nn_gemm: the GEMM engine it chose for this device, 0 until it chooses. Kept here
 * so that the choice is made once per opened device and every GEMM on it goes the same way. */
int *nn_cl_gemm_choice(nn_cl *cl);

/* A device buffer. `what` names it in every error ("fc1.weight", "mnist train images"). */
typedef struct nn_buffer {
  cl_mem mem;
  size_t bytes;
} nn_buffer;

/* Allocates `bytes` on the device. Fails, naming `what` and the sizes, when the buffer is larger
 * than the device's largest allocation or than the memory left; never aborts. */
int nn_cl_alloc(nn_cl *cl, size_t bytes, const char *what, nn_buffer *buf);
void nn_cl_free(nn_cl *cl, nn_buffer *buf);
/* Blocking copies between host and device, offsets and sizes in bytes. */
int nn_cl_write(nn_cl *cl, nn_buffer *buf, size_t offset, const void *src, size_t bytes);
int nn_cl_read(nn_cl *cl, const nn_buffer *buf, size_t offset, void *dst, size_t bytes);
/* Fills with a repeated 4-byte pattern (e.g. 0.0f). */
int nn_cl_fill(nn_cl *cl, nn_buffer *buf, size_t offset, size_t bytes, uint32_t pattern);
/* Waits for everything queued. */
int nn_cl_finish(nn_cl *cl);

/* The kernel `kernel` of family `family` (the file cl/<family>.cl). The family's program is built
 * on first use, or loaded from the disk cache keyed by device, driver, source and options. The
 * kernel object is owned by the runtime: do not release it. A kernel is not thread-safe: use one
 * nn_cl per thread. */
int nn_cl_kernel(nn_cl *cl, const char *family, const char *kernel, cl_kernel *out);

/* Builds `source` as a program of the given name, through the same cache. For tests and for the
 * families above; the returned program is owned by the runtime. */
int nn_cl_program(nn_cl *cl, const char *name, const char *source, size_t length, cl_program *out);

/* Whether a kernel-cache file's bytes are whole: the magic, then the binary's length and FNV hash,
 * then exactly that binary, which *binary and *length then point at. A file that is not is a
 * cache miss, never an error (the program is built again). */
bool nn_cl_cache_check(const char *data, size_t bytes, const unsigned char **binary, size_t *length);

/* The cache folder: NN_CACHE, else $XDG_CACHE_HOME/nnrun, else ~/.cache/nnrun. -1 (no message)
 * when none of them is set or the path does not fit. Kernels and nn_gemm's tuning files live here. */
int nn_cl_cache_dir(char *out, size_t size);

/* Sets kernel arguments, each a (size, pointer) pair, ended by NN_END:
 *   nn_cl_args(k, "relu", NN_ARG(x_mem), NN_ARG(n), NN_END)  */
#define NN_ARG(v) sizeof(v), (const void *)&(v)
#define NN_LOCAL(bytes) (size_t)(bytes), (const void *)NULL
#define NN_END (size_t)0
int nn_cl_args(cl_kernel kernel, const char *what, ...);
/* Launch accounting, for bench/. Every kernel launch and every GEMM is counted in the stats, and
 * NN_PROFILE adds each one's time to its name's entry, in one of two ways:
 *   NN_PROFILE=1      each launch waits for the queue before and after it, and its wall time is
 *                     charged: the kernel's own cost, to compare kernels with, at the price of a
 *                     slower run (the waits), so never the figure for a step's time;
 *   NN_PROFILE=queue  the queue runs as usual and each launch's device times (its event) are read
 *                     later: the charges add up to the step's device time, gaps between commands
 *                     included, and the time the device waited for the host is an entry of its own
 *                     (NN_CL_HOST_WAIT).
 * Use: t = nn_cl_launch_begin(cl); enqueue with nn_cl_launch_event(cl, &ev) as its event;
 * return nn_cl_launch_end(cl, t, name, status, ev, what), which also checks the enqueue's status. */
typedef enum nn_cl_profiling_mode { NN_PROFILE_OFF, NN_PROFILE_ALONE, NN_PROFILE_QUEUE } nn_cl_profiling_mode;
#define NN_CL_HOST_WAIT "(device idle, waiting for the host)"
typedef struct nn_cl_profile_entry {
  char name[48];    /* kernel function name, or "gemm MxNxK" */
  uint64_t count;
  double seconds;
} nn_cl_profile_entry;
nn_cl_profiling_mode nn_cl_profiling(const nn_cl *cl);
double nn_cl_launch_begin(nn_cl *cl);
/* The event pointer to give the enqueue: event itself under NN_PROFILE=queue, else NULL. */
cl_event *nn_cl_launch_event(nn_cl *cl, cl_event *event);
int nn_cl_launch_end(nn_cl *cl, double start, const char *name, cl_int status, cl_event event, const char *what);
/* The entries recorded since the last reset (none without NN_PROFILE); -1 if reading the
 * queue's event times failed. */
int nn_cl_profile(nn_cl *cl, const nn_cl_profile_entry **entries);
void nn_cl_profile_reset(nn_cl *cl);

/* Enqueues a 1-D range of `global` work-items, rounded up to a multiple of `local` (0: the
 * runtime's default), with no host synchronisation. Kernels must check their bound. */
int nn_cl_run1d(nn_cl *cl, cl_kernel kernel, size_t global, size_t local, const char *what);
/* 2-D version: global[0] x global[1], local may be NULL. */
int nn_cl_run2d(nn_cl *cl, cl_kernel kernel, const size_t global[2], const size_t local[2],
                const char *what);

/* ---- host functions in the queue ---- */

/* Whether the device runs host functions as commands of its queue: a CPU device with native
 * kernels, whose buffers are host memory (PoCL's pthread device). */
bool nn_cl_runs_host(const nn_cl *cl);
/* Enqueues fn(job, addr) as a command of the in-order queue (clEnqueueNativeKernel): it runs after
 * the commands before it and before those after it, with addr[i] the host address of mem[i]'s first
 * byte (a sub-buffer's origin included), and no host synchronisation. `job` is the caller's malloc'd
 * block: freed after fn returns, or here on failure. At most NN_CL_HOST_MEMS buffers; the caller
 * times the launch (nn_cl_launch_begin/end) and passes its event. */
#define NN_CL_HOST_MEMS 8
typedef void nn_cl_host_fn(void *job, char *const *addr);
int nn_cl_enqueue_host(nn_cl *cl, nn_cl_host_fn *fn, void *job, const cl_mem *mem, int nmem, cl_event *event,
                       const char *what);

#endif
