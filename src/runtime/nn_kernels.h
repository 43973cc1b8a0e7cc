/* The kernel families (cl/<family>.cl), embedded by cl/embed.c into the generated nn_kernels.c. */
#ifndef NN_KERNELS_H
#define NN_KERNELS_H

#include <stddef.h>

typedef struct nn_kernel_source {
  const char *family;  /* file name without .cl: "elementwise" */
  const char *source;  /* the file's text */
  size_t length;
} nn_kernel_source;

/* Ends with an entry whose family is NULL. */
extern const nn_kernel_source nn_kernel_sources[];

#endif
