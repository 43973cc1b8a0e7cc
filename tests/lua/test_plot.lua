-- nn.plot: every chart kind is drawn to a PNG, the file is read back and its pixels checked (size,
-- series colours, a legend with something in it); bad data must raise a clear error at the
-- caller's line and leave no file.
local check = require "check"
local plot = require "nn.plot"
local C = require "nn._plot"
local T = require "nn._tensor"

local tmp = os.tmpname()
local dir = tmp .. "_plot"
local tab10 = plot.tab10

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

-- A rectangle in logical units as whole pixels of a canvas of the given scale.
local function pixels(rect, scale)
  return math.floor(rect.x * scale), math.floor(rect.y * scale), math.ceil(rect.w * scale),
    math.ceil(rect.h * scale)
end

-- Pixels of a colour inside a logical rectangle of the saved file.
local function count_in(png, colour, rect, scale, tol)
  local x, y, w, h = pixels(rect, scale)
  return png:count(colour, tol or 0.02, x, y, w, h)
end

-- Pixels that are not white inside a logical rectangle.
local function ink_in(png, rect, scale)
  local x, y, w, h = pixels(rect, scale)
  return w * h - png:count("#ffffff", 0.01, x, y, w, h)
end

-- Line charts: two series, sizes, colours, legend; then a log axis and the errors.
do
  local file = dir .. "/line.png"
  local acc, loss = {}, {}
  for e = 1, 20 do acc[e], loss[e] = 1 - 0.5 / e, 2 / e end
  local fig = plot.line{series = {{name = "train", y = acc},
      {name = "test", x = T.from_table(acc), y = loss}},
    title = "Learning curves", xlabel = "epoch", ylabel = "accuracy", width = 500, height = 400,
    scale = 2, file = file}
  check.eq(fig.file, file, "figure remembers its file")
  local png = C.load_png(file)
  local w, h = png:pixels()
  check.eq(w, 1000, "PNG width is width x scale")
  check.eq(h, 800, "PNG height is height x scale")
  local panel = fig:panel(1)
  check.ok(count_in(png, tab10[1], panel.rect, 2) > 300, "first series is drawn in tab10 blue")
  check.ok(count_in(png, tab10[2], panel.rect, 2) > 300, "second series is drawn in tab10 orange")
  check.ok(panel.legend_rect ~= nil, "two named series get a legend")
  check.ok(ink_in(png, panel.legend_rect, 2) > 500, "the legend has text and handles in it")
  check.ok(count_in(png, tab10[1], panel.legend_rect, 2) > 10, "legend shows the first colour")
  check.ok(count_in(png, tab10[2], panel.legend_rect, 2) > 10, "legend shows the second colour")
  local r = panel.rect
  check.ok(r.x > 30 and r.y > 20 and r.x + r.w < 500 and r.y + r.h < 380,
    "axes leave room for labels")
  -- Text is drawn outside the axes: tick labels left of it, the title above.
  check.ok(ink_in(png, {x = 0, y = r.y, w = r.x - 5, h = r.h}, 2) > 500, "y tick labels and label")
  check.ok(ink_in(png, {x = r.x, y = 0, w = r.w, h = r.y - 2}, 2) > 300, "a title")

  -- One epoch: a series of one point is drawn as a marker, not left invisible.
  local one = plot.line{series = {{y = {0.8}}, {y = {0.9}}}, scale = 2, file = dir .. "/one_point.png"}
  check.ok(one:panel(1).legend_rect == nil, "unnamed series: no legend, whose handles would count")
  local one_png = C.load_png(dir .. "/one_point.png")
  check.ok(count_in(one_png, tab10[1], one:panel(1).rect, 2) > 20, "a one-point series shows as a marker")
  check.ok(count_in(one_png, tab10[2], one:panel(1).rect, 2) > 20, "and so does the second one")

  local logf = plot.line{series = {{y = loss}}, log_y = true, file = dir .. "/log.png"}
  check.ok(logf:panel(1).legend_rect == nil, "one unnamed series has no legend")
  check.fails(function() plot.line{series = {{y = {1, 0, 2}}}, log_y = true} end,
    "log scale needs positive values")
  check.fails(function()
    plot.line{series = {{name = "train", y = {0.1, 0 / 0, 0.3}}}, file = dir .. "/nan.png"}
  end, "series 'train' y[2] is NaN")
  check.ok(not exists(dir .. "/nan.png"), "no file is written for bad data")
  check.fails(function() plot.line{series = {{y = {}}}} end, "y is empty")
  check.fails(function() plot.line{series = {}} end, "series is empty")
  check.fails(function() plot.line{series = {{x = {1, 2}, y = {1, 2, 3}}}} end,
    "2 x values but 3 y values")
  check.fails(function() plot.line{series = {{y = {1, math.huge}}}} end, "y[2] is infinite")
  check.fails(function() plot.line{series = {{y = {1, "two"}}}} end, "y[2] is a string")
  -- The error points at the line in this file that made the chart.
  check.fails(function() plot.line{series = {{y = {}}}} end, "test_plot.lua:")
  local function tomato() plot.line{series = {{y = {1, 2}, colour = "tomato"}}} end
  check.fails(tomato, "unknown colour 'tomato'")
  check.fails(tomato, "test_plot.lua:")
  check.fails(function() plot.line{series = {{y = {1, 2}}}, ylim = {1, 0}} end, "lo < hi")
