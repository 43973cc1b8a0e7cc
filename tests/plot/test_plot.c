/* Tests of the drawing layer: every primitive is drawn and the pixels are read back. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nn_base.h"
#include "nn_plot.h"
#include "nn_test.h"

static const nn_plot_rgba red = {1, 0, 0, 1}, blue = {0, 0, 1, 1}, black = {0, 0, 0, 1};

static bool same_colour(nn_plot_rgba a, nn_plot_rgba b, double tol) {
  return fabs(a.r - b.r) <= tol && fabs(a.g - b.g) <= tol && fabs(a.b - b.b) <= tol;
}

static void test_colours(void) {
  nn_plot_rgba c;
  CHECK_OK(nn_plot_parse_colour("#1f77b4", &c));
  CHECK(fabs(c.r - 0x1f / 255.0) < 1e-12 && fabs(c.b - 0xb4 / 255.0) < 1e-12 && c.a == 1, "#1f77b4");
  CHECK(nn_plot_parse_colour("#f008", &c) == -1, "four digits is not a colour");
  CHECK_OK(nn_plot_parse_colour("#fa0", &c));
  CHECK(c.r == 1 && fabs(c.g - 0xaa / 255.0) < 1e-12 && c.b == 0, "#fa0 doubles each digit");
  CHECK_OK(nn_plot_parse_colour("#11223380", &c));
  CHECK(fabs(c.a - 0x80 / 255.0) < 1e-12, "alpha from #rrggbbaa");
  CHECK_OK(nn_plot_parse_colour("none", &c));
  CHECK(c.a == 0, "none is transparent");
  CHECK(nn_plot_parse_colour("#12345g", &c) == -1 && strstr(nn_error(), "'#12345g'"), "bad digit is named: %s",
        nn_error());
  CHECK(nn_plot_parse_colour("tomato", &c) == -1 && strstr(nn_error(), "unknown colour"), "%s", nn_error());

  nn_plot_cmap m;
  CHECK_OK(nn_plot_cmap_find("RdBu_r", &m));
  nn_plot_rgba lo = nn_plot_cmap_colour(m, 0), mid = nn_plot_cmap_colour(m, 0.5), hi = nn_plot_cmap_colour(m, 1);
  CHECK(lo.b > lo.r && hi.r > hi.b, "RdBu_r runs from blue to red");
  CHECK(mid.r > 0.95 && mid.g > 0.95 && mid.b > 0.95, "RdBu_r is white in the middle");
  CHECK_OK(nn_plot_cmap_find("gray", &m));
  CHECK(same_colour(nn_plot_cmap_colour(m, 0.25), (nn_plot_rgba){0.25, 0.25, 0.25, 1}, 1e-9), "gray is linear");
  CHECK(same_colour(nn_plot_cmap_colour(m, 7), (nn_plot_rgba){1, 1, 1, 1}, 0), "t is clamped");
  CHECK(nn_plot_cmap_find("jet", &m) == -1 && strstr(nn_error(), "viridis"), "unknown map lists the known: %s",
        nn_error());
}

static void test_canvas(void) {
  nn_plot_canvas *c;
  CHECK(nn_plot_canvas_create(&c, 0, 10, 1) == -1 && c == NULL, "zero width fails");
  CHECK(nn_plot_canvas_create(&c, 100, 100, NAN) == -1, "NaN scale fails");
  CHECK(nn_plot_canvas_create(&c, 40000, 10, 1) == -1 && strstr(nn_error(), "32767"), "%s", nn_error());
  CHECK_OK(nn_plot_canvas_create(&c, 200, 100, 1.5));
  int w, h;
  nn_plot_canvas_pixels(c, &w, &h);
  CHECK(w == 300 && h == 150, "pixels are the logical size times the scale: %d x %d", w, h);
  CHECK(nn_plot_count_colour(c, (nn_plot_rgba){1, 1, 1, 1}, 0, 0, 0, 0, 0) == 300 * 150, "starts white");

  /* A thick red line across the middle, and a rectangle outlined in blue. */
  double x[] = {10, 190}, y[] = {50, 50};
  nn_plot_stroke s = {red, 4, NN_PLOT_SOLID};
  CHECK_OK(nn_plot_polyline(c, x, y, 2, false, &s));
  CHECK(same_colour(nn_plot_pixel(c, 150, 75), red, 0.01), "line centre is red");
  CHECK(same_colour(nn_plot_pixel(c, 150, 10), (nn_plot_rgba){1, 1, 1, 1}, 0), "above the line is white");
  size_t reds = nn_plot_count_colour(c, red, 0.01, 0, 0, 0, 0);
  CHECK(reds > 270 * 5 && reds < 270 * 7, "a 4-unit line at scale 1.5 is about 6 pixels tall (%zu pixels)", reds);

  /* Dashes leave gaps. */
  nn_plot_stroke dashed = {blue, 2, NN_PLOT_DASHED};
  double dy[] = {80, 80};
  CHECK_OK(nn_plot_polyline(c, x, dy, 2, false, &dashed));
  size_t on = nn_plot_count_colour(c, blue, 0.05, 0, 119, 300, 2);
  CHECK(on > 100 && on < 2 * 270 * 0.8, "a dashed line is partly drawn (%zu of %d pixels)", on, 2 * 270);

  /* Points that are not numbers are refused, and the canvas stays usable after. */
  double bad[] = {1, NAN};
  CHECK(nn_plot_polyline(c, x, bad, 2, false, &s) == -1 && strstr(nn_error(), "point 2"), "%s", nn_error());
  nn_plot_rgba fill = blue;
  CHECK_OK(nn_plot_rect(c, 0, 0, 10, 10, &fill, NULL));
  CHECK(same_colour(nn_plot_pixel(c, 5, 5), blue, 0.01), "canvas still draws after a refusal");

  /* Clipping keeps a rectangle that covers everything inside the clip. */
  CHECK_OK(nn_plot_clip(c, 100, 0, 10, 10));
  nn_plot_rgba black_fill = black;
  CHECK_OK(nn_plot_rect(c, 0, 0, 200, 100, &black_fill, NULL));
  nn_plot_unclip(c);
  CHECK(nn_plot_count_colour(c, black, 0.01, 0, 0, 0, 0) == 15 * 15, "only the clip (15 x 15 pixels) is black: %zu",
        nn_plot_count_colour(c, black, 0.01, 0, 0, 0, 0));
  nn_plot_canvas_free(c);
}

