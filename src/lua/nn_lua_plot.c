/* nn._plot: the drawing canvas of nn_plot as Lua userdata ("nn.plot.Canvas"). lua/nn/plot.lua
 * builds charts on it. Coordinates are logical units (see nn_plot.h); colours are strings like
 * "#1f77b4"; style arguments come in an options table so calls read as what they draw:
 *
 *   c:polyline(xs, ys, {stroke = "#1f77b4", width = 1.5, dash = "--"})
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn_base.h"
#include "nn_lua.h"
#include "nn_plot.h"

#define CANVAS_MT "nn.plot.Canvas"

typedef struct canvas_ud {
  nn_plot_canvas *canvas; /* NULL once collected */
} canvas_ud;

static nn_plot_canvas *check_canvas(lua_State *L) {
  canvas_ud *ud = luaL_checkudata(L, 1, CANVAS_MT);
  if (!ud->canvas) luaL_error(L, "canvas is already freed");
  return ud->canvas;
}

static void push_canvas(lua_State *L, nn_plot_canvas *c) {
  canvas_ud *ud = lua_newuserdatauv(L, sizeof *ud, 0);
  ud->canvas = c;
  luaL_setmetatable(L, CANVAS_MT);
}

/* Options-table readers; `opt` is the stack index of the table, which may be absent (nil). */

/* The string option, or def; the result stays valid while the options table is on the stack. */
static const char *opt_string(lua_State *L, int opt, const char *key, const char *def) {
  if (lua_isnoneornil(L, opt)) return def;
  int type = lua_getfield(L, opt, key);
  if (type != LUA_TNIL && type != LUA_TSTRING)
    luaL_error(L, "option '%s': string expected, got %s", key, luaL_typename(L, -1));
  const char *v = type == LUA_TNIL ? def : lua_tostring(L, -1);
  lua_pop(L, 1);
  return v;
}

static nn_plot_rgba parse_colour(lua_State *L, const char *text, double alpha) {
  nn_plot_rgba c;
  if (nn_plot_parse_colour(text, &c) != 0) nn_lua_raise(L);
  c.a *= alpha;
  return c;
}

/* A colour option: the string, times the option `alpha` (default 1); `none` if absent. */
static nn_plot_rgba opt_colour(lua_State *L, int opt, const char *key, const char *def) {
  const char *text = opt_string(L, opt, key, def);
  return parse_colour(L, text ? text : "none", nn_lua_opt_number(L, opt, "alpha", 1));
}

static nn_plot_dash opt_dash(lua_State *L, int opt) {
  static const char *const names[] = {"-", "--", ":", "-.", "solid", "dashed", "dotted", "dashdot", NULL};
  const char *d = opt_string(L, opt, "dash", "-");
  for (int i = 0; names[i]; i++)
    if (strcmp(names[i], d) == 0) return (nn_plot_dash)(i % 4);
  return luaL_error(L, "option 'dash': '%s' is not one of - -- : -. solid dashed dotted dashdot", d);
}

/* {stroke = colour, width = 1, dash = "-"}: the outline; width 0 or no stroke colour draws none. */
static nn_plot_stroke opt_stroke(lua_State *L, int opt, const char *def_colour) {
  return (nn_plot_stroke){opt_colour(L, opt, "stroke", def_colour), nn_lua_opt_number(L, opt, "width", 1), opt_dash(L, opt)};
}

/* Scratch memory owned by a userdata left on the stack: the garbage collector frees it, also when
 * a Lua error jumps out of the function half way. */
static void *scratch(lua_State *L, size_t count, size_t size) {
  if (count > ((size_t)1 << 40) / size) luaL_error(L, "plot: %d elements is too many", (int)count);
  return lua_newuserdatauv(L, (count ? count : 1) * size, 0);
}

/* A Lua array of numbers as a C array (scratch memory). */
static double *check_numbers(lua_State *L, int index, const char *what, size_t *n) {
  luaL_checktype(L, index, LUA_TTABLE);
  *n = (size_t)luaL_len(L, index);
  double *v = scratch(L, *n, sizeof *v);
  for (size_t i = 0; i < *n; i++) {
    lua_rawgeti(L, index, (lua_Integer)i + 1);
    int ok;
    v[i] = lua_tonumberx(L, -1, &ok);
    if (!ok) luaL_error(L, "%s: element %d is a %s, not a number", what, (int)i + 1, luaL_typename(L, -1));
    lua_pop(L, 1);
  }
  return v;
}