end

-- Round-number ticks: steps of 1, 2, 2.5 or 5 times a power of ten; whole numbers for whole x;
-- decades on log axes; a power of ten taken out of very large numbers.
do
  local function labels(axis)
    local out = {}
    for i, t in ipairs(axis.ticks) do
      out[i] = type(t.label) == "table" and t.label[1] .. "^" .. t.label[2] or t.label
    end
    return table.concat(out, " ")
  end
  local p = plot.line{series = {{x = {0, 1}, y = {0, 1}}}, xlim = {0, 1}, ylim = {0, 1}}:panel(1)
  check.eq(labels(p.yaxis), "0.0 0.2 0.4 0.6 0.8 1.0", "0..1 axis")
  p = plot.line{series = {{y = {3, 1, 2}}}}:panel(1)
  check.eq(labels(p.xaxis), "1 2 3", "whole-number x values get whole-number ticks")
  p = plot.line{series = {{y = {-0.75, 0.5}}}, ylim = {-1, 0.5}}:panel(1)
  check.eq(labels(p.yaxis),
    "\u{2212}1.0 \u{2212}0.8 \u{2212}0.6 \u{2212}0.4 \u{2212}0.2 0.0 0.2 0.4",
    "negative ticks use a minus sign and one number of decimals")
  p = plot.line{series = {{y = {-0.75, 0.5}}}, ylim = {-1, 0.5}, height = 150}:panel(1)
  check.eq(labels(p.yaxis), "\u{2212}1.0 \u{2212}0.5 0.0 0.5", "a short axis gets fewer ticks")
  p = plot.line{series = {{y = {1e-3, 1}}}, log_y = true}:panel(1)
  check.eq(labels(p.yaxis), "10^\u{2212}3 10^\u{2212}2 10^\u{2212}1 10^0", "log axis: decades")
  check.ok(#p.yaxis.minor >= 20, "log axis: minor ticks between decades")
  p = plot.line{series = {{y = {0, 3e6}}}, ylim = {0, 3e6}}:panel(1)
  check.eq(p.yaxis.power, "1e6", "large numbers are shown in units of 1e6")
  check.eq(labels(p.yaxis), "0.0 0.5 1.0 1.5 2.0 2.5 3.0", "labels in units of 1e6")
  p = plot.line{series = {{x = {1, 2, 3}, y = {1, 1, 1}}}}:panel(1)
  check.ok(p.yaxis.lo < 1 and p.yaxis.hi > 1, "a flat series still gets an axis around it")
end

-- Scatter: 10,000 points of 10 classes, every class colour shows; centroids and ellipses.
do
  math.randomseed(3)
  local x, y, class = {}, {}, {}
  for i = 1, 10000 do
    local k = i % 10
    class[i] = k
    x[i] = 4 * math.cos(k) + (math.random() - 0.5)
    y[i] = 4 * math.sin(k) + (math.random() - 0.5)
  end
  local fig = plot.scatter{x = x, y = T.from_table(y), class = T.from_table(class, "int32"),
    centroids = true, ellipses = true, title = "scatter", file = dir .. "/scatter.png"}
  local png = C.load_png(dir .. "/scatter.png")
  local panel = fig:panel(1)
  for k = 1, 10 do
    check.ok(count_in(png, tab10[k], panel.rect, 1.5, 0.06) > 30,
      "class " .. (k - 1) .. " colour appears")
  end
  check.ok(panel.legend_rect and panel.legend_rect.x > panel.rect.x + panel.rect.w,
    "ten classes get a legend outside the axes")
  check.ok(ink_in(png, panel.legend_rect, 1.5) > 1000, "legend is not empty")
  check.eq(#panel.centroids, 10, "one centroid per class")
  check.near(panel.centroids[2].x, 4 * math.cos(1), 0.02, "centroid of class 1")
  check.eq(panel.centroids[2].n, 1000, "class 1 has 1000 points")
  check.fails(function() plot.scatter{x = {1, 2}, y = {1}} end, "2 x values but 1 y values")
  check.fails(function() plot.scatter{x = {1, 2}, y = {1, 2}, class = {0}} end,
    "1 labels for 2 points")
end

-- The 95% ellipse: every point is at squared Mahalanobis distance 5.991 from the mean.
do
  local sxx, syy, sxy = 4, 1, 1.5
  local xs, ys = plot.confidence_ellipse(1, 2, sxx, syy, sxy)
  local det = sxx * syy - sxy * sxy
  local worst = 0
  for i = 1, #xs do
    local dx, dy = xs[i] - 1, ys[i] - 2
    local d2 = (syy * dx * dx - 2 * sxy * dx * dy + sxx * dy * dy) / det
    worst = math.max(worst, math.abs(d2 - 5.991))
  end
  check.ok(worst < 1e-9, "ellipse points lie on the 95% contour (off by " .. worst .. ")")
  local ax, ay = plot.confidence_ellipse(0, 0, 1, 9, 0)
  local right, top = -math.huge, -math.huge
  for i = 1, #ay do right, top = math.max(right, ax[i]), math.max(top, ay[i]) end
  check.near(top, math.sqrt(5.991 * 9), 1e-6, "axis-aligned ellipse reaches sqrt(5.991 var) up")
  check.near(right, math.sqrt(5.991), 1e-6, "and sqrt(5.991 var) across")
end

-- Histogram: counts (numpy's bins: the last includes its right edge), the mean line, legend.
do
  local fig = plot.hist{values = {0, 0.5, 1, 1, 2}, bins = 2, mean_line = true,
    file = dir .. "/hist.png"}
  local panel = fig:panel(1)
  check.eq(table.concat(panel.counts, ","), "2,3", "counts per bin")
  check.near(panel.mean, 0.9, 1e-12, "mean")
  local png = C.load_png(dir .. "/hist.png")
  check.ok(count_in(png, tab10[1], panel.rect, 1.5) > 2000, "bars are drawn")
  check.ok(count_in(png, "#d62728", panel.rect, 1.5) > 50, "the mean line is drawn")
  check.ok(panel.legend_rect and ink_in(png, panel.legend_rect, 1.5) > 300, "legend names the mean")
  check.fails(function() plot.hist{values = {}} end, "values is empty")
  check.fails(function() plot.hist{values = {1, 0 / 0}} end, "values[2] is NaN")
  check.fails(function() plot.hist{values = {1}, bins = {1, 1}} end, "bin edges must increase")
end

-- Grouped bars with a threshold line; long group names turn the labels.
do
  local fig = plot.figure{cols = 2, width = 900, height = 400}
  fig:panel(1):bars{groups = {"MLP-1", "MLP-2", "MLP-3"}, ylim = {0.9, 1},
    series = {{name = "train", values = {0.99, 0.98, 0.97}},
      {name = "test", values = {0.95, 0.96, 0.93}}}}
  fig:panel(2):bars{groups = {"a rather long name", "another long group name", "and a third one"},
    series = {{name = "gap", values = {0.01, -0.02, 0.004}}},
    hlines = {{y = 0.05, label = "threshold"}}, bar_labels = "%.3f"}
  fig:save(dir .. "/bars.png")
  local png = C.load_png(dir .. "/bars.png")
  local p1, p2 = fig:panel(1), fig:panel(2)
  check.ok(count_in(png, tab10[1], p1.rect, 1.5) > 1000, "train bars")
  check.ok(count_in(png, tab10[2], p1.rect, 1.5) > 1000, "test bars")
  check.ok(ink_in(png, p1.legend_rect, 1.5) > 300, "series legend")
  check.ok(count_in(png, "#d62728", p2.rect, 1.5) > 50, "threshold line")
  check.ok(p2.legend_rect ~= nil, "a labelled threshold gets a legend")
  check.fails(function() fig:panel(1):bars{groups = {"a"}, series = {{values = {1}}}} end,
    "panel 1 already has a bars chart")
  check.fails(function() plot.bars{groups = {"a", "b"}, series = {{values = {1}}}} end,
    "1 values for 2 groups")
  check.fails(function() fig:panel(5) end, "there is no panel 5")
end

-- Heatmaps: a diverging map symmetric about 0, cell colours from the map, a colour bar.
do
  local data = {{-2, 0, 1}, {0.5, 2, -1}}
  local fig = plot.heatmap{data = data, title = "weights", file = dir .. "/heat.png"}
  local panel = fig:panel(1)
  check.eq(panel.vmin, -2, "symmetric range, low end")
  check.eq(panel.vmax, 2, "symmetric range, high end")
  local png = C.load_png(dir .. "/heat.png")
  local r, s = panel.rect, 1.5
  -- Centre of cell (row 1, col 1) is the low end of RdBu_r; (2, 2) the high end.
  local cw, ch = r.w / 3, r.h / 2
  local low, high = C.cmap_colour("RdBu_r", 0), C.cmap_colour("RdBu_r", 1)
  check.eq(png:pixel(math.floor((r.x + cw / 2) * s), math.floor((r.y + ch / 2) * s)), low,
    "cell (1, 1) has the low colour")
  check.eq(png:pixel(math.floor((r.x + 1.5 * cw) * s), math.floor((r.y + 1.5 * ch) * s)), high,
    "cell (2, 2) has the high colour")
  local bar = {x = r.x + r.w, y = r.y, w = 60, h = r.h}
  check.ok(count_in(png, high, bar, s, 0.03) > 20, "colour bar shows the high end")
  check.ok(count_in(png, low, bar, s, 0.03) > 20, "colour bar shows the low end")

  local cm = T.from_table({{50, 2}, {3, 45}}, "int32")
  local fig2 = plot.heatmap{data = cm, cmap = "Blues", annotate = true,
    xticklabels = {"cat", "dog"}, file = dir .. "/confusion.png"}
  check.eq(fig2:panel(1).vmin, 2, "sequential map uses the data range")
  check.fails(function() plot.heatmap{data = {{1, 2}, {3}}} end, "row 2 has 1 values")
  check.fails(function() plot.heatmap{data = {{1, 0 / 0}}} end, "is NaN")
  check.fails(function() plot.heatmap{data = {1, 2, 3}} end, "expected a 2-d tensor")
  check.fails(function() plot.heatmap{data = {{1}}, cmap = "jet"} end, "unknown colour map 'jet'")
end

-- Image grids: whole-pixel magnification, per-tile and shared ranges, captions, channels.
do
  local imgs = T.new({2, 4, 4})
  for r = 1, 4 do
    for c = 1, 4 do
      imgs:set((r + c) % 2, 1, r, c)        -- a checkerboard in 0..1
      imgs:set(10 * ((r + c) % 2), 2, r, c) -- the same in 0..10
    end
  end
  local fig = plot.image_grid{images = imgs, captions = {"one", "two"}, width = 400, height = 300,
    file = dir .. "/grid_tile.png"}
  local tiles = fig:panel(1).tiles
  check.eq(#tiles, 2, "two tiles")
  local s = 1.5
  local k = tiles[1].w * s / 4
  check.ok(k >= 2 and math.abs(k - math.floor(k + 0.5)) < 1e-9,
    "each image pixel is a whole block of pixels")
  check.near(tiles[2].w, tiles[1].w, 1e-9, "tiles are alike")
  local png = C.load_png(dir .. "/grid_tile.png")
  -- Every block is flat: the 4 x 4 image shows exactly two colours over the whole tile.
  local x, y, w, h = pixels(tiles[1], s)
  local x0, y0 = math.floor(tiles[1].x * s + 0.5), math.floor(tiles[1].y * s + 0.5)
  k = math.floor(k + 0.5)
  local black = png:count("#000000", 0, x0, y0, 4 * k, 4 * k)
  local white = png:count("#ffffff", 0, x0, y0, 4 * k, 4 * k)
  check.eq(black + white, 16 * k * k, "no blurred pixels between blocks")
  check.eq(black, 8 * k * k, "half the blocks are black")
  check.ok(w > 0 and h > 0, "tile has a size")
  -- Per-tile ranges: both checkerboards reach white.
  local t2x, t2y = math.floor(tiles[2].x * s + 0.5), math.floor(tiles[2].y * s + 0.5)
  check.eq(png:count("#ffffff", 0, t2x, t2y, 4 * k, 4 * k), 8 * k * k, "tile 2 uses its own range")

  local shared = plot.image_grid{images = imgs, normalize = "shared", colorbar = true,
    width = 400, height = 300, file = dir .. "/grid_shared.png"}
  local st = shared:panel(1).tiles[1]
  local spng = C.load_png(dir .. "/grid_shared.png")
  local sx, sy = math.floor(st.x * s + 0.5), math.floor(st.y * s + 0.5)
  local sk = math.floor(st.w * s / 4 + 0.5)
  check.eq(spng:count("#ffffff", 0, sx, sy, 4 * sk, 4 * sk), 0,
    "with a shared range tile 1 stays dark")

  local nchw = T.new({2, 3, 5, 5})
  check.eq(#plot.image_grid{images = nchw}:panel(1).tiles, 6, "N x C images as N*C tiles")
  check.eq(#plot.image_grid{images = nchw, channels = "mean"}:panel(1).tiles, 2,
    "or as N channel means")
  check.eq(#plot.image_grid{images = {{{1, 2}, {3, 4}}, {{0, 0}, {1, 1}}}}:panel(1).tiles, 2,
    "a list of 2-d tables")
  check.fails(function() plot.image_grid{images = imgs, captions = {"one"}} end,
    "1 captions for 2 tiles")
  check.fails(function() plot.image_grid{images = T.new({0, 4, 4})} end, "is empty")
  check.fails(function() plot.image_grid{images = imgs, normalize = "bogus"} end,
    "normalize must be")
end

-- Figures: panels, PNG bytes, errors.
do
  local fig = plot.figure{rows = 2, cols = 2, title = "four panels"}
  check.eq(fig:panel(2, 1).index, 3, "panel(row, col) counts row by row")
  fig:panel(1):line{series = {{y = {1, 2, 3}}}}
  fig:panel(4):heatmap{data = {{1, 2}, {3, 4}}}
  check.eq(fig:png():sub(1, 8), "\137PNG\r\n\26\n", "png() gives PNG bytes")
  check.fails(function() plot.figure{rows = 0} end, "rows and cols must be whole numbers")
  check.fails(function() plot.figure{width = 0} end, "bad size")
  check.fails(function() fig:save("") end, "a file name is needed")
  check.fails(function() fig:save("/proc/no/such/place.png") end, "test_plot.lua:")
end

os.execute("rm -r '" .. dir .. "'")
os.remove(tmp)
check.done()
