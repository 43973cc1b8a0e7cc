/* The canvas structure, shared by the files of nn_plot (not part of its interface). */
#ifndef NN_PLOT_CANVAS_H
#define NN_PLOT_CANVAS_H

#include <cairo.h>

#include "nn_plot.h"

struct nn_plot_canvas {
  cairo_surface_t *surface; /* ARGB32 image, premultiplied, native-endian words */
  cairo_t *cr;              /* scaled by `scale`, so drawing calls take logical units */
  double width, height;     /* logical size */
  double scale;             /* pixels per logical unit */
  bool clipped;             /* a clip is set (and a cairo_save waits for its restore) */
  int clip[4];              /* pixel rectangle images are kept inside: x0, y0, x1, y1 */
};

/* Fails with cairo's own words if the context or surface is in an error state. */
int nn_plot_check_cairo(nn_plot_canvas *c, const char *what);

#endif