/* Two arrays of the same length (x and y coordinates). */
static size_t check_points(lua_State *L, int ix, int iy, const char *what, double **x, double **y) {
  size_t nx, ny;
  *x = check_numbers(L, ix, what, &nx);
  *y = check_numbers(L, iy, what, &ny);
  if (nx != ny) luaL_error(L, "%s: %d x coordinates but %d y coordinates", what, (int)nx, (int)ny);
  return nx;
}

/* Pushes "#rrggbb" (alpha is left out). */
static void push_hex(lua_State *L, nn_plot_rgba c) {
  char buf[8];
  snprintf(buf, sizeof buf, "#%02x%02x%02x", (int)lround(255 * c.r), (int)lround(255 * c.g), (int)lround(255 * c.b));
  lua_pushstring(L, buf);
}

/* canvas(width, height [, scale]) -> a white canvas */
static int plot_canvas(lua_State *L) {
  double w = luaL_checknumber(L, 1), h = luaL_checknumber(L, 2), s = luaL_optnumber(L, 3, 1);
  nn_plot_canvas *c;
  if (nn_plot_canvas_create(&c, w, h, s) != 0) return nn_lua_raise(L);
  push_canvas(L, c);
  return 1;
}

/* load_png(path) -> canvas of the file's pixels (scale 1) */
static int plot_load_png(lua_State *L) {
  nn_plot_canvas *c;
  if (nn_plot_load_png(&c, luaL_checkstring(L, 1)) != 0) return nn_lua_raise(L);
  push_canvas(L, c);
  return 1;
}

/* cmap_colour(name, t) -> "#rrggbb" at t in [0, 1] */
static int plot_cmap_colour(lua_State *L) {
  nn_plot_cmap m;
  if (nn_plot_cmap_find(luaL_checkstring(L, 1), &m) != 0) return nn_lua_raise(L);
  push_hex(L, nn_plot_cmap_colour(m, luaL_checknumber(L, 2)));
  return 1;
}

/* colour(text) -> r, g, b, a in 0..1; raises on text that is not a colour */
static int plot_colour(lua_State *L) {
  nn_plot_rgba c = parse_colour(L, luaL_checkstring(L, 1), 1);
  lua_pushnumber(L, c.r), lua_pushnumber(L, c.g), lua_pushnumber(L, c.b), lua_pushnumber(L, c.a);
  return 4;
}

/* c:size() -> width, height, scale (logical); c:pixels() -> width, height of the PNG */
static int canvas_size(lua_State *L) {
  double w, h, s;
  nn_plot_canvas_size(check_canvas(L), &w, &h, &s);
  lua_pushnumber(L, w), lua_pushnumber(L, h), lua_pushnumber(L, s);
  return 3;
}

static int canvas_pixels(lua_State *L) {
  int w, h;
  nn_plot_canvas_pixels(check_canvas(L), &w, &h);
  lua_pushinteger(L, w), lua_pushinteger(L, h);
  return 2;
}

/* c:clip(x, y, w, h); c:unclip() */
static int canvas_clip(lua_State *L) {
  nn_plot_canvas *c = check_canvas(L);
  double x = luaL_checknumber(L, 2), y = luaL_checknumber(L, 3), w = luaL_checknumber(L, 4), h = luaL_checknumber(L, 5);
  if (nn_plot_clip(c, x, y, w, h) != 0) return nn_lua_raise(L);
  return 0;
}

static int canvas_unclip(lua_State *L) {
  nn_plot_unclip(check_canvas(L));
  return 0;
}

/* c:rect(x, y, w, h, {fill =, stroke =, width =, dash =, alpha =}) */
static int canvas_rect(lua_State *L) {
  nn_plot_canvas *c = check_canvas(L);
  double x = luaL_checknumber(L, 2), y = luaL_checknumber(L, 3), w = luaL_checknumber(L, 4), h = luaL_checknumber(L, 5);
  nn_plot_rgba fill = opt_colour(L, 6, "fill", NULL);
  nn_plot_stroke stroke = opt_stroke(L, 6, NULL);
  if (nn_plot_rect(c, x, y, w, h, &fill, &stroke) != 0) return nn_lua_raise(L);
  return 0;
}

