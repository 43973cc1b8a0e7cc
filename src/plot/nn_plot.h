/* nn_plot: a canvas to draw charts on, and PNG files.
 *
 * The chart logic (axes, ticks, legends, panel layout) lives in Lua (lua/nn/plot.lua); this module
 * is the small set of primitives it draws with, over cairo for anti-aliased lines and text and
 * libpng for the files. Everything that runs once per data point (markers, image pixels) is here,
 * so a 10,000-point scatter or a grid of 128 activation maps costs milliseconds.
 *
 * Coordinates. A canvas has a logical size (width x height, the units every call takes, with y
 * pointing down) and a scale: the PNG is round(width*scale) x round(height*scale) pixels. Charts
 * are laid out in logical units, so the same script gives a sharper picture at a larger scale.
 *
 * Colours are straight (not premultiplied) RGBA in 0..1. The canvas starts opaque white.
 */
#ifndef NN_PLOT_H
#define NN_PLOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct nn_plot_rgba {
  double r, g, b, a;
} nn_plot_rgba;

/* "#rrggbb", "#rrggbbaa", "#rgb", or one of a few names (black, white, gray, red, green, blue,
 * none). Fails with the text it could not read. */
int nn_plot_parse_colour(const char *text, nn_plot_rgba *out);

/* How a line is dashed; the pattern scales with the line width, as in matplotlib. */
typedef enum nn_plot_dash {
  NN_PLOT_SOLID,   /* "-" */
  NN_PLOT_DASHED,  /* "--" */
  NN_PLOT_DOTTED,  /* ":" */
  NN_PLOT_DASHDOT, /* "-." */
} nn_plot_dash;

typedef struct nn_plot_stroke {
  nn_plot_rgba colour;
  double width; /* logical units; 0 draws nothing */
  nn_plot_dash dash;
} nn_plot_stroke;

typedef enum nn_plot_marker {
  NN_PLOT_CIRCLE,   /* "o" */
  NN_PLOT_SQUARE,   /* "s" */
  NN_PLOT_DIAMOND,  /* "D" */
  NN_PLOT_TRIANGLE, /* "^" */
  NN_PLOT_PLUS,     /* "+": stroked only */
  NN_PLOT_CROSS,    /* "x": stroked only */
} nn_plot_marker;

typedef enum nn_plot_halign { NN_PLOT_LEFT, NN_PLOT_CENTER, NN_PLOT_RIGHT } nn_plot_halign;
/* Vertical anchors use the font's cap height and descent, not the ink of each string, so tick
 * labels like "0.5" and "y" line up. */
typedef enum nn_plot_valign {
  NN_PLOT_TOP,      /* top of the capitals at y */
  NN_PLOT_MIDDLE,   /* middle of the capitals at y */
  NN_PLOT_BASELINE, /* baseline at y */
  NN_PLOT_BOTTOM,   /* lowest descender at y */
} nn_plot_valign;

typedef struct nn_plot_font {
  double size; /* logical units (em size) */
  bool bold;
} nn_plot_font;

/* Colour maps for images. Names as in matplotlib. */
typedef enum nn_plot_cmap {
  NN_PLOT_GRAY,    /* "gray": black to white */
  NN_PLOT_VIRIDIS, /* "viridis": dark blue to yellow, perceptually uniform */
  NN_PLOT_RDBU_R,  /* "RdBu_r": blue (low), white (middle), red (high); diverging */
  NN_PLOT_RDBU,    /* "RdBu": red (low), white, blue (high) */
  NN_PLOT_BLUES,   /* "Blues": white to dark blue, for counts */
} nn_plot_cmap;

/* Looks a map up by name; fails listing the names there are. */
int nn_plot_cmap_find(const char *name, nn_plot_cmap *out);
/* Colour at t in [0, 1] (clamped). */
nn_plot_rgba nn_plot_cmap_colour(nn_plot_cmap cmap, double t);

typedef struct nn_plot_canvas nn_plot_canvas;

