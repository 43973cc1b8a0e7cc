-- nn.plot: charts as PNG files, drawn to look like matplotlib's defaults (tab10 colours, DejaVu
-- Sans, ticks outside, a framed legend placed where it hides the least data).
--
--   local fig = nn.plot.figure{cols = 2, title = "MLP-1"}
--   fig:panel(1):line{series = {{name = "train", y = acc_train}, {name = "test", y = acc_test}},
--     xlabel = "epoch", ylabel = "accuracy"}
--   fig:panel(2):line{series = {{name = "train", y = loss}}, log_y = true, ylabel = "loss"}
--   fig:save("results/mlp/curves.png")
--
--   nn.plot.scatter{x = pc1, y = pc2, class = labels, ellipses = true, file = "pca.png"}
--
-- Chart kinds (panel methods, and module functions of the same name that draw a one-panel figure
-- and save it to `file` when given): line, scatter, hist, bars, heatmap, image_grid. Data are Lua
-- arrays or nn tensors. Bad data (NaN, empty, wrong lengths) raise an error at the calling line
-- before anything is drawn, so no broken file is written.
--
-- The pixel work (markers, images, text, PNG) is C (nn._plot); this file decides what to draw:
-- axis limits and round-number ticks, the layout of each panel, legends and colour bars.
local C = require "nn._plot"
local tensor = require "nn._tensor"
local util = require "nn.util"

local plot = {}

-- matplotlib's default colour cycle; distinguishable for ten classes.
plot.tab10 = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
  "#7f7f7f", "#bcbd22", "#17becf"}

-- Sizes in logical units. One unit is a pixel of a matplotlib figure at 100 dpi, so a point is
-- 100/72 units and the defaults below are matplotlib's rcParams; the canvas scale (default 1.5)
-- then gives a 150-dpi picture.
local PT = 100 / 72
local S = {
  font = 10 * PT,        -- tick labels, axis labels, legend
  title = 12 * PT,       -- panel titles
  suptitle = 13 * PT,    -- figure title
  small = 8 * PT,        -- captions, cell values, the 1e6 of a scaled axis
  line = 1.5 * PT,       -- data lines
  spine = 0.8 * PT,      -- the frame of the axes, and ticks
  tick = 3.5 * PT,       -- major tick length
  minor = 2 * PT,        -- minor tick length (log axes)
  tick_pad = 3.5 * PT,   -- tick to its label
  label_pad = 4 * PT,    -- tick labels to the axis label
  title_pad = 6 * PT,    -- axes to its title
  pad = 6 * PT,          -- panel edge to anything drawn in it
  grid = "#b0b0b0",
  grid_alpha = 0.4,
  frame = "#cccccc",     -- legend frame
}
local MINUS = "\u{2212}"  -- tick labels use a real minus sign, as matplotlib does

-- A mistake in the caller's data is raised at the caller's line, not inside this file.
local fail = util.fail

-- The message of an error raised by nn._plot, without the position it names (a line of this file).
local function message_of(err) return (tostring(err):gsub("^[^:]*:%d+: ", "")) end

---------------------------------------------------------------------------------------------------
-- Data: Lua arrays or tensors, checked once on the way in.

local function is_array(x) return type(x) == "table" and getmetatable(x) == nil end

-- A flat array of finite numbers; `what` names it in errors ("series 'train' y").
local function numbers(x, what)
  if x == nil then fail("%s is missing", what) end
  local v = tensor.is(x) and x:flat() or x
  if not is_array(v) then
    fail("%s: expected an array of numbers or a tensor, got %s", what, type(x))
  end
  if #v == 0 then fail("%s is empty", what) end
  for i = 1, #v do
    local e = v[i]
    if type(e) ~= "number" then fail("%s[%d] is a %s, not a number", what, i, type(e)) end
    if e ~= e then fail("%s[%d] is NaN", what, i) end
    if e == math.huge or e == -math.huge then fail("%s[%d] is infinite", what, i) end
  end
  return v
end