/* c:polyline(xs, ys, {stroke = "black", width = 1, dash = "-", closed = false, alpha =}) */
static int canvas_polyline(lua_State *L) {
  nn_plot_canvas *c = check_canvas(L);
  nn_plot_stroke stroke = opt_stroke(L, 4, "black");
  bool closed = nn_lua_opt_bool(L, 4, "closed", false);
  double *x, *y;
  size_t n = check_points(L, 2, 3, "polyline", &x, &y);
  if (nn_plot_polyline(c, x, y, n, closed, &stroke) != 0) return nn_lua_raise(L);
  return 0;
}

/* c:polygon(xs, ys, {fill =, stroke =, width =, dash =, alpha =}) */
static int canvas_polygon(lua_State *L) {
  nn_plot_canvas *c = check_canvas(L);
  nn_plot_rgba fill = opt_colour(L, 4, "fill", NULL);
  nn_plot_stroke stroke = opt_stroke(L, 4, NULL);
  double *x, *y;
  size_t n = check_points(L, 2, 3, "polygon", &x, &y);
  if (nn_plot_polygon(c, x, y, n, &fill, &stroke) != 0) return nn_lua_raise(L);
  return 0;
}

/* c:markers(xs, ys, {shape = "o", radius = 3, fill = colour or array of colours (one per point),
 *   stroke =, width =, alpha =}). Fill alpha applies to the fill, not the edge. */
static int canvas_markers(lua_State *L) {
  static const char *const shapes[] = {"o", "s", "D", "^", "+", "x", NULL};
  nn_plot_canvas *c = check_canvas(L);
  const char *shape_name = opt_string(L, 4, "shape", "o");
  int shape = 0;
  while (shapes[shape] && strcmp(shapes[shape], shape_name) != 0) shape++;
  if (!shapes[shape]) return luaL_error(L, "markers: shape '%s' is not one of o s D ^ + x", shape_name);
  double radius = nn_lua_opt_number(L, 4, "radius", 3), alpha = nn_lua_opt_number(L, 4, "alpha", 1);
  nn_plot_stroke edge = {parse_colour(L, opt_string(L, 4, "stroke", "none"), 1), nn_lua_opt_number(L, 4, "width", 1),
                         NN_PLOT_SOLID};
  double *x, *y;
  size_t n = check_points(L, 2, 3, "markers", &x, &y);
  size_t nfill = 1;
  nn_plot_rgba one, *fill = &one;
  if (!lua_isnoneornil(L, 4) && lua_getfield(L, 4, "fill") == LUA_TTABLE) {
    nfill = (size_t)luaL_len(L, -1);
    fill = scratch(L, nfill, sizeof *fill);
    for (size_t i = 0; i < nfill; i++) {
      lua_rawgeti(L, -2, (lua_Integer)i + 1);
      const char *text = lua_tostring(L, -1);
      if (!text) return luaL_error(L, "markers: fill[%d] is a %s, not a colour", (int)i + 1, luaL_typename(L, -1));
      fill[i] = parse_colour(L, text, alpha);
      lua_pop(L, 1);
    }
  } else {
    one = opt_colour(L, 4, "fill", "black");
  }
  if (nn_plot_markers(c, x, y, n, (nn_plot_marker)shape, radius, fill, nfill, &edge) != 0) return nn_lua_raise(L);
  return 0;
}

static nn_plot_font opt_font(lua_State *L, int opt) {
  return (nn_plot_font){nn_lua_opt_number(L, opt, "size", 10), nn_lua_opt_bool(L, opt, "bold", false)};
}

/* c:text(s, x, y, {size = 10, halign = "left", valign = "baseline", angle = 0, colour = "black",
 *   bold = false}) */
