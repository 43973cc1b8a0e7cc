/* nn_plot: the canvas, colours, lines, markers and text (see nn_plot.h). */
#include "nn_plot.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn_base.h"
#include "nn_plot_canvas.h"

static int hex_digit(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

int nn_plot_parse_colour(const char *text, nn_plot_rgba *out) {
  static const struct {
    const char *name;
    nn_plot_rgba rgba;
  } names[] = {
      {"black", {0, 0, 0, 1}}, {"white", {1, 1, 1, 1}},   {"gray", {0.5, 0.5, 0.5, 1}}, {"grey", {0.5, 0.5, 0.5, 1}},
      {"red", {1, 0, 0, 1}},   {"green", {0, 0.5, 0, 1}}, {"blue", {0, 0, 1, 1}},       {"none", {0, 0, 0, 0}},
  };
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strcmp(text, names[i].name) == 0) {
      *out = names[i].rgba;
      return 0;
    }
  size_t n = strlen(text);
  if (text[0] == '#' && (n == 4 || n == 7 || n == 9)) {
    int d[8] = {0, 0, 0, 0, 0, 0, 15, 15}; /* alpha defaults to ff */
    bool ok = true;
    if (n == 4) { /* #rgb: each digit doubled */
      for (int i = 0; i < 3; i++) ok &= (d[2 * i] = d[2 * i + 1] = hex_digit(text[1 + i])) >= 0;
    } else {
      for (size_t i = 0; i + 1 < n; i++) ok &= (d[i] = hex_digit(text[1 + i])) >= 0;
    }
    if (ok) {
      out->r = (d[0] * 16 + d[1]) / 255.0;
      out->g = (d[2] * 16 + d[3]) / 255.0;
      out->b = (d[4] * 16 + d[5]) / 255.0;
      out->a = (d[6] * 16 + d[7]) / 255.0;
      return 0;
    }
  }
  return nn_fail("unknown colour '%s' (want #rrggbb, #rrggbbaa, #rgb or a name like black)", text);
}

int nn_plot_check_cairo(nn_plot_canvas *c, const char *what) {
  cairo_status_t s = cairo_status(c->cr);
  if (s == CAIRO_STATUS_SUCCESS) s = cairo_surface_status(c->surface);
  if (s != CAIRO_STATUS_SUCCESS) return nn_fail("%s: cairo: %s", what, cairo_status_to_string(s));
  return 0;
}

int nn_plot_canvas_create(nn_plot_canvas **out, double width, double height, double scale) {
  *out = NULL;
  if (!(width >= 1 && height >= 1 && scale > 0 && width * scale <= 32767 && height * scale <= 32767))
    return nn_fail(
        "canvas: bad size %g x %g at scale %g (want at least 1 x 1 and at most 32767 "
        "pixels a side)",
        width, height, scale);
  nn_plot_canvas *c = nn_calloc(1, sizeof *c, "canvas");
  if (!c) return -1;
  int pw = (int)lround(width * scale), ph = (int)lround(height * scale);
  c->surface = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, pw, ph);
  c->cr = cairo_create(c->surface);
  c->width = width;
  c->height = height;
  c->scale = scale;
  nn_plot_unclip(c);
  if (nn_plot_check_cairo(c, "canvas") != 0) {
    nn_plot_canvas_free(c);
    return -1;
  }
  cairo_scale(c->cr, scale, scale);
  cairo_set_source_rgb(c->cr, 1, 1, 1);
  cairo_paint(c->cr);
  /* Unhinted metrics keep text widths proportional to the scale, so a layout computed in logical
   * units looks the same at every scale; slight hinting keeps glyphs crisp. */
  cairo_font_options_t *fo = cairo_font_options_create();
  cairo_font_options_set_antialias(fo, CAIRO_ANTIALIAS_GRAY);
  cairo_font_options_set_hint_metrics(fo, CAIRO_HINT_METRICS_OFF);
  cairo_font_options_set_hint_style(fo, CAIRO_HINT_STYLE_SLIGHT);
  cairo_set_font_options(c->cr, fo);
  cairo_font_options_destroy(fo);
  cairo_set_line_join(c->cr, CAIRO_LINE_JOIN_ROUND);
  *out = c;
  return 0;
}