local function shape_of(x)
  if tensor.is(x) then return x:shape() end
  local shape, level = {}, x
  while is_array(level) do
    shape[#shape + 1] = #level
    level = level[1]
  end
  return shape
end

-- A 2-d tensor or nested table as a flat array, with its rows and columns.
local function matrix(x, what)
  local shape = shape_of(x)
  if #shape ~= 2 then
    fail("%s: expected a 2-d tensor or table, got %d dimensions", what, #shape)
  end
  local flat = x
  if not tensor.is(x) then
    flat = {}
    for r = 1, shape[1] do
      if not is_array(x[r]) or #x[r] ~= shape[2] then
        fail("%s: row %d has %s values, row 1 has %d", what, r, is_array(x[r]) and #x[r] or "no",
          shape[2])
      end
      table.move(x[r], 1, shape[2], #flat + 1, flat)
    end
  end
  return numbers(flat, what), shape[1], shape[2]
end

local function range_of(v, lo, hi)
  lo, hi = lo or math.huge, hi or -math.huge
  for i = 1, #v do
    if v[i] < lo then lo = v[i] end
    if v[i] > hi then hi = v[i] end
  end
  return lo, hi
end

local function log10(v) return math.log(v, 10) end

-- A colour given by the caller, checked now so that a typo is reported at the caller's line;
-- nil gives the default.
local function colour_of(c, default, what)
  if c == nil then return default end
  local ok, err = pcall(C.colour, c)
  if not ok then fail("%s: %s", what, message_of(err)) end
  return c
end

---------------------------------------------------------------------------------------------------
-- Axes: limits, ticks and the mapping from data to the canvas.

-- Round steps as in matplotlib's MaxNLocator: 1, 2, 2.5, 5 times a power of ten, the smallest
-- giving at most `bins` intervals over [lo, hi].
-- With `integer`, steps are whole numbers (no 2.5), for counts such as epochs.
local function round_step(lo, hi, bins, integer)
  local raw = (hi - lo) / bins
  if integer and raw < 1 then return 1 end
  local mag = 10 ^ math.floor(log10(raw))
  for _, m in ipairs{1, 2, 2.5, 5, 10} do
    if m * mag >= raw * (1 - 1e-9) and not (integer and m == 2.5 and mag < 10) then
      return m * mag
    end
  end
end

local function decimals(step)
  for d = 0, 12 do
    local scaled = step * 10 ^ d
    if math.abs(scaled - math.floor(scaled + 0.5)) < 1e-6 * scaled then return d end
  end
  return 12
end

local function format_number(v, d)
  local s = string.format("%." .. d .. "f", v)
  if tonumber(s) == 0 then s = s:gsub("^%-", "") end
  return (s:gsub("^%-", MINUS))
end

-- Ticks of a linear axis over [lo, hi]. Labels share one number of decimals; very large or very
-- small numbers are divided by a power of ten that is written once at the end of the axis.
local function linear_ticks(lo, hi, bins, integer)
  local step = round_step(lo, hi, bins, integer)
  local ticks = {}
  for k = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9) do
    ticks[#ticks + 1] = {value = k * step}
  end
  local big = math.max(math.abs(lo), math.abs(hi))
  local power = 0
  if big >= 1e6 or big < 1e-3 then power = math.floor(log10(big)) end
  local d = decimals(step / 10 ^ power)
  for _, t in ipairs(ticks) do t.label = format_number(t.value / 10 ^ power, d) end
  return ticks, power ~= 0 and "1e" .. format_number(power, 0) or nil
end

-- Ticks of a log axis over [lo, hi] (exponents): decades labelled 10^k (thinned to at most bins),
-- with unlabelled minor ticks at 2..9; under two decades, 1-2-5 steps with plain labels.
local function log_ticks(lo, hi, bins)
  local ticks, minor = {}, {}
  local first, last = math.ceil(lo - 1e-9), math.floor(hi + 1e-9)
  if last - first >= 1 then
    local every = math.max(1, math.ceil((last - first + 1) / (bins + 1)))
    for k = first, last do
      if k % every == 0 then
        ticks[#ticks + 1] = {value = k, label = {"10", format_number(k, 0)}}
      end
    end
    if every == 1 then
      for k = math.floor(lo), last do
        for m = 2, 9 do
          local e = k + log10(m)
          if e >= lo and e <= hi then minor[#minor + 1] = e end
        end
      end
    end
    return ticks, minor
  end
  for k = math.floor(lo) - 1, math.ceil(hi) do
    for m = 1, 9 do
      local e = k + log10(m)
      if e >= lo - 1e-9 and e <= hi + 1e-9 then
        if m == 1 or m == 2 or m == 5 then
          ticks[#ticks + 1] = {value = e, label = format_number(m * 10 ^ k, math.max(0, -k))}
        else
          minor[#minor + 1] = e
        end
      end
    end
  end
  return ticks, minor
end

-- An axis from data limits. opts: log, lim = {lo, hi} (fixed limits, in data units), margin
-- (fraction added on each side, 0.05 as in matplotlib), from_zero (bars: the axis includes 0 and
-- has no margin below it), ticks = {{value =, label =}, ...} (fixed ticks, e.g. categories),
-- integer (ticks only at whole numbers), invert (values grow downwards or leftwards).
local function make_axis(lo, hi, opts)
  local a = {log = opts.log, fixed = opts.ticks, invert = opts.invert, integer = opts.integer}
  if opts.log then
    if lo <= 0 then
      fail("%s: a log scale needs positive values (smallest is %g)", opts.name, lo)
    end
    lo, hi = log10(lo), log10(hi)
  end
  if opts.lim then
    lo, hi = opts.lim[1], opts.lim[2]
    if type(lo) ~= "number" or type(hi) ~= "number" or not (hi > lo) then
      fail("%s limits: want {lo, hi} with lo < hi", opts.name)
    end
    if opts.log then
      if lo <= 0 then fail("%s limits: a log scale needs limits above 0", opts.name) end
      lo, hi = log10(lo), log10(hi)
    end
  else
    if opts.from_zero and not opts.log then lo, hi = math.min(lo, 0), math.max(hi, 0) end
    if hi - lo < 1e-12 * math.max(1, math.abs(lo)) then
      -- One value: a window around it, as matplotlib does for a flat series.
      local d = lo == 0 and 1 or math.abs(lo) * 0.1
      lo, hi = lo - d, hi + d
    end
    local m = (opts.margin or 0.05) * (hi - lo)
    if not (opts.from_zero and lo == 0 and not opts.log) then lo = lo - m end
    if not (opts.from_zero and hi == 0 and not opts.log) then hi = hi + m end
  end
  a.lo, a.hi = lo, hi
  return a
end

-- Chooses the ticks for an axis `length` units long. x axes need room for labels side by side,
-- so get fewer ticks than y axes of the same length.
local function set_ticks(a, length, horizontal)
  if a.fixed then
    a.ticks, a.minor = a.fixed, {}
    return
  end
  local bins = math.max(2, math.min(9, math.floor(length / ((horizontal and 3.5 or 2.2) * S.font))))
  if a.log then
    a.ticks, a.minor = log_ticks(a.lo, a.hi, bins)
  else
    a.ticks, a.power = linear_ticks(a.lo, a.hi, bins, a.integer)
    a.minor = {}
  end
end

-- Axis value (already in log10 for log axes) to canvas position over [p0, p1].
local function position(a, v, p0, p1)
  local f = (v - a.lo) / (a.hi - a.lo)
  if a.invert then f = 1 - f end
  return p0 + f * (p1 - p0)
end

local function to_axis(a, v) return a.log and log10(v) or v end

---------------------------------------------------------------------------------------------------
-- Text helpers. A label is a string, or {base, exponent} for 10^k on log axes.

local function text_height(cv, size)
  local _, h = cv:text_size("H", {size = size})
  return h
end

-- An exponent sits at 0.7 of the size, its baseline raised by half the cap height: the label's
-- ink then reaches RAISE cap heights above the baseline.
local EXP_SIZE, RAISE = 0.7, 1.2

-- Width and height of a label, and its cap height (ink above the baseline).
local function label_size(cv, label, size)
  if type(label) == "string" then return cv:text_size(label, {size = size}) end
  local wb, h, cap = cv:text_size(label[1], {size = size})
  local we = cv:text_size(label[2], {size = size * EXP_SIZE})
  return wb + we, h + (RAISE - 1) * cap, RAISE * cap
end

-- Draws a label anchored like cv:text (exponent labels are never rotated); returns its width.
local function draw_label(cv, label, x, y, o)
  if type(label) == "string" then
    cv:text(label, x, y, o)
    return (cv:text_size(label, o))
  end
  local w, h, top = label_size(cv, label, o.size)
  local left = x - (o.halign == "center" and w / 2 or o.halign == "right" and w or 0)
  local base = y + (o.valign == "top" and top or o.valign == "middle" and top / 2 or
    o.valign == "bottom" and top - h or 0)
  local wb, _, cap = cv:text_size(label[1], {size = o.size})
  cv:text(label[1], left, base, {size = o.size, colour = o.colour})
  cv:text(label[2], left + wb, base - cap / 2, {size = o.size * EXP_SIZE, colour = o.colour})
  return w
end

---------------------------------------------------------------------------------------------------
-- Legends.

-- Rounded rectangle as a polygon (the frame of a legend, like matplotlib's fancybox).
local function rounded(x, y, w, h, r)
  local xs, ys = {}, {}
  local corners = {{x + w - r, y + r, -90}, {x + w - r, y + h - r, 0}, {x + r, y + h - r, 90},
    {x + r, y + r, 180}}
  for _, c in ipairs(corners) do
    for k = 0, 6 do
      local t = math.rad(c[3] + 15 * k)
      xs[#xs + 1], ys[#ys + 1] = c[1] + r * math.cos(t), c[2] + r * math.sin(t)
    end
  end
  return xs, ys
end

local LEGEND_PLACES = {"upper right", "upper left", "lower left", "lower right", "center right",
  "center left", "lower center", "upper center", "center"}

local function legend_size(cv, entries)
  local e = S.font
  local wmax = 0
  for _, it in ipairs(entries) do
    wmax = math.max(wmax, (cv:text_size(it.label, {size = S.font})))
  end
  local w = 2 * 0.4 * e + 2 * e + 0.8 * e + wmax
  local h = 2 * 0.4 * e + #entries * e + (#entries - 1) * 0.5 * e
  return w, h
end

-- Where a legend of size w x h goes in `place`, inside the axes rectangle ax.
local function legend_at(ax, place, w, h)
  local gap = 0.5 * S.font
  local x, y = ax.x + (ax.w - w) / 2, ax.y + (ax.h - h) / 2
  if place:find("left") then
    x = ax.x + gap
  elseif place:find("right") then
    x = ax.x + ax.w - w - gap
  end
  if place:find("upper") then
    y = ax.y + gap
  elseif place:find("lower") then
    y = ax.y + ax.h - h - gap
  end
  return x, y
end

-- Draws the legend and returns its rectangle. place: a name from LEGEND_PLACES, "best" (the place
-- covering the fewest of `points`, a flat list of x, y canvas coordinates of the data), or
-- "outside" (right of the axes, where the layout left room).
local function draw_legend(cv, ax, entries, place, points)
  local w, h = legend_size(cv, entries)
  local x, y
  if place == "outside" then
    x, y = ax.x + ax.w + 0.5 * S.font, ax.y
  else
    if place == "best" then
      local best, fewest = "upper right", math.huge
      for _, p in ipairs(LEGEND_PLACES) do
        local lx, ly = legend_at(ax, p, w, h)
        local n = 0
        for i = 1, #points, 2 do
          local px, py = points[i], points[i + 1]
          if px >= lx and px <= lx + w and py >= ly and py <= ly + h then n = n + 1 end
        end
        if n < fewest then best, fewest = p, n end
      end
      place = best
    end
    x, y = legend_at(ax, place, w, h)
  end
  local fx, fy = rounded(x, y, w, h, 0.2 * S.font)
  cv:polygon(fx, fy, {fill = "#ffffff", alpha = 0.8})
  cv:polygon(fx, fy, {stroke = S.frame, width = S.spine})
  local e = S.font
  local hx = x + 0.4 * e
  for i, it in ipairs(entries) do
    local cy = y + 0.4 * e + (i - 1) * 1.5 * e + 0.5 * e
    if it.kind == "marker" then
      cv:markers({hx + e}, {cy}, {shape = it.marker or "o", radius = 0.3 * e, fill = it.colour})
    elseif it.kind == "patch" then
      cv:rect(hx, cy - 0.35 * e, 2 * e, 0.7 * e, {fill = it.colour, stroke = it.edge,
        width = it.edge and S.spine or 0})
    else
      cv:polyline({hx, hx + 2 * e}, {cy, cy}, {stroke = it.colour, width = it.width or S.line,
        dash = it.dash})
      if it.marker then
        cv:markers({hx + e}, {cy}, {shape = it.marker, radius = 3 * PT, fill = it.colour})
      end
    end
    cv:text(it.label, hx + 2.8 * e, cy, {size = S.font, valign = "middle"})
  end
  return {x = x, y = y, w = w, h = h}
end

-- Canvas points along a polyline, a few units apart, so "best" sees lines and not only vertices.
local function sample_line(out, xs, ys)
  for i = 1, #xs do
    out[#out + 1], out[#out + 2] = xs[i], ys[i]
    if i < #xs then
      local dx, dy = xs[i + 1] - xs[i], ys[i + 1] - ys[i]
      local steps = math.min(50, math.floor(math.sqrt(dx * dx + dy * dy) / 5))
      for k = 1, steps - 1 do
        out[#out + 1], out[#out + 2] = xs[i] + dx * k / steps, ys[i] + dy * k / steps
      end
    end
  end
end

---------------------------------------------------------------------------------------------------
-- Cartesian charts (line, scatter, hist, bars): layout, frame, ticks and labels around a
-- function that draws the data.

-- Width of the widest tick label of axis a and height of the tallest (turned 45 degrees: rotate).
local function tick_label_extent(cv, a, rotate)
  local w, h = 0, 0
  for _, t in ipairs(a.ticks) do
    local tw, th = label_size(cv, t.label, S.font)
    if rotate then tw, th = (tw + th) * 0.7071, (tw + th) * 0.7071 end
    w, h = math.max(w, tw), math.max(h, th)
  end
  return w, h
end

-- Whether the x tick labels collide when laid flat along an axis of this length.
local function labels_collide(cv, a, length)
  local total = 0
  for _, t in ipairs(a.ticks) do total = total + label_size(cv, t.label, S.font) + 0.5 * S.font end
  return total > length
end

-- The axes rectangle inside a panel's cell, after room for the title, labels, ticks and whatever
-- sits right of the axes (`right` units: an outside legend or a colour bar).
local function layout(cv, cell, spec, xa, ya, right)
  local th = text_height(cv, S.font)
  local ax = {}
  local function place()
    local ytw = tick_label_extent(cv, ya)
    local _, xth = tick_label_extent(cv, xa, spec.rotate_x)
    if #ya.ticks > 0 then ytw = ytw + S.tick_pad + S.tick end
    if #xa.ticks > 0 then xth = xth + S.tick_pad + S.tick end
    local left = cell.x + S.pad + ytw
    if spec.ylabel then left = left + th + S.label_pad end
    local top = cell.y + S.pad + th / 2
    if spec.title then top = top + text_height(cv, S.title) + S.title_pad end
    if ya.power then
      top = math.max(top, cell.y + S.pad + text_height(cv, S.small) + S.title_pad)
    end
    local bottom = cell.y + cell.h - S.pad - xth
    if spec.xlabel then bottom = bottom - th - S.label_pad end
    -- Labels centred on the lowest y tick (or colour bar tick) reach half a line below the axes.
    bottom = math.min(bottom, cell.y + cell.h - S.pad - th / 2)
    local last = xa.ticks[#xa.ticks]
    local overhang = (last and not spec.rotate_x) and label_size(cv, last.label, S.font) / 2 or 0
    local right_edge = cell.x + cell.w - S.pad - math.max(right or 0, overhang)
    ax.x, ax.y, ax.w, ax.h = left, top, right_edge - left, bottom - top
    if ax.w < 20 or ax.h < 20 then
      fail("the panel (%.0f x %.0f) is too small for its labels; make the figure larger",
        cell.w, cell.h)
    end
  end
  -- Ticks depend on the axes size and the size on the tick labels: settle it in two rounds.
  set_ticks(xa, cell.w * 0.8, true)
  set_ticks(ya, cell.h * 0.8, false)
  for _ = 1, 2 do
    place()
    set_ticks(xa, ax.w, true)
    set_ticks(ya, ax.h, false)
    if spec.rotate_x == nil and xa.fixed then spec.rotate_x = labels_collide(cv, xa, ax.w) end
  end
  place()
  return ax
end

local function xpos(ax, xa, v) return position(xa, v, ax.x, ax.x + ax.w) end
local function ypos(ax, ya, v) return position(ya, v, ax.y + ax.h, ax.y) end

local function draw_grid(cv, ax, xa, ya, which)
  local style = {stroke = S.grid, width = S.spine, alpha = S.grid_alpha}
  if which == "x" or which == "both" then
    for _, t in ipairs(xa.ticks) do
      local x = xpos(ax, xa, t.value)
      cv:polyline({x, x}, {ax.y, ax.y + ax.h}, style)
    end
  end
  if which == "y" or which == "both" then
    for _, t in ipairs(ya.ticks) do
      local y = ypos(ax, ya, t.value)
      cv:polyline({ax.x, ax.x + ax.w}, {y, y}, style)
    end
  end
end

-- Frame, ticks, tick labels, axis labels and title.
local function draw_frame(cv, ax, spec, xa, ya)
  cv:rect(ax.x, ax.y, ax.w, ax.h, {stroke = "black", width = S.spine})
  local bottom, left = ax.y + ax.h, ax.x
  for _, t in ipairs(xa.ticks) do
    local x = xpos(ax, xa, t.value)
    cv:polyline({x, x}, {bottom, bottom + S.tick}, {width = S.spine})
    local ly = bottom + S.tick + S.tick_pad
    if spec.rotate_x then
      cv:text(t.label, x, ly, {size = S.font, halign = "right", valign = "top", angle = 45})
    else
      draw_label(cv, t.label, x, ly, {size = S.font, halign = "center", valign = "top"})
    end
  end
  for _, v in ipairs(xa.minor) do
    local x = xpos(ax, xa, v)
    cv:polyline({x, x}, {bottom, bottom + S.minor}, {width = S.spine * 0.75})
  end
  for _, t in ipairs(ya.ticks) do
    local y = ypos(ax, ya, t.value)
    cv:polyline({left - S.tick, left}, {y, y}, {width = S.spine})
    draw_label(cv, t.label, left - S.tick - S.tick_pad, y, {size = S.font, halign = "right",
      valign = "middle"})
  end
  for _, v in ipairs(ya.minor) do
    local y = ypos(ax, ya, v)
    cv:polyline({left - S.minor, left}, {y, y}, {width = S.spine * 0.75})
  end
  if ya.power then
    cv:text(ya.power, left, ax.y - S.title_pad * 0.5, {size = S.small, valign = "bottom"})
  end
  if xa.power then
    cv:text(xa.power, ax.x + ax.w, bottom + S.tick + S.tick_pad + 2 * S.font,
      {size = S.small, halign = "right", valign = "top"})
  end
  local _, xth = tick_label_extent(cv, xa, spec.rotate_x)
  local ytw = tick_label_extent(cv, ya)
  if #ya.ticks > 0 then ytw = ytw + S.tick_pad + S.tick end
  if #xa.ticks > 0 then xth = xth + S.tick_pad + S.tick end
  if spec.xlabel then
    cv:text(spec.xlabel, ax.x + ax.w / 2, bottom + xth + S.label_pad,
      {size = S.font, halign = "center", valign = "top"})
  end
  if spec.ylabel then
    cv:text(spec.ylabel, left - ytw - S.label_pad, ax.y + ax.h / 2,
      {size = S.font, halign = "center", valign = "bottom", angle = 90})
  end
  if spec.title then
    cv:text(spec.title, ax.x + ax.w / 2, ax.y - S.title_pad, {size = S.title, halign = "center",
      valign = "bottom"})
  end
end

-- Reference lines across the axes: hlines = {{y =, label =, colour =, dash =}}, vlines likewise
-- with x. Checks a list of them and returns it ({} for none).
local function check_ref_lines(list, key, what)
  for i, l in ipairs(list or {}) do
    if type(l[key]) ~= "number" or l[key] ~= l[key] then
      fail("%s[%d].%s must be a number", what, i, key)
    end
    colour_of(l.colour, nil, string.format("%s[%d]", what, i))
  end
  return list or {}
end

-- Legend rows for the labelled reference lines.
local function ref_entries(entries, lines)
  for _, l in ipairs(lines) do
    if l.label then
      entries[#entries + 1] = {label = tostring(l.label), colour = l.colour or "#d62728",
        dash = l.dash or "--"}
    end
  end
end

local function draw_ref_lines(cv, ax, xa, ya, hlines, vlines, points)
  for _, l in ipairs(hlines) do
    local y = ypos(ax, ya, to_axis(ya, l.y))
    cv:polyline({ax.x, ax.x + ax.w}, {y, y}, {stroke = l.colour or "#d62728", width = S.line,
      dash = l.dash or "--"})
    sample_line(points, {ax.x, ax.x + ax.w}, {y, y})
  end
  for _, l in ipairs(vlines) do
    local x = xpos(ax, xa, to_axis(xa, l.x))
    cv:polyline({x, x}, {ax.y, ax.y + ax.h}, {stroke = l.colour or "#d62728", width = S.line,
      dash = l.dash or "--"})
    sample_line(points, {x, x}, {ax.y, ax.y + ax.h})
  end
end

-- Draws a cartesian chart: layout, grid, data (clipped to the axes), reference lines, frame and
-- legend. draw_data(ax, points) draws and appends canvas points (for legend placement); entries
-- are the data's legend rows. spec.legend: a place, "best", "outside" or false; when not given,
-- spec.legend_default, and a legend only appears for two rows or more, or a labelled line.
local function cartesian(panel, spec, xa, ya, draw_data, entries)
  local cv = panel.figure.canvas
  local hlines = check_ref_lines(spec.hlines, "y", "hlines")
  local vlines = check_ref_lines(spec.vlines, "x", "vlines")
  for _, l in ipairs(hlines) do
    if ya.log and l.y <= 0 then fail("hlines: y = %g on a log axis", l.y) end
  end
  local rows = {table.unpack(entries)}
  ref_entries(rows, hlines)
  ref_entries(rows, vlines)
  local place = spec.legend
  if place == nil then place = spec.legend_default or "best" end
  local show = place and #rows > 0 and (#rows > 1 or spec.legend or #rows > #entries)
  local right = (show and place == "outside") and legend_size(cv, rows) + S.font or 0
  local ax = layout(cv, panel.cell, spec, xa, ya, right)
  panel.rect = ax
  if spec.grid then draw_grid(cv, ax, xa, ya, spec.grid == true and "both" or spec.grid) end
  local points = {}
  cv:clip(ax.x, ax.y, ax.w, ax.h)
  draw_data(ax, points)
  draw_ref_lines(cv, ax, xa, ya, hlines, vlines, points)
  cv:unclip()
  draw_frame(cv, ax, spec, xa, ya)
  if show then panel.legend_rect = draw_legend(cv, ax, rows, place, points) end
  panel.xaxis, panel.yaxis = xa, ya
  return ax
end

---------------------------------------------------------------------------------------------------
-- Figures and panels.

local Figure = {}
Figure.__index = Figure
local Panel = {}
Panel.__index = Panel

-- figure{width, height, rows = 1, cols = 1, title, scale = 1.5}: a white figure of rows x cols
-- panels. Sizes are in matplotlib pixels at 100 dpi; the PNG has scale times as many.
function plot.figure(opts)
  opts = opts or {}
  local rows, cols = opts.rows or 1, opts.cols or 1
  if math.type(rows) ~= "integer" or math.type(cols) ~= "integer" or rows < 1 or cols < 1 then
    fail("figure: rows and cols must be whole numbers >= 1")
  end
  local width = opts.width or (cols == 1 and 640 or 420 * cols)
  local height = opts.height or (rows == 1 and (cols == 1 and 480 or 400) or 340 * rows)
  local ok, cv = pcall(C.canvas, width, height, opts.scale or 1.5)
  if not ok then fail("figure: %s", message_of(cv)) end
  local fig = setmetatable({canvas = cv, width = width, height = height, rows = rows, cols = cols,
    panels = {}}, Figure)
  local top = 0
  if opts.title then
    cv:text(opts.title, width / 2, S.pad, {size = S.suptitle, halign = "center", valign = "top"})
    top = S.pad + text_height(cv, S.suptitle) + S.pad / 2
  end
  local cw, ch = width / cols, (height - top) / rows
  for r = 1, rows do
    for c = 1, cols do
      fig.panels[#fig.panels + 1] = setmetatable({figure = fig, index = #fig.panels + 1,
        cell = {x = (c - 1) * cw, y = top + (r - 1) * ch, w = cw, h = ch}}, Panel)
    end
  end
  return fig
end

-- fig:panel(i) (row-major, from 1) or fig:panel(row, col).
function Figure:panel(i, j)
  if j then i = (i - 1) * self.cols + j end
  local p = self.panels[i]
  if not p then
    fail("figure has %d panels (%d x %d); there is no panel %s", #self.panels, self.rows,
      self.cols, tostring(i))
  end
  return p
end

-- fig:save(path): the PNG, written atomically (the folder is made if missing). Remembers the path
-- as fig.file, which nn.report uses to embed it.
function Figure:save(path)
  if type(path) ~= "string" or path == "" then fail("figure:save: a file name is needed") end
  local ok, err = pcall(self.canvas.save, self.canvas, path)
  if not ok then fail("figure:save: %s", message_of(err)) end
  self.file = path
  return self
end

-- fig:png() -> the PNG file's bytes.
function Figure:png() return self.canvas:png() end

function Figure:__tostring()
  return string.format("nn.plot figure %g x %g, %d x %d panels", self.width, self.height,
    self.rows, self.cols)
end

-- Marks a panel as drawn on; a panel holds one chart.
local function claim(panel, kind)
  if getmetatable(panel) ~= Panel then
    fail("%s: call it on a panel: fig:panel(1):%s{...}", kind, kind)
  end
  if panel.kind then fail("%s: panel %d already has a %s chart", kind, panel.index, panel.kind) end
  panel.kind = kind
end

local function opts_table(opts, kind)
  if type(opts) ~= "table" then
    fail("%s: expected a table of options, got %s", kind, type(opts))
  end
  return opts
end

---------------------------------------------------------------------------------------------------
-- Line charts.

-- panel:line{series = {{name, x, y, colour, dash, marker, width}, ...}, title, xlabel, ylabel,
--   log_x, log_y, xlim, ylim, grid (default true), legend ("best", a place, "outside" or false),
--   hlines, vlines}. x defaults to 1..#y.
local function line(panel, opts)
  opts = opts_table(opts, "line")
  claim(panel, "line")
  local series = opts.series
  if not is_array(series) or #series == 0 then
    fail("line: series is empty (want {{y = {...}}, ...})")
  end
  local data, entries = {}, {}
  local xlo, xhi, ylo, yhi
  local whole_x = true  -- x values are all whole numbers (epochs, iterations): whole-number ticks
  for i, s in ipairs(series) do
    local name = s.name or ("series " .. i)
    local what = string.format("line: series '%s'", name)
    local y = numbers(s.y, what .. " y")
    local x
    if s.x then
      x = numbers(s.x, what .. " x")
      if #x ~= #y then fail("%s: %d x values but %d y values", what, #x, #y) end
    else
      x = {}
      for k = 1, #y do x[k] = k end
    end
    for k = 1, #x do whole_x = whole_x and x[k] == math.floor(x[k]) end
    xlo, xhi = range_of(x, xlo, xhi)
    ylo, yhi = range_of(y, ylo, yhi)
    local colour = colour_of(s.colour, plot.tab10[(i - 1) % #plot.tab10 + 1], what)
    data[i] = {x = x, y = y, colour = colour, dash = s.dash, marker = s.marker,
      width = s.width and s.width * PT or S.line}
    if s.name then
      entries[#entries + 1] = {label = s.name, colour = colour, dash = s.dash, marker = s.marker,
        width = data[i].width}
    end
  end
  local xa = make_axis(xlo, xhi, {log = opts.log_x, lim = opts.xlim, name = "x", integer = whole_x})
  local ya = make_axis(ylo, yhi, {log = opts.log_y, lim = opts.ylim, name = "y"})
  local cv = panel.figure.canvas
  local spec = {title = opts.title, xlabel = opts.xlabel, ylabel = opts.ylabel,
    legend = opts.legend, grid = opts.grid == nil and true or opts.grid, hlines = opts.hlines,
    vlines = opts.vlines}
  cartesian(panel, spec, xa, ya, function(ax, points)
    for _, d in ipairs(data) do
      local px, py = {}, {}
      for k = 1, #d.x do
        px[k] = xpos(ax, xa, to_axis(xa, d.x[k]))
        py[k] = ypos(ax, ya, to_axis(ya, d.y[k]))
      end
      cv:polyline(px, py, {stroke = d.colour, width = d.width, dash = d.dash})
      -- A series of one point (a run of one epoch) has no line to draw: it gets a marker.
      local marker = d.marker or (#px == 1 and "o")
      if marker then cv:markers(px, py, {shape = marker, radius = 3 * PT, fill = d.colour}) end
      sample_line(points, px, py)
    end
  end, entries)
  return panel
end

---------------------------------------------------------------------------------------------------
-- Scatter plots.

-- Mean and (sample) covariance of the points of one class: mx, my, sxx, syy, sxy.
local function class_stats(x, y, members)
  local n = #members
  local mx, my = 0, 0
  for _, i in ipairs(members) do mx, my = mx + x[i], my + y[i] end
  mx, my = mx / n, my / n
  local sxx, syy, sxy = 0, 0, 0
  for _, i in ipairs(members) do
    local dx, dy = x[i] - mx, y[i] - my
    sxx, syy, sxy = sxx + dx * dx, syy + dy * dy, sxy + dx * dy
  end
  local d = math.max(n - 1, 1)
  return mx, my, sxx / d, syy / d, sxy / d
end

-- plot.confidence_ellipse(mx, my, sxx, syy, sxy) -> xs, ys: 100 points on the 95% ellipse of a
-- 2-d normal with that mean and covariance. Its radii are sqrt(5.991 * l) along the eigenvectors
-- of the covariance, 5.991 being the 95% point of chi-squared with 2 degrees of freedom.
local function ellipse_points(mx, my, sxx, syy, sxy)
  -- Eigenvalues of [[sxx, sxy], [sxy, syy]], and the angle of the first one's eigenvector.
  local mid, half = (sxx + syy) / 2, math.sqrt(((sxx - syy) / 2) ^ 2 + sxy * sxy)
  local l1, l2 = mid + half, math.max(mid - half, 0)
  local angle = 0.5 * math.atan(2 * sxy, sxx - syy)
  local a, b = math.sqrt(5.991 * l1), math.sqrt(5.991 * l2)
  local c, s = math.cos(angle), math.sin(angle)
  local xs, ys = {}, {}
  for k = 0, 99 do
    local t = 2 * math.pi * k / 100
    local u, v = a * math.cos(t), b * math.sin(t)
    xs[k + 1], ys[k + 1] = mx + u * c - v * s, my + u * s + v * c
  end
  return xs, ys
end

-- panel:scatter{x, y, class (one label per point; integers or strings), class_names (for integer
-- labels 0..K-1, the names to show), colour (without classes), size (marker radius in points,
-- default 2.5, or 1.5 over 2,000 points), alpha (default 0.6), centroids, ellipses (95%),
-- title, xlabel, ylabel, xlim, ylim, legend (default "outside" with classes)}
local function scatter(panel, opts)
  opts = opts_table(opts, "scatter")
  claim(panel, "scatter")
  local x, y = numbers(opts.x, "scatter: x"), numbers(opts.y, "scatter: y")
  if #x ~= #y then fail("scatter: %d x values but %d y values", #x, #y) end
  local fill, classes, members = colour_of(opts.colour, plot.tab10[1], "scatter"), {}, {}
  if opts.class ~= nil then
    local labels = tensor.is(opts.class) and opts.class:flat() or opts.class
    if not is_array(labels) or #labels ~= #x then
      fail("scatter: class has %s labels for %d points", is_array(labels) and #labels or "no", #x)
    end
    local index = {}
    for i, l in ipairs(labels) do
      if l ~= l then fail("scatter: class[%d] is NaN", i) end
      if not index[l] then
        classes[#classes + 1] = l
        index[l] = true
      end
    end
    table.sort(classes, function(a, b)
      if type(a) == type(b) then return a < b end
      return type(a) == "number"
    end)
    for k, l in ipairs(classes) do index[l], members[k] = k, {} end
    fill = {}
    for i, l in ipairs(labels) do
      local k = index[l]
      fill[i] = plot.tab10[(k - 1) % #plot.tab10 + 1]
      table.insert(members[k], i)
    end
  end
  local function name(l)
    local names = opts.class_names
    if names and math.type(l) == "integer" and names[l + 1] then return tostring(names[l + 1]) end
    return tostring(l)
  end
  local xlo, xhi = range_of(x)
  local ylo, yhi = range_of(y)
  local stats, ellipses = {}, {}
  for k in ipairs(classes) do
    stats[k] = {class_stats(x, y, members[k])}
    if opts.ellipses and #members[k] >= 3 then
      local ex, ey = ellipse_points(table.unpack(stats[k]))
      ellipses[k] = {ex, ey}
      xlo, xhi = range_of(ex, xlo, xhi)
      ylo, yhi = range_of(ey, ylo, yhi)
    end
  end
  local xa = make_axis(xlo, xhi, {lim = opts.xlim, name = "x"})
  local ya = make_axis(ylo, yhi, {lim = opts.ylim, name = "y"})
  local radius = (opts.size or (#x > 2000 and 1.5 or 2.5)) * PT
  local entries = {}
  for k, l in ipairs(classes) do
    entries[k] = {label = name(l), colour = plot.tab10[(k - 1) % #plot.tab10 + 1], kind = "marker"}
  end
  local cv = panel.figure.canvas
  local spec = {title = opts.title, xlabel = opts.xlabel, ylabel = opts.ylabel,
    legend = opts.legend, legend_default = "outside", grid = opts.grid or false,
    hlines = opts.hlines, vlines = opts.vlines}
  cartesian(panel, spec, xa, ya, function(ax, points)
    local px, py = {}, {}
    for i = 1, #x do
      px[i], py[i] = xpos(ax, xa, x[i]), ypos(ax, ya, y[i])
      points[2 * i - 1], points[2 * i] = px[i], py[i]
    end
    cv:markers(px, py, {radius = radius, fill = fill, alpha = opts.alpha or 0.6})
    for k in pairs(ellipses) do
      local ex, ey = {}, {}
      for j = 1, #ellipses[k][1] do
        ex[j], ey[j] = xpos(ax, xa, ellipses[k][1][j]), ypos(ax, ya, ellipses[k][2][j])
      end
      -- A white halo under each outline keeps it visible on top of points of its own colour.
      cv:polyline(ex, ey, {stroke = "#ffffff", width = 3.5 * PT, closed = true, alpha = 0.8})
      cv:polyline(ex, ey, {stroke = entries[k].colour, width = 2 * PT, closed = true})
    end
    if opts.centroids then
      for k, s in ipairs(stats) do
        cv:markers({xpos(ax, xa, s[1])}, {ypos(ax, ya, s[2])}, {shape = "D", radius = 5 * PT,
          fill = entries[k].colour, stroke = "black", width = 1.2 * PT})
      end
    end
  end, entries)
  panel.centroids = {}
  for k, l in ipairs(classes) do
    panel.centroids[k] = {class = l, x = stats[k][1], y = stats[k][2], var_x = stats[k][3],
      var_y = stats[k][4], cov = stats[k][5], n = #members[k]}
  end
  return panel
end

---------------------------------------------------------------------------------------------------
-- Histograms and bar charts.

-- panel:hist{values, bins = 10 (a count, or the bin edges), range = {lo, hi}, colour,
--   mean_line (a dashed line at the mean, labelled with it), vlines, title, xlabel, ylabel
--   (default "count"), legend}
local function hist(panel, opts)
  opts = opts_table(opts, "hist")
  claim(panel, "hist")
  local v = numbers(opts.values, "hist: values")
  local edges = {}
  if is_array(opts.bins) then
    edges = numbers(opts.bins, "hist: bins")
    for i = 2, #edges do
      if edges[i] <= edges[i - 1] then fail("hist: bin edges must increase (edge %d)", i) end
    end
    if #edges < 2 then fail("hist: at least two bin edges are needed") end
  else
    local n = opts.bins or 10
    if math.type(n) ~= "integer" or n < 1 or n > 100000 then fail("hist: bins must be a whole number from 1 to 100000") end
    local lo, hi = range_of(v)
    if opts.range then lo, hi = opts.range[1], opts.range[2] end
    if hi <= lo then lo, hi = lo - 0.5, hi + 0.5 end
    for i = 0, n do edges[i + 1] = lo + (hi - lo) * i / n end
  end
  local counts = {}
  for i = 1, #edges - 1 do counts[i] = 0 end
  local sum = 0
  for _, e in ipairs(v) do
    sum = sum + e
    -- Bins are half-open [a, b) except the last, which includes its right edge, as in numpy.
    if e >= edges[1] and e <= edges[#edges] then
      local lo, hi = 1, #edges - 1
      while lo < hi do
        local mid = (lo + hi + 1) // 2
        if e >= edges[mid] then lo = mid else hi = mid - 1 end
      end
      counts[lo] = counts[lo] + 1
    end
  end
  local mean = sum / #v
  local vlines = {}
  for _, l in ipairs(opts.vlines or {}) do vlines[#vlines + 1] = l end
  if opts.mean_line then
    vlines[#vlines + 1] = {x = mean, label = string.format("mean = %.3f", mean),
      colour = "#d62728", dash = "--"}
  end
  local _, cmax = range_of(counts)
  local xlo, xhi = edges[1], edges[#edges]
  for _, l in ipairs(vlines) do
    if type(l.x) == "number" then xlo, xhi = math.min(xlo, l.x), math.max(xhi, l.x) end
  end
  local xa = make_axis(xlo, xhi, {lim = opts.xlim, name = "x"})
  local ya = make_axis(0, cmax, {lim = opts.ylim, name = "y", from_zero = true})
  local colour = colour_of(opts.colour, plot.tab10[1], "hist")
  local cv = panel.figure.canvas
  local spec = {title = opts.title, xlabel = opts.xlabel, ylabel = opts.ylabel or "count",
    legend = opts.legend, grid = opts.grid == nil and "y" or opts.grid, vlines = vlines}
  cartesian(panel, spec, xa, ya, function(ax, points)
    local y0 = ypos(ax, ya, 0)
    for i, c in ipairs(counts) do
      local x0, x1 = xpos(ax, xa, edges[i]), xpos(ax, xa, edges[i + 1])
      local y1 = ypos(ax, ya, c)
      if c > 0 then
        cv:rect(x0, y1, x1 - x0, y0 - y1, {fill = colour, stroke = "#ffffff", width = 0.8 * PT})
        for k = 0, 4 do points[#points + 1], points[#points + 2] = x0 + (x1 - x0) * k / 4, y1 end
      end
    end
  end, {})
  panel.counts, panel.edges, panel.mean = counts, edges, mean
  return panel
end

-- panel:bars{groups = {"MLP-1", ...}, series = {{name, values, colour}, ...}, hlines, ylim,
--   bar_labels (a format such as "%.3f": each bar's value above it), title, xlabel, ylabel,
--   legend}. Grouped bars: in each group, one bar per series.
local function bars(panel, opts)
  opts = opts_table(opts, "bars")
  claim(panel, "bars")
  local groups = opts.groups
  if not is_array(groups) or #groups == 0 then
    fail("bars: groups is empty (want {\"a\", \"b\", ...})")
  end
  local series = opts.series
  if not is_array(series) or #series == 0 then fail("bars: series is empty") end
  local data, entries = {}, {}
  local lo, hi
  for i, s in ipairs(series) do
    local what = string.format("bars: series '%s'", s.name or i)
    local v = numbers(s.values, what .. " values")
    if #v ~= #groups then fail("%s: %d values for %d groups", what, #v, #groups) end
    lo, hi = range_of(v, lo, hi)
    local colour = colour_of(s.colour, plot.tab10[(i - 1) % #plot.tab10 + 1], what)
    data[i] = {values = v, colour = colour}
    if s.name then entries[#entries + 1] = {label = s.name, colour = colour, kind = "patch"} end
  end
  for _, l in ipairs(check_ref_lines(opts.hlines, "y", "hlines")) do
    lo, hi = math.min(lo, l.y), math.max(hi, l.y)
  end
  local ticks = {}
  for g, name in ipairs(groups) do ticks[g] = {value = g - 1, label = tostring(name)} end
  local xa = make_axis(-0.5, #groups - 0.5, {lim = {-0.6, #groups - 0.4}, name = "x",
    ticks = ticks})
  local ya = make_axis(lo, hi, {lim = opts.ylim, name = "y", from_zero = true})
  local cv = panel.figure.canvas
  local spec = {title = opts.title, xlabel = opts.xlabel, ylabel = opts.ylabel,
    legend = opts.legend, grid = opts.grid == nil and "y" or opts.grid, hlines = opts.hlines}
  local width = 0.8 / #series
  cartesian(panel, spec, xa, ya, function(ax, points)
    local base = ypos(ax, ya, math.max(ya.lo, math.min(ya.hi, 0)))
    for i, d in ipairs(data) do
      for g, value in ipairs(d.values) do
        local left = g - 1 - 0.4 + (i - 1) * width
        local x0, x1 = xpos(ax, xa, left), xpos(ax, xa, left + width)
        local y1 = ypos(ax, ya, value)
        cv:rect(x0, math.min(base, y1), x1 - x0, math.abs(base - y1), {fill = d.colour})
        for k = 0, 4 do points[#points + 1], points[#points + 2] = x0 + (x1 - x0) * k / 4, y1 end
        for k = 1, 4 do
          points[#points + 1], points[#points + 2] = (x0 + x1) / 2, y1 + (base - y1) * k / 4
        end
        if opts.bar_labels then
          local text = string.format(opts.bar_labels, value):gsub("^%-", MINUS)
          local above = value >= 0
          cv:text(text, (x0 + x1) / 2, y1 + (above and -2 or 2), {size = S.small, halign = "center",
            valign = above and "bottom" or "top"})
        end
      end
    end
  end, entries)
  return panel
end

---------------------------------------------------------------------------------------------------
-- Heatmaps and colour bars.

local DIVERGING = {RdBu_r = true, RdBu = true}

-- The colour range of a map: given, or symmetric about 0 for diverging maps, else the data's.
local function colour_range(lo, hi, cmap, opts)
  local symmetric = opts.symmetric
  if symmetric == nil then symmetric = DIVERGING[cmap] or false end
  if symmetric then
    local m = math.max(math.abs(lo), math.abs(hi))
    if m == 0 then m = 1 end
    lo, hi = -m, m
  end
  if opts.vmin then lo = opts.vmin end
  if opts.vmax then hi = opts.vmax end
  if not (hi >= lo) then fail("colour range: vmin %g is above vmax %g", lo, hi) end
  return lo, hi
end

-- Width taken by a colour bar of the given height beside axes: gap, bar, ticks, labels, label.
local function colourbar_width(cv, vmin, vmax, height, label)
  local a = make_axis(vmin, vmax, {lim = vmax > vmin and {vmin, vmax} or nil, name = "colour"})
  set_ticks(a, height, false)
  local w = tick_label_extent(cv, a)
  local bar = math.max(8, height / 20)
  local total = 0.8 * S.font + bar + S.tick + S.tick_pad + w
  if label then total = total + S.label_pad + text_height(cv, S.font) end
  return total, a, bar
end

local function draw_colourbar(cv, ax, vmin, vmax, cmap, label)
  local _, a, bar = colourbar_width(cv, vmin, vmax, ax.h, label)
  local x = ax.x + ax.w + 0.8 * S.font
  -- 256 rows of the map, top (vmax) to bottom.
  local ramp = {}
  for i = 1, 256 do ramp[i] = vmax - (vmax - vmin) * (i - 0.5) / 256 end
  cv:image(ramp, 256, 1, x, ax.y, bar, ax.h, {cmap = cmap, vmin = vmin, vmax = vmax})
  cv:rect(x, ax.y, bar, ax.h, {stroke = "black", width = S.spine})
  local wmax = 0
  for _, t in ipairs(a.ticks) do
    local y = position(a, t.value, ax.y + ax.h, ax.y)
    cv:polyline({x + bar, x + bar + S.tick}, {y, y}, {width = S.spine})
    local w = draw_label(cv, t.label, x + bar + S.tick + S.tick_pad, y, {size = S.font,
      valign = "middle"})
    wmax = math.max(wmax, w or 0)
  end
  if label then
    cv:text(label, x + bar + S.tick + S.tick_pad + wmax + S.label_pad, ax.y + ax.h / 2,
      {size = S.font, halign = "center", valign = "top", angle = 90})
  end
end

-- Luminance decides whether a value written on a cell is black or white.
local function dark(colour)
  local r, g, b = C.colour(colour)
  return 0.299 * r + 0.587 * g + 0.114 * b < 0.5
end

-- Ticks for the rows or columns of a matrix: every one (labelled by `labels` or 0, 1, ...) if
-- there are few or labels are given, else round steps like 0, 5, 10.
local function index_ticks(n, labels, length)
  local ticks = {}
  if labels or n <= 12 then
    for i = 1, n do ticks[i] = {value = i - 1, label = tostring(labels and labels[i] or i - 1)} end
    return ticks
  end
  local step = math.max(1, round_step(0, n - 1, math.max(2, math.min(8, length // (3 * S.font)))))
  step = math.max(1, math.floor(step + 0.5))
  for v = 0, n - 1, step do ticks[#ticks + 1] = {value = v, label = tostring(v)} end
  return ticks
end

-- panel:heatmap{data (2-d tensor or table), cmap = "RdBu_r", vmin, vmax, symmetric (default true
--   for diverging maps), colorbar = true, colorbar_label, annotate (write each value; a format
--   like "%d" or true for an automatic one), xticklabels, yticklabels, ticks = true, title,
--   xlabel, ylabel}. Cells are square, row 1 at the top, as matplotlib's imshow.
local function heatmap(panel, opts)
  opts = opts_table(opts, "heatmap")
  claim(panel, "heatmap")
  local v, rows, cols = matrix(opts.data, "heatmap: data")
  local cmap = opts.cmap or "RdBu_r"
  local ok, err = pcall(C.cmap_colour, cmap, 0)
  if not ok then fail("heatmap: %s", message_of(err)) end
  local lo, hi = range_of(v)
  local vmin, vmax = colour_range(lo, hi, cmap, opts)
  local cv = panel.figure.canvas
  local cell = panel.cell
  local show_ticks = opts.ticks ~= false
  local xa = make_axis(-0.5, cols - 0.5, {lim = {-0.5, cols - 0.5}, name = "x",
    ticks = show_ticks and index_ticks(cols, opts.xticklabels, cell.w) or {}})
  local ya = make_axis(-0.5, rows - 0.5, {lim = {-0.5, rows - 0.5}, name = "y", invert = true,
    ticks = show_ticks and index_ticks(rows, opts.yticklabels, cell.h) or {}})
  local colorbar = opts.colorbar ~= false
  local right = colorbar and colourbar_width(cv, vmin, vmax, cell.h * 0.7, opts.colorbar_label) or 0
  local spec = {title = opts.title, xlabel = opts.xlabel, ylabel = opts.ylabel}
  local ax = layout(cv, cell, spec, xa, ya, right)
  -- Square cells: shrink the axes to the matrix's shape, centred where the layout put them.
  local size = math.min(ax.w / cols, ax.h / rows)
  ax = {x = ax.x + (ax.w - size * cols) / 2, y = ax.y + (ax.h - size * rows) / 2,
    w = size * cols, h = size * rows}
  panel.rect = ax
  cv:image(v, rows, cols, ax.x, ax.y, ax.w, ax.h, {cmap = cmap, vmin = vmin, vmax = vmax})
  if opts.annotate then
    local fmt = type(opts.annotate) == "string" and opts.annotate
    if not fmt then
      fmt = "%d"
      for _, e in ipairs(v) do
        if e ~= math.floor(e) then fmt = "%.2f" end
      end
    end
    local longest = 1
    for _, e in ipairs(v) do longest = math.max(longest, #string.format(fmt, e)) end
    local fsize = math.min(S.font, size * 0.45, size / (0.65 * longest))
    for r = 1, rows do
      for c = 1, cols do
        local e = v[(r - 1) * cols + c]
        local t = vmax > vmin and (e - vmin) / (vmax - vmin) or 0.5
        local colour = dark(C.cmap_colour(cmap, t)) and "#ffffff" or "#000000"
        cv:text((string.format(fmt, e):gsub("^%-", MINUS)), ax.x + (c - 0.5) * size,
          ax.y + (r - 0.5) * size, {size = fsize, halign = "center", valign = "middle",
          colour = colour})
      end
    end
  end
  draw_frame(cv, ax, spec, xa, ya)
  if colorbar then draw_colourbar(cv, ax, vmin, vmax, cmap, opts.colorbar_label) end
  panel.vmin, panel.vmax = vmin, vmax
  return panel
end

---------------------------------------------------------------------------------------------------
-- Image grids.

-- The tiles of `images`: {values, offset, rows, cols}, sharing one flat array.
local function tiles_of(images, channels)
  local shape = shape_of(images)
  local flat
  if tensor.is(images) then
    flat = numbers(images, "image_grid: images")
  elseif is_array(images) and (tensor.is(images[1]) or #shape == 3) then
    -- A list of 2-d images (tensors or tables) of one size.
    flat = {}
    local first
    for i, img in ipairs(images) do
      local v, r, c = matrix(img, string.format("image_grid: image %d", i))
      first = first or {r, c}
      if r ~= first[1] or c ~= first[2] then
        fail("image_grid: image %d is %d x %d, image 1 is %d x %d", i, r, c, first[1], first[2])
      end
      table.move(v, 1, #v, #flat + 1, flat)
    end
    shape = {#images, first[1], first[2]}
  else
    local v, r, c = matrix(images, "image_grid: images")
    flat, shape = v, {r, c}
  end
  if #shape == 2 then shape = {1, shape[1], shape[2]} end
  if #shape == 4 and channels == "mean" then
    local n, ch, h, w = shape[1], shape[2], shape[3], shape[4]
    local mean = {}
    for i = 0, n - 1 do
      for p = 1, h * w do
        local s = 0
        for c = 0, ch - 1 do s = s + flat[(i * ch + c) * h * w + p] end
        mean[i * h * w + p] = s / ch
      end
    end
    flat, shape = mean, {n, h, w}
  elseif #shape == 4 then
    shape = {shape[1] * shape[2], shape[3], shape[4]}
  end
  if #shape ~= 3 then
    fail("image_grid: images must be (N, H, W), (N, C, H, W) or (H, W); got %d dimensions",
      #shape)
  end
  local n, h, w = shape[1], shape[2], shape[3]
  if n * h * w == 0 then fail("image_grid: no images (shape %d x %d x %d)", n, h, w) end
  return flat, n, h, w
end

-- panel:image_grid{images ((N, H, W), (N, C, H, W), (H, W) or a list of 2-d images), cols,
--   channels ("tiles": each channel a tile, or "mean"), normalize ("tile": each tile its own
--   range, "shared": one range for all, or {lo, hi}), cmap = "gray", captions = {...},
--   colorbar (with a shared range), title}. Images are magnified by whole pixels, never blurred.
local function image_grid(panel, opts)
  opts = opts_table(opts, "image_grid")
  claim(panel, "image_grid")
  local channels = opts.channels or "tiles"
  if channels ~= "tiles" and channels ~= "mean" then
    fail("image_grid: channels must be \"tiles\" or \"mean\", not %s", tostring(channels))
  end
  local flat, n, h, w = tiles_of(opts.images, channels)
  local cmap = opts.cmap or "gray"
  local ok, err = pcall(C.cmap_colour, cmap, 0)
  if not ok then fail("image_grid: %s", message_of(err)) end
  local norm = opts.normalize or "tile"
  local ranges = {}
  if norm == "shared" or is_array(norm) then
    local lo, hi = range_of(flat)
    if is_array(norm) then lo, hi = norm[1], norm[2] end
    lo, hi = colour_range(lo, hi, cmap, {symmetric = opts.symmetric})
    for i = 1, n do ranges[i] = {lo, hi} end
  elseif norm == "tile" then
    for i = 1, n do
      local lo, hi = math.huge, -math.huge
      for p = (i - 1) * h * w + 1, i * h * w do
        local e = flat[p]
        if e < lo then lo = e end
        if e > hi then hi = e end
      end
      ranges[i] = {colour_range(lo, hi, cmap, {symmetric = opts.symmetric})}
    end
  else
    fail("image_grid: normalize must be \"tile\", \"shared\" or {lo, hi}")
  end
  local captions = opts.captions
  if captions ~= nil and (not is_array(captions) or #captions ~= n) then
    fail("image_grid: %s captions for %d tiles", is_array(captions) and #captions or "no", n)
  end

  local cv = panel.figure.canvas
  local cell = panel.cell
  local top = cell.y + S.pad
  if opts.title then top = top + text_height(cv, S.title) + S.title_pad end
  local colorbar = opts.colorbar and norm ~= "tile"
  local right = colorbar and colourbar_width(cv, ranges[1][1], ranges[1][2], cell.h * 0.7) or 0
  local area = {x = cell.x + S.pad, y = top, w = cell.w - 2 * S.pad - right,
    h = cell.y + cell.h - S.pad - top}
  local gap = math.max(2, 0.3 * S.font)
  local caption_h = captions and text_height(cv, S.small) + 0.4 * S.font or 0
  -- The number of columns that gives the largest tiles.
  local best_cols, best = 1, -1
  for c = 1, n do
    if not opts.cols or c == opts.cols then
      local r = math.ceil(n / c)
      local tw = (area.w - (c - 1) * gap) / c
      local th = (area.h - (r - 1) * gap - r * caption_h) / r
      local scale = math.min(tw / w, th / h)
      if scale > best then best, best_cols = scale, c end
    end
  end
  -- Each image pixel becomes k x k canvas pixels, and tiles start on whole pixels, so every tile
  -- is magnified alike and the gaps are even.
  local _, _, scale = cv:size()
  local k = math.floor(best * scale)
  if k < 1 then fail("image_grid: the panel is too small for %d tiles of %d x %d", n, h, w) end
  local function snap(v) return math.floor(v * scale + 0.5) / scale end
  local gc = best_cols
  local gr = math.ceil(n / gc)
  local tw, th = k * w / scale, k * h / scale
  gap = snap(gap)
  local gx = snap(area.x + (area.w - (gc * tw + (gc - 1) * gap)) / 2)
  local gy = snap(area.y)
  local frames = {}
  for i = 1, n do
    local r, c = (i - 1) // gc, (i - 1) % gc
    local x, y = gx + c * (tw + gap), snap(gy + r * (th + caption_h + gap))
    local dx, dy, dw, dh = cv:image(flat, h, w, x, y, tw, th, {cmap = cmap, vmin = ranges[i][1],
      vmax = ranges[i][2], integer = true, offset = (i - 1) * h * w})
    -- A thin frame just outside the image, so it covers none of the image's pixels.
    local f = 0.5 * PT
    cv:rect(dx - f / 2, dy - f / 2, dw + f, dh + f, {stroke = "#808080", width = f})
    frames[i] = {x = dx, y = dy, w = dw, h = dh}
    if captions then
      cv:text(tostring(captions[i]), dx + dw / 2, dy + dh + 0.25 * S.font, {size = S.small,
        halign = "center", valign = "top"})
    end
  end
  if opts.title then
    cv:text(opts.title, area.x + area.w / 2, top - S.title_pad, {size = S.title, halign = "center",
      valign = "bottom"})
  end
  if colorbar then
    local first, last = frames[1], frames[#frames]
    local box = {x = gx + gc * tw + (gc - 1) * gap - 0.4 * S.font, y = first.y, w = 0,
      h = math.max(last.y + last.h - first.y, first.h)}
    draw_colourbar(cv, box, ranges[1][1], ranges[1][2], cmap, opts.colorbar_label)
  end
  panel.tiles, panel.grid = frames, {rows = gr, cols = gc}
  return panel
end

---------------------------------------------------------------------------------------------------
-- Public functions: panel methods, and one-call shorthands that draw a one-panel figure.

local charts = {line = line, scatter = scatter, hist = hist, bars = bars, heatmap = heatmap,
  image_grid = image_grid}

for name, draw in pairs(charts) do
  Panel[name] = draw
  -- nn.plot.<chart>{..., file =, width =, height =, scale =} -> figure (saved when file is given)
  plot[name] = function(opts)
    opts = opts_table(opts, name)
    local fig = plot.figure{width = opts.width, height = opts.height, scale = opts.scale}
    draw(fig.panels[1], opts)
    if opts.file then fig:save(opts.file) end
    return fig
  end
end

plot.confidence_ellipse = ellipse_points

return plot
