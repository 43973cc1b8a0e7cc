/* nn_plot: colour maps and images drawn pixel by pixel (see nn_plot.h).
 *
 * Images are written straight into the surface's pixels rather than drawn through a cairo pattern:
 * a scaled pattern is filtered at its edges, and a 28x28 digit must come out as sharp blocks. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn_base.h"
#include "nn_plot.h"
#include "nn_plot_canvas.h"

/* Anchor colours, evenly spaced along each map and joined linearly: viridis sampled at 9 points
 * from matplotlib's table; RdBu and Blues are ColorBrewer's 11- and 9-class schemes, which is
 * what matplotlib interpolates too. */
static const char *const viridis[] = {"#440154", "#472d7b", "#3b528b", "#2c728e", "#21908c",
                                      "#27ad81", "#5dc863", "#aadc32", "#fde725"};
static const char *const rdbu[] = {"#67001f", "#b2182b", "#d6604d", "#f4a582", "#fddbc7", "#f7f7f7",
                                   "#d1e5f0", "#92c5de", "#4393c3", "#2166ac", "#053061"};
static const char *const blues[] = {"#f7fbff", "#deebf7", "#c6dbef", "#9ecae1", "#6baed6",
                                    "#4292c6", "#2171b5", "#08519c", "#08306b"};
static const char *const gray[] = {"#000000", "#ffffff"};

static const struct {
  const char *name;
  nn_plot_cmap id;
  const char *const *anchors;
  int n;
  bool reversed;
} maps[] = {
    {"gray", NN_PLOT_GRAY, gray, 2, false},     {"viridis", NN_PLOT_VIRIDIS, viridis, 9, false},
    {"RdBu_r", NN_PLOT_RDBU_R, rdbu, 11, true}, {"RdBu", NN_PLOT_RDBU, rdbu, 11, false},
    {"Blues", NN_PLOT_BLUES, blues, 9, false},
};
enum { N_MAPS = sizeof maps / sizeof maps[0] };

int nn_plot_cmap_find(const char *name, nn_plot_cmap *out) {
  for (int i = 0; i < N_MAPS; i++)
    if (strcmp(maps[i].name, name) == 0) {
      *out = maps[i].id;
      return 0;
    }
  return nn_fail("unknown colour map '%s' (there are gray, viridis, RdBu_r, RdBu, Blues)", name);
}

nn_plot_rgba nn_plot_cmap_colour(nn_plot_cmap cmap, double t) {
  int m = 0;
  while (m < N_MAPS - 1 && maps[m].id != cmap) m++;
  if (!(t > 0)) t = 0; /* also NaN */
  if (t > 1) t = 1;
  if (maps[m].reversed) t = 1 - t;
  double pos = t * (maps[m].n - 1);
  int i = (int)pos;
  if (i >= maps[m].n - 1) i = maps[m].n - 2;
  double f = pos - i;
  nn_plot_rgba a, b;
  nn_plot_parse_colour(maps[m].anchors[i], &a);
  nn_plot_parse_colour(maps[m].anchors[i + 1], &b);
  return (nn_plot_rgba){a.r + f * (b.r - a.r), a.g + f * (b.g - a.g), a.b + f * (b.b - a.b), 1};
}

/* One surface pixel: premultiplied ARGB in a native-endian word. Blends col over what is there. */
static uint32_t blend(uint32_t dst, nn_plot_rgba col) {
  double a = col.a, keep = 1 - a;
  double src[3] = {col.r, col.g, col.b};
  uint32_t out = (uint32_t)lround(255 * a + keep * (dst >> 24)) << 24;
  for (int ch = 0; ch < 3; ch++) {
    int shift = 16 - 8 * ch;
    double v = 255 * a * src[ch] + keep * ((dst >> shift) & 0xff);
    out |= (uint32_t)lround(v) << shift;
  }
  return out;
}

/* Pixel boundaries of n equal blocks over [p0, p0 + len): block i covers [edge(i), edge(i+1)). */
static int edge(int p0, int len, int n, int i) { return p0 + (int)((int64_t)len * i / n); }

int nn_plot_image(nn_plot_canvas *c, const float *values, int rows, int cols, double x, double y, double w, double h,
                  const nn_plot_image_style *style, double drawn[4]) {
  if (rows < 1 || cols < 1) return nn_fail("image: empty (%d x %d values)", rows, cols);
  if (!(isfinite(x) && isfinite(y) && w >= 0 && h >= 0 && isfinite(w) && isfinite(h)))
    return nn_fail("image: bad rectangle (%g, %g, %g, %g)", x, y, w, h);
  if (!(isfinite(style->vmin) && isfinite(style->vmax)))
    return nn_fail("image: colour range [%g, %g] is not finite", style->vmin, style->vmax);
  double s = c->scale;
  int px = (int)lround(x * s), py = (int)lround(y * s);
  int pw = (int)lround((x + w) * s) - px, ph = (int)lround((y + h) * s) - py;
  if (style->integer_scale) {
    int k = pw / cols < ph / rows ? pw / cols : ph / rows;
    /* An image larger than the rectangle cannot be magnified; it is shrunk like any other. */
    if (k >= 1) {
      px += (pw - k * cols) / 2, py += (ph - k * rows) / 2;
      pw = k * cols, ph = k * rows;
    }
  }
  if (drawn) drawn[0] = px / s, drawn[1] = py / s, drawn[2] = pw / s, drawn[3] = ph / s;
  if (pw <= 0 || ph <= 0) return 0;

  /* Colour each value once, then copy the colours into the blocks. */
  size_t count = (size_t)rows * (size_t)cols;
  nn_plot_rgba *colours = nn_alloc(count * sizeof *colours, "image colours");
  if (!colours) return -1;
  double range = style->vmax - style->vmin;
  for (size_t i = 0; i < count; i++) {
    double v = values[i];
    if (isnan(v))
      colours[i] = style->nan_colour;
    else
      colours[i] = nn_plot_cmap_colour(style->cmap, range > 0 ? (v - style->vmin) / range : 0.5);
  }
  cairo_surface_flush(c->surface);
  unsigned char *data = cairo_image_surface_get_data(c->surface);
  int stride = cairo_image_surface_get_stride(c->surface);
  for (int r = 0; r < rows; r++) {
    int y0 = edge(py, ph, rows, r), y1 = edge(py, ph, rows, r + 1);
    if (y0 < c->clip[1]) y0 = c->clip[1];
    if (y1 > c->clip[3]) y1 = c->clip[3];
    for (int col = 0; col < cols; col++) {
      int x0 = edge(px, pw, cols, col), x1 = edge(px, pw, cols, col + 1);
      if (x0 < c->clip[0]) x0 = c->clip[0];
      if (x1 > c->clip[2]) x1 = c->clip[2];
      nn_plot_rgba colour = colours[(size_t)r * cols + col];
      uint32_t opaque = blend(0, colour); /* what blend gives for every pixel when alpha is 1 */
      for (int yy = y0; yy < y1; yy++) {
        uint32_t *row = (uint32_t *)(data + (size_t)yy * stride);
        for (int xx = x0; xx < x1; xx++) row[xx] = colour.a >= 1 ? opaque : blend(row[xx], colour);
      }
    }
  }
  cairo_surface_mark_dirty(c->surface);
  free(colours);
  return nn_plot_check_cairo(c, "image");
}