void nn_plot_canvas_free(nn_plot_canvas *c) {
  if (!c) return;
  cairo_destroy(c->cr);
  cairo_surface_destroy(c->surface);
  free(c);
}

void nn_plot_canvas_size(const nn_plot_canvas *c, double *width, double *height, double *scale) {
  if (width) *width = c->width;
  if (height) *height = c->height;
  if (scale) *scale = c->scale;
}

void nn_plot_canvas_pixels(const nn_plot_canvas *c, int *width, int *height) {
  *width = cairo_image_surface_get_width(c->surface);
  *height = cairo_image_surface_get_height(c->surface);
}

static bool finite4(double a, double b, double c, double d) {
  return isfinite(a) && isfinite(b) && isfinite(c) && isfinite(d);
}

int nn_plot_clip(nn_plot_canvas *c, double x, double y, double w, double h) {
  if (!finite4(x, y, w, h) || w < 0 || h < 0) return nn_fail("clip: bad rectangle (%g, %g, %g, %g)", x, y, w, h);
  nn_plot_unclip(c);
  cairo_save(c->cr);
  cairo_rectangle(c->cr, x, y, w, h);
  cairo_clip(c->cr);
  c->clipped = true;
  int pw, ph;
  nn_plot_canvas_pixels(c, &pw, &ph);
  double s = c->scale;
  c->clip[0] = (int)fmax(0, lround(x * s));
  c->clip[1] = (int)fmax(0, lround(y * s));
  c->clip[2] = (int)fmin(pw, lround((x + w) * s));
  c->clip[3] = (int)fmin(ph, lround((y + h) * s));
  return 0;
}

void nn_plot_unclip(nn_plot_canvas *c) {
  int pw, ph;
  nn_plot_canvas_pixels(c, &pw, &ph);
  if (c->clipped) cairo_restore(c->cr);
  c->clipped = false;
  c->clip[0] = c->clip[1] = 0;
  c->clip[2] = pw;
  c->clip[3] = ph;
}

static void set_colour(cairo_t *cr, nn_plot_rgba col) { cairo_set_source_rgba(cr, col.r, col.g, col.b, col.a); }

/* Strokes the current path. Dash patterns are matplotlib's (lines.*_pattern), in line widths. */
static void stroke_path(cairo_t *cr, const nn_plot_stroke *s, bool keep) {
  static const double dashed[] = {3.7, 1.6}, dotted[] = {1, 1.65}, dashdot[] = {6.4, 1.6, 1, 1.6};
  const double *pattern = NULL;
  int n = 0;
  switch (s->dash) {
    case NN_PLOT_SOLID: break;
    case NN_PLOT_DASHED: pattern = dashed, n = 2; break;
    case NN_PLOT_DOTTED: pattern = dotted, n = 2; break;
    case NN_PLOT_DASHDOT: pattern = dashdot, n = 4; break;
  }
  double scaled[4];
  for (int i = 0; i < n; i++) scaled[i] = pattern[i] * s->width;
  cairo_set_dash(cr, scaled, n, 0);
  cairo_set_line_width(cr, s->width);
  cairo_set_line_cap(cr, CAIRO_LINE_CAP_BUTT);
  set_colour(cr, s->colour);
  keep ? cairo_stroke_preserve(cr) : cairo_stroke(cr);
}

static bool visible(const nn_plot_stroke *s) { return s && s->width > 0 && s->colour.a > 0; }