/* A white canvas of width x height logical units drawn at `scale` pixels per unit. */
int nn_plot_canvas_create(nn_plot_canvas **out, double width, double height, double scale);
void nn_plot_canvas_free(nn_plot_canvas *c);
void nn_plot_canvas_size(const nn_plot_canvas *c, double *width, double *height, double *scale);
void nn_plot_canvas_pixels(const nn_plot_canvas *c, int *width, int *height);

/* Every drawing call returns 0, or -1 with a message if cairo failed (out of memory) or an
 * argument is unusable (NaN coordinates, negative sizes). */

/* Only the rectangle (logical units) is drawn on until nn_plot_unclip; clips do not nest. */
int nn_plot_clip(nn_plot_canvas *c, double x, double y, double w, double h);
void nn_plot_unclip(nn_plot_canvas *c);

/* A rectangle, filled (fill may be NULL) and outlined (stroke may be NULL). */
int nn_plot_rect(nn_plot_canvas *c, double x, double y, double w, double h, const nn_plot_rgba *fill,
                 const nn_plot_stroke *stroke);
/* n points joined by straight segments; closed joins the last to the first. */
int nn_plot_polyline(nn_plot_canvas *c, const double *x, const double *y, size_t n, bool closed,
                     const nn_plot_stroke *stroke);
/* A closed polygon, filled and/or outlined (either may be NULL). */
int nn_plot_polygon(nn_plot_canvas *c, const double *x, const double *y, size_t n, const nn_plot_rgba *fill,
                    const nn_plot_stroke *stroke);
/* n markers of the given radius centred on (x[i], y[i]), drawn in order. fill has nfill colours:
 * 1 (all alike) or n (one per point). edge may be NULL; "+" and "x" use the fill colour as
 * their line colour. */
int nn_plot_markers(nn_plot_canvas *c, const double *x, const double *y, size_t n, nn_plot_marker shape, double radius,
                    const nn_plot_rgba *fill, size_t nfill, const nn_plot_stroke *edge);

/* UTF-8 text anchored at (x, y), turned by angle degrees counter-clockwise about the anchor. */
int nn_plot_text(nn_plot_canvas *c, const char *text, double x, double y, const nn_plot_font *font,
                 nn_plot_halign halign, nn_plot_valign valign, double angle, nn_plot_rgba colour);
/* Width of the text, the height of one line of it (cap height + descent), unrotated, and the cap
 * height alone (cap may be NULL). */
int nn_plot_text_size(nn_plot_canvas *c, const char *text, const nn_plot_font *font, double *width, double *height,
                      double *cap);

/* An image of rows x cols values (row-major; values[r*cols + c]) coloured through cmap, with
 * vmin and vmax at the two ends of the map, into the rectangle (x, y, w, h). Each value becomes a
 * block of whole pixels (nearest neighbour, never blurred). With integer_scale the blocks are
 * all the same size, the largest whole number of pixels that fits, and the image is centred in
 * the rectangle; drawn (may be NULL) receives the rectangle actually covered, {x, y, w, h}.
 * NaN values are drawn in nan_colour. */
typedef struct nn_plot_image_style {
  nn_plot_cmap cmap;
  double vmin, vmax;
  bool integer_scale;
  nn_plot_rgba nan_colour;
} nn_plot_image_style;
int nn_plot_image(nn_plot_canvas *c, const float *values, int rows, int cols, double x, double y, double w, double h,
                  const nn_plot_image_style *style, double drawn[4]);

/* PNG. encode gives a malloc'd buffer; save writes it with nn_file_write_atomic. load reads any
 * PNG into a canvas of scale 1 (the pixel size), for tests that check a file once written. */
int nn_plot_encode_png(nn_plot_canvas *c, unsigned char **png, size_t *bytes);
int nn_plot_save_png(nn_plot_canvas *c, const char *path);
int nn_plot_load_png(nn_plot_canvas **out, const char *path);

/* Reading pixels back (tests): the colour of pixel (px, py), and how many pixels of the
 * rectangle (in pixels; the whole canvas when w or h is 0) are within tol (0..1, per channel) of
 * a colour. */
nn_plot_rgba nn_plot_pixel(nn_plot_canvas *c, int px, int py);
size_t nn_plot_count_colour(nn_plot_canvas *c, nn_plot_rgba colour, double tol, int px, int py, int pw, int ph);

#endif