static void test_markers(void) {
  nn_plot_canvas *c;
  CHECK_OK(nn_plot_canvas_create(&c, 640, 480, 1.5));
  enum { N = 10000 };
  double *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
  nn_plot_rgba *fill = malloc(N * sizeof *fill);
  nn_plot_rgba palette[10];
  static const char *tab10[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
  for (int k = 0; k < 10; k++) nn_plot_parse_colour(tab10[k], &palette[k]);
  unsigned seed = 1;
  for (int i = 0; i < N; i++) {
    seed = seed * 1103515245u + 12345u;
    x[i] = 20 + (seed >> 8) % 600;
    seed = seed * 1103515245u + 12345u;
    y[i] = 20 + (seed >> 8) % 440;
    fill[i] = palette[i % 10];
  }
  double t0 = nn_seconds();
  CHECK_OK(nn_plot_markers(c, x, y, N, NN_PLOT_CIRCLE, 2, fill, N, NULL));
  double dt = nn_seconds() - t0;
  /* A figure, not a check: tests are not timed (the machine may be busy). */
  printf("# 10,000 circle markers: %.1f ms\n", dt * 1e3);
  for (int k = 0; k < 10; k++)
    CHECK(nn_plot_count_colour(c, palette[k], 0.02, 0, 0, 0, 0) > 1000, "class %d colour appears", k);
  CHECK(nn_plot_markers(c, x, y, N, NN_PLOT_CIRCLE, 2, fill, 3, NULL) == -1 && strstr(nn_error(), "3 colours"), "%s",
        nn_error());
  CHECK(nn_plot_markers(c, x, y, 2, NN_PLOT_CIRCLE, -1, fill, 1, NULL) == -1, "negative radius fails");

  /* Every shape leaves ink inside its box and none outside. */
  nn_plot_canvas *d;
  CHECK_OK(nn_plot_canvas_create(&d, 100, 100, 1));
  for (int shape = NN_PLOT_CIRCLE; shape <= NN_PLOT_CROSS; shape++) {
    nn_plot_rgba white = {1, 1, 1, 1};
    CHECK_OK(nn_plot_rect(d, 0, 0, 100, 100, &white, NULL));
    double px = 50, py = 50;
    nn_plot_stroke edge = {black, 1.5, NN_PLOT_SOLID};
    CHECK_OK(nn_plot_markers(d, &px, &py, 1, (nn_plot_marker)shape, 10, &red, 1, &edge));
    size_t inside = 21 * 21 - nn_plot_count_colour(d, white, 0, 40, 40, 21, 21);
    size_t all = 100 * 100 - nn_plot_count_colour(d, white, 0, 0, 0, 0, 0);
    CHECK(inside > 20 && all - inside < 60, "shape %d: %zu pixels inside, %zu in all", shape, inside, all);
  }
  nn_plot_canvas_free(d);
  free(x), free(y), free(fill);
  nn_plot_canvas_free(c);
}

static void test_text(void) {
  nn_plot_canvas *c;
  CHECK_OK(nn_plot_canvas_create(&c, 300, 200, 2));
  nn_plot_font f = {14, false};
  double w1, h1, w2, h2, wb, hb;
  CHECK_OK(nn_plot_text_size(c, "Accuracy", &f, &w1, &h1, NULL));
  CHECK_OK(nn_plot_text_size(c, "Accuracy per epoch", &f, &w2, &h2, NULL));
  nn_plot_font bold = {14, true};
  CHECK_OK(nn_plot_text_size(c, "Accuracy", &bold, &wb, &hb, NULL));
  CHECK(w1 > 40 && w1 < 90 && h1 > 10 && h1 < 18, "'Accuracy' at 14: %g x %g", w1, h1);
  CHECK(w2 > w1 * 1.8 && h2 == h1, "longer text is wider, same height");
  CHECK(wb > w1, "bold is wider");

  /* Centred text lands around its anchor; rotated text is tall instead of wide. */
  CHECK_OK(nn_plot_text(c, "Accuracy", 150, 50, &f, NN_PLOT_CENTER, NN_PLOT_MIDDLE, 0, black));
  size_t left =
      2 * 40 * 2 * 20 - nn_plot_count_colour(c, (nn_plot_rgba){1, 1, 1, 1}, 0.02, 2 * 110, 2 * 40, 2 * 40, 2 * 20);
  size_t right =
      2 * 40 * 2 * 20 - nn_plot_count_colour(c, (nn_plot_rgba){1, 1, 1, 1}, 0.02, 2 * 150, 2 * 40, 2 * 40, 2 * 20);
  CHECK(left > 100 && right > 100, "ink on both sides of a centred anchor (%zu, %zu)", left, right);
  CHECK_OK(nn_plot_text(c, "Loss (cross-entropy)", 30, 100, &f, NN_PLOT_CENTER, NN_PLOT_MIDDLE, 90, blue));
  size_t column = nn_plot_count_colour(c, blue, 0.3, 2 * 15, 0, 2 * 30, 2 * 200);
  size_t total = nn_plot_count_colour(c, blue, 0.3, 0, 0, 0, 0);
  CHECK(column > 200 && column == total, "rotated text stays in a column (%zu of %zu)", column, total);
  CHECK(nn_plot_text(c, "x", NAN, 0, &f, NN_PLOT_LEFT, NN_PLOT_TOP, 0, black) == -1, "NaN position fails");
  nn_plot_font zero = {0, false};
  CHECK(nn_plot_text_size(c, "x", &zero, &w1, &h1, NULL) == -1, "zero font size fails");
  nn_plot_canvas_free(c);
}

static void test_image(void) {
  nn_plot_canvas *c;
  CHECK_OK(nn_plot_canvas_create(&c, 100, 100, 1));
  nn_plot_image_style st = {NN_PLOT_GRAY, 0, 1, true, {1, 0, 0, 1}};
  /* 2 x 3 image into a 100 x 100 box: blocks of 33 pixels, 99 x 66 centred. */
  float v[] = {0, 0.5f, 1, 1, NAN, 0};
  double drawn[4];
  CHECK_OK(nn_plot_image(c, v, 2, 3, 0, 0, 100, 100, &st, drawn));
  CHECK(drawn[0] == 0 && drawn[1] == 17 && drawn[2] == 99 && drawn[3] == 66, "integer blocks, centred: %g %g %g %g",
        drawn[0], drawn[1], drawn[2], drawn[3]);
  /* Every block is one flat colour: nearest neighbour, never blended at the edges. */
  nn_plot_rgba want[] = {{0, 0, 0, 1}, {0.5, 0.5, 0.5, 1}, {1, 1, 1, 1}, {1, 1, 1, 1}, {1, 0, 0, 1}, {0, 0, 0, 1}};
  for (int b = 0; b < 6; b++) {
    int bx = (b % 3) * 33, by = 17 + (b / 3) * 33;
    CHECK(nn_plot_count_colour(c, want[b], 0.003, bx, by, 33, 33) == 33 * 33, "block %d is flat", b);
  }
  CHECK(nn_plot_count_colour(c, (nn_plot_rgba){1, 1, 1, 1}, 0, 0, 0, 100, 17) == 1700, "margin stays white");

  /* Without integer scaling the image fills the box; blocks differ by at most one pixel. */
  st.integer_scale = false;
  CHECK_OK(nn_plot_image(c, v, 2, 3, 0, 0, 100, 100, &st, drawn));
  CHECK(drawn[2] == 100 && drawn[3] == 100, "fills the box");
  CHECK(nn_plot_count_colour(c, want[0], 0.003, 0, 0, 100, 100) == 33 * 50 + 34 * 50, "black blocks: %zu",
        nn_plot_count_colour(c, want[0], 0.003, 0, 0, 100, 100));

  /* Equal ends of the range give the middle colour instead of dividing by zero. */
  st.vmin = st.vmax = 3;
  CHECK_OK(nn_plot_image(c, v, 1, 1, 0, 0, 10, 10, &st, NULL));
  CHECK(same_colour(nn_plot_pixel(c, 5, 5), want[1], 0.003), "flat range gives the middle");
  st.vmax = INFINITY;
  CHECK(nn_plot_image(c, v, 1, 1, 0, 0, 10, 10, &st, NULL) == -1 && strstr(nn_error(), "not finite"), "%s", nn_error());
  st.vmax = 1;
  CHECK(nn_plot_image(c, v, 0, 3, 0, 0, 10, 10, &st, NULL) == -1 && strstr(nn_error(), "empty"), "%s", nn_error());
  nn_plot_canvas_free(c);
}

static void test_png(void) {
  nn_plot_canvas *c;
  CHECK_OK(nn_plot_canvas_create(&c, 64, 32, 2));
  nn_plot_rgba fill = {0.2, 0.4, 0.6, 1};
  CHECK_OK(nn_plot_rect(c, 0, 0, 32, 32, &fill, NULL));
  unsigned char *png;
  size_t bytes;
  CHECK_OK(nn_plot_encode_png(c, &png, &bytes));
  CHECK(bytes > 8 && memcmp(png, "\x89PNG\r\n\x1a\n", 8) == 0, "PNG signature");
  free(png);

  char dir[] = "/tmp/nn_plot_test_XXXXXX";
  CHECK(mkdtemp(dir) != NULL, "temp folder");
  char path[256], junk[256];
  snprintf(path, sizeof path, "%s/out.png", dir);
  snprintf(junk, sizeof junk, "%s/junk.png", dir);
  CHECK_OK(nn_plot_save_png(c, path));
  nn_plot_canvas *back;
  CHECK_OK(nn_plot_load_png(&back, path));
  int w, h;
  nn_plot_canvas_pixels(back, &w, &h);
  CHECK(w == 128 && h == 64, "loaded size %d x %d", w, h);
  CHECK(same_colour(nn_plot_pixel(back, 10, 10), nn_plot_pixel(c, 10, 10), 0.5 / 255), "pixels survive the file");
  CHECK(nn_plot_count_colour(back, (nn_plot_rgba){1, 1, 1, 1}, 0, 0, 0, 0, 0) == 64 * 64, "right half white");
  nn_plot_canvas_free(back);

  nn_file_write_atomic(junk, "not a png", 9);
  CHECK(nn_plot_load_png(&back, junk) == -1 && strstr(nn_error(), "junk.png"), "%s", nn_error());
  snprintf(junk, sizeof junk, "%s/missing/out.png", dir);
  CHECK(nn_plot_save_png(c, junk) == -1 && strstr(nn_error(), "missing"), "%s", nn_error());
  unlink(path);
  snprintf(junk, sizeof junk, "%s/junk.png", dir);
  unlink(junk);
  rmdir(dir);
  nn_plot_canvas_free(c);
}

int main(void) {
  test_colours();
  test_canvas();
  test_markers();
  test_text();
  test_image();
  test_png();
  return nn_test_done();
}