static int canvas_text(lua_State *L) {
  static const char *const h_names[] = {"left", "center", "right", NULL};
  static const char *const v_names[] = {"top", "middle", "baseline", "bottom", NULL};
  nn_plot_canvas *c = check_canvas(L);
  const char *s = luaL_checkstring(L, 2);
  double x = luaL_checknumber(L, 3), y = luaL_checknumber(L, 4);
  nn_plot_font font = opt_font(L, 5);
  const char *h = opt_string(L, 5, "halign", "left"), *v = opt_string(L, 5, "valign", "baseline");
  int hi = 0, vi = 0;
  while (h_names[hi] && strcmp(h_names[hi], h) != 0) hi++;
  while (v_names[vi] && strcmp(v_names[vi], v) != 0) vi++;
  if (!h_names[hi]) return luaL_error(L, "text: halign '%s' is not left, center or right", h);
  if (!v_names[vi]) return luaL_error(L, "text: valign '%s' is not top, middle, baseline or bottom", v);
  nn_plot_rgba colour = opt_colour(L, 5, "colour", "black");
  double angle = nn_lua_opt_number(L, 5, "angle", 0);
  if (nn_plot_text(c, s, x, y, &font, (nn_plot_halign)hi, (nn_plot_valign)vi, angle, colour) != 0)
    return nn_lua_raise(L);
  return 0;
}

/* c:text_size(s, {size =, bold =}) -> width, height of one line, cap height */
static int canvas_text_size(lua_State *L) {
  nn_plot_canvas *c = check_canvas(L);
  nn_plot_font font = opt_font(L, 3);
  double w, h, cap;
  if (nn_plot_text_size(c, luaL_checkstring(L, 2), &font, &w, &h, &cap) != 0) return nn_lua_raise(L);
  lua_pushnumber(L, w), lua_pushnumber(L, h), lua_pushnumber(L, cap);
  return 3;
}

/* The rows x cols values of an image starting at element `offset` (0-based) of a tensor or a flat
 * Lua array, as floats (scratch memory). */
static float *image_values(lua_State *L, int index, size_t offset, size_t count) {
  nn_tensor *t = nn_lua_to_tensor(L, index);
  size_t have = t ? t->count : (lua_istable(L, index) ? (size_t)luaL_len(L, index) : 0);
  if (!t && !lua_istable(L, index)) luaL_typeerror(L, index, "tensor or array of numbers");
  if (offset + count > have)
    luaL_error(L, "image: values %d..%d asked of %d", (int)offset + 1, (int)(offset + count), (int)have);
  float *v = scratch(L, count, sizeof *v);
  for (size_t i = 0; i < count; i++) {
    if (t) {
      v[i] = (float)nn_tensor_get(t, offset + i);
      continue;
    }
    lua_rawgeti(L, index, (lua_Integer)(offset + i) + 1);
    int ok;
    v[i] = (float)lua_tonumberx(L, -1, &ok);
    if (!ok) luaL_error(L, "image: element %d is a %s, not a number", (int)(offset + i) + 1, luaL_typename(L, -1));
    lua_pop(L, 1);
  }
  return v;
}

/* c:image(values, rows, cols, x, y, w, h, {cmap = "gray", vmin = 0, vmax = 1, integer = false,
 *   offset = 0, nan = "#ff00ff"}) -> x, y, w, h actually covered */
static int canvas_image(lua_State *L) {
  nn_plot_canvas *c = check_canvas(L);
  lua_Integer rows = luaL_checkinteger(L, 3), cols = luaL_checkinteger(L, 4);
  luaL_argcheck(L, rows >= 1 && cols >= 1 && rows <= 1 << 20 && cols <= 1 << 20, 3,
                "image needs 1 or more rows and columns");
  double x = luaL_checknumber(L, 5), y = luaL_checknumber(L, 6), w = luaL_checknumber(L, 7), h = luaL_checknumber(L, 8);
  nn_plot_image_style style;
  if (nn_plot_cmap_find(opt_string(L, 9, "cmap", "gray"), &style.cmap) != 0) return nn_lua_raise(L);
  style.vmin = nn_lua_opt_number(L, 9, "vmin", 0);
  style.vmax = nn_lua_opt_number(L, 9, "vmax", 1);
  style.integer_scale = nn_lua_opt_bool(L, 9, "integer", false);
  style.nan_colour = parse_colour(L, opt_string(L, 9, "nan", "#ff00ff"), 1);
  double offset = nn_lua_opt_number(L, 9, "offset", 0);
  luaL_argcheck(L, offset >= 0 && offset == floor(offset), 9, "offset must be a whole number >= 0");
  float *v = image_values(L, 2, (size_t)offset, (size_t)(rows * cols));
  double drawn[4];
  if (nn_plot_image(c, v, (int)rows, (int)cols, x, y, w, h, &style, drawn) != 0) return nn_lua_raise(L);
  for (int i = 0; i < 4; i++) lua_pushnumber(L, drawn[i]);
  return 4;
}