static int fill_and_stroke(nn_plot_canvas *c, const nn_plot_rgba *fill, const nn_plot_stroke *stroke,
                           const char *what) {
  if (fill && fill->a > 0) {
    set_colour(c->cr, *fill);
    cairo_fill_preserve(c->cr);
  }
  if (visible(stroke)) stroke_path(c->cr, stroke, true);
  cairo_new_path(c->cr);
  return nn_plot_check_cairo(c, what);
}

int nn_plot_rect(nn_plot_canvas *c, double x, double y, double w, double h, const nn_plot_rgba *fill,
                 const nn_plot_stroke *stroke) {
  if (!finite4(x, y, w, h)) return nn_fail("rect: coordinates are not finite (%g, %g, %g, %g)", x, y, w, h);
  cairo_rectangle(c->cr, x, y, w, h);
  return fill_and_stroke(c, fill, stroke, "rect");
}

static int check_points(const double *x, const double *y, size_t n, const char *what) {
  for (size_t i = 0; i < n; i++)
    if (!isfinite(x[i]) || !isfinite(y[i]))
      return nn_fail("%s: point %zu is not finite (%g, %g)", what, i + 1, x[i], y[i]);
  return 0;
}

static void trace(cairo_t *cr, const double *x, const double *y, size_t n, bool closed) {
  cairo_new_path(cr);
  for (size_t i = 0; i < n; i++) cairo_line_to(cr, x[i], y[i]);
  if (closed) cairo_close_path(cr);
}

int nn_plot_polyline(nn_plot_canvas *c, const double *x, const double *y, size_t n, bool closed,
                     const nn_plot_stroke *stroke) {
  if (check_points(x, y, n, "polyline") != 0) return -1;
  if (n < 2 || !visible(stroke)) return 0;
  trace(c->cr, x, y, n, closed);
  stroke_path(c->cr, stroke, false);
  return nn_plot_check_cairo(c, "polyline");
}

int nn_plot_polygon(nn_plot_canvas *c, const double *x, const double *y, size_t n, const nn_plot_rgba *fill,
                    const nn_plot_stroke *stroke) {
  if (check_points(x, y, n, "polygon") != 0) return -1;
  if (n < 3) return 0;
  trace(c->cr, x, y, n, true);
  return fill_and_stroke(c, fill, stroke, "polygon");
}

static void marker_path(cairo_t *cr, nn_plot_marker shape, double x, double y, double r) {
  switch (shape) {
    case NN_PLOT_CIRCLE:
      cairo_new_sub_path(cr);
      cairo_arc(cr, x, y, r, 0, 2 * M_PI);
      break;
    case NN_PLOT_SQUARE: cairo_rectangle(cr, x - r, y - r, 2 * r, 2 * r); break;
    case NN_PLOT_DIAMOND:
      cairo_move_to(cr, x, y - r), cairo_line_to(cr, x + r, y), cairo_line_to(cr, x, y + r);
      cairo_line_to(cr, x - r, y), cairo_close_path(cr);
      break;
    case NN_PLOT_TRIANGLE:
      cairo_move_to(cr, x, y - r), cairo_line_to(cr, x + 0.866 * r, y + 0.5 * r);
      cairo_line_to(cr, x - 0.866 * r, y + 0.5 * r), cairo_close_path(cr);
      break;
    case NN_PLOT_PLUS:
      cairo_move_to(cr, x - r, y), cairo_line_to(cr, x + r, y);
      cairo_move_to(cr, x, y - r), cairo_line_to(cr, x, y + r);
      break;
    case NN_PLOT_CROSS:
      cairo_move_to(cr, x - r, y - r), cairo_line_to(cr, x + r, y + r);
      cairo_move_to(cr, x - r, y + r), cairo_line_to(cr, x + r, y - r);
      break;
  }
}

