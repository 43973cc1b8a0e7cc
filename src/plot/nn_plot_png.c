/* nn_plot: PNG files through libpng's simplified API, and reading pixels back (see nn_plot.h). */
#include <math.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>

#include "nn_base.h"
#include "nn_plot.h"
#include "nn_plot_canvas.h"

/* Surface words are premultiplied ARGB; the PNG is RGB composed over white, which is what the
 * canvas shows (it starts opaque white, so this only matters for a caller's translucent load). */
int nn_plot_encode_png(nn_plot_canvas *c, unsigned char **png, size_t *bytes) {
  *png = NULL;
  *bytes = 0;
  if (nn_plot_check_cairo(c, "png") != 0) return -1;
  cairo_surface_flush(c->surface);
  int w, h;
  nn_plot_canvas_pixels(c, &w, &h);
  const unsigned char *data = cairo_image_surface_get_data(c->surface);
  int stride = cairo_image_surface_get_stride(c->surface);
  size_t rgb_bytes = (size_t)w * (size_t)h * 3;
  unsigned char *rgb = nn_alloc(rgb_bytes, "png pixels");
  if (!rgb) return -1;
  for (int y = 0; y < h; y++) {
    const uint32_t *row = (const uint32_t *)(data + (size_t)y * stride);
    unsigned char *out = rgb + (size_t)y * w * 3;
    for (int x = 0; x < w; x++) {
      uint32_t p = row[x], white = 255 - (p >> 24);
      out[3 * x + 0] = (unsigned char)(((p >> 16) & 0xff) + white);
      out[3 * x + 1] = (unsigned char)(((p >> 8) & 0xff) + white);
      out[3 * x + 2] = (unsigned char)((p & 0xff) + white);
    }
  }
  png_image image;
  memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  image.width = (png_uint_32)w;
  image.height = (png_uint_32)h;
  image.format = PNG_FORMAT_RGB;
  /* First call sizes the buffer, second fills it. */
  png_alloc_size_t size = 0;
  int ok = png_image_write_to_memory(&image, NULL, &size, 0, rgb, 0, NULL);
  unsigned char *buf = ok ? nn_alloc(size, "png file") : NULL;
  if (buf) ok = png_image_write_to_memory(&image, buf, &size, 0, rgb, 0, NULL);
  free(rgb);
  if (!ok) {
    free(buf);
    return nn_fail("png: %s", image.message);
  }
  if (!buf) return -1;
  *png = buf;
  *bytes = size;
  return 0;
}

int nn_plot_save_png(nn_plot_canvas *c, const char *path) {
  unsigned char *png;
  size_t bytes;
  if (nn_plot_encode_png(c, &png, &bytes) != 0) return nn_fail_prefix("%s", path);
  int rc = nn_file_write_atomic(path, png, bytes);
  free(png);
  return rc;
}

int nn_plot_load_png(nn_plot_canvas **out, const char *path) {
  *out = NULL;
  png_image image;
  memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&image, path)) return nn_fail("%s: %s", path, image.message);
  image.format = PNG_FORMAT_RGBA;
  unsigned char *rgba = nn_alloc(PNG_IMAGE_SIZE(image), "png pixels");
  if (!rgba) {
    png_image_free(&image);
    return -1;
  }
  if (!png_image_finish_read(&image, NULL, rgba, 0, NULL)) {
    free(rgba);
    return nn_fail("%s: %s", path, image.message);
  }
  int w = (int)image.width, h = (int)image.height;
  nn_plot_canvas *c;
  if (nn_plot_canvas_create(&c, w, h, 1) != 0) {
    free(rgba);
    return nn_fail_prefix("%s", path);
  }
  cairo_surface_flush(c->surface);
  unsigned char *data = cairo_image_surface_get_data(c->surface);
  int stride = cairo_image_surface_get_stride(c->surface);
  for (int y = 0; y < h; y++) {
    uint32_t *row = (uint32_t *)(data + (size_t)y * stride);
    const unsigned char *in = rgba + (size_t)y * w * 4;
    for (int x = 0; x < w; x++) {
      uint32_t a = in[4 * x + 3];
      uint32_t r = in[4 * x] * a / 255, g = in[4 * x + 1] * a / 255, b = in[4 * x + 2] * a / 255;
      row[x] = a << 24 | r << 16 | g << 8 | b;
    }
  }
  cairo_surface_mark_dirty(c->surface);
  free(rgba);
  *out = c;
  return 0;
}

static nn_plot_rgba unpremultiply(uint32_t p) {
  double a = (p >> 24) / 255.0;
  if (a == 0) return (nn_plot_rgba){0, 0, 0, 0};
  return (nn_plot_rgba){((p >> 16) & 0xff) / 255.0 / a, ((p >> 8) & 0xff) / 255.0 / a, (p & 0xff) / 255.0 / a, a};
}

static const uint32_t *pixel_row(nn_plot_canvas *c, int py) {
  const unsigned char *data = cairo_image_surface_get_data(c->surface);
  return (const uint32_t *)(data + (size_t)py * cairo_image_surface_get_stride(c->surface));
}

nn_plot_rgba nn_plot_pixel(nn_plot_canvas *c, int px, int py) {
  int w, h;
  nn_plot_canvas_pixels(c, &w, &h);
  if (px < 0 || py < 0 || px >= w || py >= h) return (nn_plot_rgba){0, 0, 0, 0};
  cairo_surface_flush(c->surface);
  return unpremultiply(pixel_row(c, py)[px]);
}

size_t nn_plot_count_colour(nn_plot_canvas *c, nn_plot_rgba colour, double tol, int px, int py, int pw, int ph) {
  int w, h;
  nn_plot_canvas_pixels(c, &w, &h);
  if (pw <= 0 || ph <= 0) px = 0, py = 0, pw = w, ph = h;
  int x1 = px + pw < w ? px + pw : w, y1 = py + ph < h ? py + ph : h;
  cairo_surface_flush(c->surface);
  size_t count = 0;
  for (int y = py < 0 ? 0 : py; y < y1; y++) {
    const uint32_t *row = pixel_row(c, y);
    for (int x = px < 0 ? 0 : px; x < x1; x++) {
      nn_plot_rgba p = unpremultiply(row[x]);
      count += fabs(p.r - colour.r) <= tol && fabs(p.g - colour.g) <= tol && fabs(p.b - colour.b) <= tol;
    }
  }
  return count;
}
