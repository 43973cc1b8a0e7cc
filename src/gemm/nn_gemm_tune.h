/* nn_gemm_tune: CLBlast's GEMM kernels tuned for this device, kept in the cache across runs.
 *
 * CLBlast takes its kernels' parameters (tile sizes, vector widths, work-group shapes) from a
 * database of the devices it was tuned on; other devices get generic ones. `nnrun --tune` runs
 * CLBlast's tuners on a device and stores the best parameters in the cache folder (NN_CACHE), one
 * plain-text file per device, driver and CLBlast version:
 *
 *   nnrun-clblast-tuning 1
 *   # nnrun --tune, 2026-11-25 06:40 UTC: fraction 1/8192, size 256
 *   device: pthread-haswell-AMD EPYC
 *   driver: 3.1+debian
 *   clblast: 1.5.3
 *   kernel Xgemm
 *   GEMMK=0
 *   KREG=1
 *   ...
 *   end
 *
 * When nn_gemm first picks CLBlast for an opened device it applies that device's file, so every
 * later process (each sweep member's too) runs the tuned kernels. A file made on another device,
 * driver or CLBlast, or one that does not parse, is ignored, with one line under NN_VERBOSE.
 */
#ifndef NN_GEMM_TUNE_H
#define NN_GEMM_TUNE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "nn_cl.h"

/* The most parameters one CLBlast kernel has, with room to spare (Xgemm has 16). */
#define NN_GEMM_TUNE_PARAMS 24

/* One kernel's parameters, as CLBlast names them. */
typedef struct nn_gemm_params {
  char kernel[32];                      /* "Xgemm" */
  int count;
  char names[NN_GEMM_TUNE_PARAMS][32];  /* "MWG", sorted */
  size_t values[NN_GEMM_TUNE_PARAMS];
} nn_gemm_params;

/* The kernels of CLBlast's GEMM that have a tuner, in the order they are tuned: Xgemm, XgemmDirect,
 * Copy, Pad, Transpose, Padtranspose. */
#define NN_GEMM_TUNE_KERNELS 6
extern const char *const nn_gemm_tune_kernels[NN_GEMM_TUNE_KERNELS];

/* A tuning file's contents. */
typedef struct nn_gemm_tuning {
  char device[256];   /* CL_DEVICE_NAME it was tuned on */
  char driver[128];   /* CL_DRIVER_VERSION */
  char clblast[32];   /* "1.5.3" */
  int nkernels;
  nn_gemm_params kernels[NN_GEMM_TUNE_KERNELS];
} nn_gemm_tuning;

/* Parses a tuning file's text (`bytes` of it; no NUL needed). 0, or -1 with nn_fail naming the
 * line. Checks the syntax only: whether it fits a device is nn_gemm_tune_apply's business. */
int nn_gemm_tune_parse(const char *text, size_t bytes, nn_gemm_tuning *out);

/* The tuning file's text (malloc'd), or NULL with nn_fail. `comment` is put after the first line:
 * lines for a person, each starting with "# ". */
char *nn_gemm_tune_format(const nn_gemm_tuning *t, const char *comment);

/* The path of the tuning file for cl's device and this CLBlast: <cache>/clblast-tuning-<key>.txt.
 * -1 with nn_fail when there is no cache folder. */
int nn_gemm_tune_path(const nn_cl *cl, char *path, size_t size);

/* Applies the tuning file of cl's device if there is one made on exactly this device, driver and
 * CLBlast. 1: applied; 0: there is none, or it was ignored, and why (if `why`) is set and printed
 * under NN_VERBOSE. Never fails and leaves nn_error() as it was: a missing or bad file costs speed,
 * not a run. nn_gemm calls it when it picks CLBlast for a device. */
int nn_gemm_tune_apply(nn_cl *cl, char *why, size_t why_size);

typedef struct nn_gemm_tune_options {
  double fraction;  /* of each kernel's configurations to try; raised until at least one is tried */
  size_t size;      /* the tuners' matrices, a multiple of 128: size^3 for Xgemm, size^2 for Copy, Pad,
                     * Transpose and Padtranspose, min(size, 256)^3 for XgemmDirect (it serves the
                     * GEMMs below CLBlast's indirect threshold, about 900^3) */
  bool measure;     /* time two GEMMs before and after (printed on log); where one got slower, the
                     * kernels that serve it keep their previous parameters */
  FILE *log;        /* one line per step; NULL: quiet */
} nn_gemm_tune_options;

/* Tunes CLBlast's GEMM kernels on cl's device, applies the result and writes the tuning file
 * (nn_gemm_tune_path). cl's GEMM engine must be CLBlast. A kernel whose tuner fails keeps its
 * parameters, with a line on log; 0, or -1 with nn_fail if nothing could be tuned or stored. */
int nn_gemm_tune(nn_cl *cl, const nn_gemm_tune_options *opt);

#endif