int nn_plot_markers(nn_plot_canvas *c, const double *x, const double *y, size_t n, nn_plot_marker shape, double radius,
                    const nn_plot_rgba *fill, size_t nfill, const nn_plot_stroke *edge) {
  if (nfill != 1 && nfill != n) return nn_fail("markers: %zu colours for %zu points (want 1 or %zu)", nfill, n, n);
  if (!(radius >= 0) || !isfinite(radius)) return nn_fail("markers: bad radius %g", radius);
  if (check_points(x, y, n, "markers") != 0) return -1;
  bool lines_only = shape == NN_PLOT_PLUS || shape == NN_PLOT_CROSS;
  cairo_t *cr = c->cr;
  /* Each marker is filled on its own so that overlapping translucent markers darken each other,
   * as they do in matplotlib; that is what shows where a scatter is dense. */
  for (size_t i = 0; i < n; i++) {
    nn_plot_rgba col = fill[nfill == 1 ? 0 : i];
    marker_path(cr, shape, x[i], y[i], radius);
    if (lines_only) {
      nn_plot_stroke s = {col, edge ? edge->width : 1, NN_PLOT_SOLID};
      stroke_path(cr, &s, false);
      continue;
    }
    if (col.a > 0) {
      set_colour(cr, col);
      cairo_fill_preserve(cr);
    }
    if (visible(edge)) stroke_path(cr, edge, true);
    cairo_new_path(cr);
  }
  return nn_plot_check_cairo(c, "markers");
}

/* Font metrics for anchoring: the cap height (ink top of "H") and the descent below the baseline. */
typedef struct text_metrics {
  double cap, descent;
} text_metrics;

static text_metrics select_font(cairo_t *cr, const nn_plot_font *font) {
  cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL,
                         font->bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, font->size);
  cairo_text_extents_t h;
  cairo_font_extents_t f;
  cairo_text_extents(cr, "H", &h);
  cairo_font_extents(cr, &f);
  return (text_metrics){-h.y_bearing, f.descent};
}

static int check_font(const nn_plot_font *font, const char *text, const char *what) {
  if (!text) return nn_fail("%s: no text", what);
  if (!(font->size > 0) || !isfinite(font->size)) return nn_fail("%s: bad font size %g", what, font->size);
  return 0;
}

int nn_plot_text_size(nn_plot_canvas *c, const char *text, const nn_plot_font *font, double *width, double *height,
                      double *cap) {
  if (check_font(font, text, "text_size") != 0) return -1;
  text_metrics m = select_font(c->cr, font);
  cairo_text_extents_t e;
  cairo_text_extents(c->cr, text, &e);
  *width = e.x_advance;
  *height = m.cap + m.descent;
  if (cap) *cap = m.cap;
  return nn_plot_check_cairo(c, "text_size");
}

int nn_plot_text(nn_plot_canvas *c, const char *text, double x, double y, const nn_plot_font *font,
                 nn_plot_halign halign, nn_plot_valign valign, double angle, nn_plot_rgba colour) {
  if (check_font(font, text, "text") != 0) return -1;
  if (!finite4(x, y, angle, 0)) return nn_fail("text '%s': position is not finite (%g, %g)", text, x, y);
  cairo_t *cr = c->cr;
  text_metrics m = select_font(cr, font);
  cairo_text_extents_t e;
  cairo_text_extents(cr, text, &e);
  double dx = halign == NN_PLOT_LEFT ? 0 : halign == NN_PLOT_CENTER ? -e.x_advance / 2 : -e.x_advance;
  double dy = 0;
  switch (valign) {
    case NN_PLOT_TOP: dy = m.cap; break;
    case NN_PLOT_MIDDLE: dy = m.cap / 2; break;
    case NN_PLOT_BASELINE: dy = 0; break;
    case NN_PLOT_BOTTOM: dy = -m.descent; break;
  }
  cairo_save(cr);
  cairo_translate(cr, x, y);
  cairo_rotate(cr, -angle * M_PI / 180);
  cairo_move_to(cr, dx, dy);
  set_colour(cr, colour);
  cairo_show_text(cr, text);
  cairo_restore(cr);
  cairo_new_path(cr);
  return nn_plot_check_cairo(c, "text");
}