/* c:save(path): PNG, written atomically; the folder is made if missing. */
static int canvas_save(lua_State *L) {
  nn_plot_canvas *c = check_canvas(L);
  const char *path = luaL_checkstring(L, 2);
  const char *slash = strrchr(path, '/');
  if (slash && slash != path) {
    lua_pushlstring(L, path, (size_t)(slash - path));
    if (nn_mkdirs(lua_tostring(L, -1)) != 0) return nn_lua_raise(L);
  }
  if (nn_plot_save_png(c, path) != 0) return nn_lua_raise(L);
  return 0;
}

/* c:png() -> the PNG file's bytes as a string */
static int canvas_png(lua_State *L) {
  unsigned char *png;
  size_t bytes;
  if (nn_plot_encode_png(check_canvas(L), &png, &bytes) != 0) return nn_lua_raise(L);
  lua_pushlstring(L, (const char *)png, bytes);
  free(png);
  return 1;
}

/* c:pixel(px, py) -> "#rrggbb" of a pixel (0-based pixel coordinates) */
static int canvas_pixel(lua_State *L) {
  nn_plot_canvas *c = check_canvas(L);
  push_hex(L, nn_plot_pixel(c, (int)luaL_checkinteger(L, 2), (int)luaL_checkinteger(L, 3)));
  return 1;
}

/* c:count(colour [, tol = 0.02 [, px, py, pw, ph]]) -> pixels within tol of the colour, in the
 * pixel rectangle or the whole canvas */
static int canvas_count(lua_State *L) {
  nn_plot_canvas *c = check_canvas(L);
  nn_plot_rgba col = parse_colour(L, luaL_checkstring(L, 2), 1);
  double tol = luaL_optnumber(L, 3, 0.02);
  int px = (int)luaL_optinteger(L, 4, 0), py = (int)luaL_optinteger(L, 5, 0);
  int pw = (int)luaL_optinteger(L, 6, 0), ph = (int)luaL_optinteger(L, 7, 0);
  lua_pushinteger(L, (lua_Integer)nn_plot_count_colour(c, col, tol, px, py, pw, ph));
  return 1;
}

static int canvas_gc(lua_State *L) {
  canvas_ud *ud = luaL_checkudata(L, 1, CANVAS_MT);
  nn_plot_canvas_free(ud->canvas);
  ud->canvas = NULL;
  return 0;
}

static int canvas_tostring(lua_State *L) {
  double w, h, s;
  nn_plot_canvas_size(check_canvas(L), &w, &h, &s);
  lua_pushfstring(L, "nn.plot.Canvas(%f x %f at scale %f)", w, h, s);
  return 1;
}

int nn_lua_open_plot(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"size", canvas_size}, {"pixels", canvas_pixels},       {"clip", canvas_clip},       {"unclip", canvas_unclip},
      {"rect", canvas_rect}, {"polyline", canvas_polyline},   {"polygon", canvas_polygon}, {"markers", canvas_markers},
      {"text", canvas_text}, {"text_size", canvas_text_size}, {"image", canvas_image},     {"save", canvas_save},
      {"png", canvas_png},   {"pixel", canvas_pixel},         {"count", canvas_count},     {NULL, NULL},
  };
  static const luaL_Reg meta[] = {{"__gc", canvas_gc}, {"__tostring", canvas_tostring}, {NULL, NULL}};
  if (luaL_newmetatable(L, CANVAS_MT)) {
    luaL_setfuncs(L, meta, 0);
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
  }
  lua_pop(L, 1);
  static const luaL_Reg fns[] = {{"canvas", plot_canvas},
                                 {"load_png", plot_load_png},
                                 {"cmap_colour", plot_cmap_colour},
                                 {"colour", plot_colour},
                                 {NULL, NULL}};
  luaL_newlib(L, fns);
  return 1;
}
