-- nn.dream: deep dream on any model built with nnrun: gradient ascent on one class's logit (or
-- log-probability) with respect to the input image, from a real image or from blurred noise.
--
--   local r = nn.dream{model = model, class = 2, start = image, octaves = 4, steps = 50}
--   r.image           -- the final image, a tensor (C, H, W)
--   r.frames          -- {image =, octave =, step =}: snapshots a reader can lay out as a grid
--   r.before, r.after -- the output's class probabilities for the start and the final image
--
-- Each step runs the model once forward and once backward for one image, on the device, through
-- model:gradient (lua/nn/train.lua). The objective is a node of the model's own graph,
-- nn.sum(output * mask) (or nn.sum(log_softmax(output) * mask)), where `mask` is an extra graph
-- input fed a one-hot row per run: one objective, and one compiled plan, serve every class, and
-- the model's parameters (and so its checkpoints) are untouched.
--
-- The image work between steps is plain Lua on flat arrays (a 28x28 image is 784 numbers):
--   octaves  the image is optimised at sizes H / octave_scale^(octaves - k), k = 1..octaves; the
--            model sees it resized to its input size (bilinear), and the gradient comes back
--            through the adjoint of that resize. Between octaves the image is upscaled and the
--            detail the start image loses at the smaller size is added back (Mordvintsev's
--            deep dream).
--   jitter   before each step the image is rolled by a random shift of up to `jitter` pixels
--            (per axis) and the gradient rolled back, so no single pixel grid is exploited.
--   step     z += lr * (g / mean|g| - l2 * z - tv * dTV(z)): the objective's gradient normalised
--            to a mean magnitude of 1, then a small L2 pull towards 0 (the background) and the
--            gradient of a squared total variation (the sum of squared differences between
--            neighbouring pixels), which keep the picture readable; then z is clipped to `clip`.
-- Everything random (noise, shifts) comes from `seed`, so a dream is repeatable on one device.
local graph = require "nn.graph"
local tensor = require "nn._tensor"
local core = require "nn._core"
local util = require "nn.util"

local dream = {}

-- Unknown options are errors that list the known ones (graph.check_options), where it exists.
local check_options = graph.check_options or function(o) return o or {} end

---------------------------------------------------------------------------------------------------
-- Random numbers: splitmix64 on Lua's 64-bit integers, so results do not depend on math.random's
-- state (which the user's script owns).

local Rng = {}
Rng.__index = Rng

function dream.rng(seed)
  return setmetatable({s = math.tointeger(seed) or 0}, Rng)
end

function Rng:next()
  self.s = self.s + 0x9E3779B97F4A7C15
  local z = self.s
  z = (z ~ (z >> 30)) * 0xBF58476D1CE4E5B9
  z = (z ~ (z >> 27)) * 0x94D049BB133111EB
  return z ~ (z >> 31)
end

-- Uniform in [0, 1).
function Rng:uniform() return (self:next() >> 11) * (1.0 / 9007199254740992.0) end

-- Uniform integer in [lo, hi].
function Rng:int(lo, hi) return lo + math.floor(self:uniform() * (hi - lo + 1)) end

---------------------------------------------------------------------------------------------------
-- Images as flat arrays: values of (c, h, w) in row-major order, 1-based.

-- 1-D resampling weights from `from` samples to `to`: for each output index a flat list of
-- source index (1-based), weight, ... Upsampling is bilinear with pixel centres aligned
-- (align_corners = false, as PyTorch and OpenCV); downsampling averages the area each output
-- pixel covers, so a shrunk digit keeps its ink instead of aliasing.
local axis_cache = {}
local function axis_weights(from, to)
  local key = from .. ">" .. to
  if axis_cache[key] then return axis_cache[key] end
  local rows = {}
  if to >= from then
    for i = 0, to - 1 do
      local s = (i + 0.5) * from / to - 0.5
      if s < 0 then s = 0 elseif s > from - 1 then s = from - 1 end
      local i0 = math.floor(s)
      local i1, w = math.min(i0 + 1, from - 1), s - i0
      if i1 == i0 or w == 0 then rows[i + 1] = {i0 + 1, 1.0} else rows[i + 1] = {i0 + 1, 1 - w, i1 + 1, w} end
    end
  else
    local f = from / to
    for i = 0, to - 1 do
      local a, b, r = i * f, (i + 1) * f, {}
      for j = math.floor(a), math.min(math.ceil(b) - 1, from - 1) do
        local overlap = math.min(b, j + 1) - math.max(a, j)
        if overlap > 1e-12 then
          r[#r + 1] = j + 1
          r[#r + 1] = overlap / f
        end
      end
      rows[i + 1] = r
    end
  end
  axis_cache[key] = rows
  return rows
end

-- (c, h, w) -> (c, H, W): rows first along x, then along y.
local function resize(img, c, h, w, H, W)
  if h == H and w == W then return table.move(img, 1, c * h * w, 1, {}) end
  local wx, wy = axis_weights(w, W), axis_weights(h, H)
  local tmp, out = {}, {}
  for ch = 0, c - 1 do
    for y = 0, h - 1 do
      local src = (ch * h + y) * w
      local dst = (ch * h + y) * W
      for x = 1, W do
        local r, s = wx[x], 0
        for k = 1, #r, 2 do s = s + r[k + 1] * img[src + r[k]] end
        tmp[dst + x] = s
      end
    end
    for y = 1, H do
      local r = wy[y]
      local dst = (ch * H + y - 1) * W
      for x = 1, W do
        local s = 0
        for k = 1, #r, 2 do s = s + r[k + 1] * tmp[(ch * h + r[k] - 1) * W + x] end
        out[dst + x] = s
      end
    end
  end
  return out
end

-- The adjoint (transpose) of resize: a gradient on (c, H, W) brought back to (c, h, w).
local function resize_adjoint(g, c, h, w, H, W)
  if h == H and w == W then return table.move(g, 1, c * h * w, 1, {}) end
  local wx, wy = axis_weights(w, W), axis_weights(h, H)
  local tmp, out = {}, {}
  for i = 1, c * h * W do tmp[i] = 0 end
  for i = 1, c * h * w do out[i] = 0 end
  for ch = 0, c - 1 do
    for y = 1, H do
      local r = wy[y]
      local src = (ch * H + y - 1) * W
      for k = 1, #r, 2 do
        local dst, wt = (ch * h + r[k] - 1) * W, r[k + 1]
        for x = 1, W do tmp[dst + x] = tmp[dst + x] + wt * g[src + x] end
      end
    end
    for y = 0, h - 1 do
      local src, dst = (ch * h + y) * W, (ch * h + y) * w
      for x = 1, W do
        local r, v = wx[x], tmp[src + x]
        for k = 1, #r, 2 do out[dst + r[k]] = out[dst + r[k]] + r[k + 1] * v end
      end
    end
  end
  return out
end

-- Circular shift by (dy, dx) pixels; roll(roll(img, dy, dx), -dy, -dx) is img, and the adjoint
-- of a roll is the opposite roll.
local function roll(img, c, h, w, dy, dx)
  if dy % h == 0 and dx % w == 0 then return table.move(img, 1, c * h * w, 1, {}) end
  local out = {}
  for ch = 0, c - 1 do
    for y = 0, h - 1 do
      local row, src = (ch * h + (y + dy) % h) * w + 1, (ch * h + y) * w + 1
      for x = 0, w - 1 do out[row + (x + dx) % w] = img[src + x] end
    end
  end
  return out
end

-- Gaussian blur of standard deviation sigma (pixels), separable, edges clamped.
local function blur(img, c, h, w, sigma)
  if sigma <= 0 then return table.move(img, 1, c * h * w, 1, {}) end
  local radius = math.max(1, math.ceil(3 * sigma))
  local k, total = {}, 0
  for i = -radius, radius do
    k[i] = math.exp(-i * i / (2 * sigma * sigma))
    total = total + k[i]
  end
  for i = -radius, radius do k[i] = k[i] / total end
  local tmp, out = {}, {}
  for ch = 0, c - 1 do
    for y = 0, h - 1 do
      local row = (ch * h + y) * w
      for x = 0, w - 1 do
        local s = 0
        for i = -radius, radius do s = s + k[i] * img[row + math.min(math.max(x + i, 0), w - 1) + 1] end
        tmp[row + x + 1] = s
      end
    end
    for y = 0, h - 1 do
      for x = 0, w - 1 do
        local s = 0
        for i = -radius, radius do s = s + k[i] * tmp[(ch * h + math.min(math.max(y + i, 0), h - 1)) * w + x + 1] end
        out[(ch * h + y) * w + x + 1] = s
      end
    end
  end
  return out
end

-- Squared total variation: the sum over neighbouring pairs (right and down) of (a - b)^2, and its
-- gradient.
local function tv(img, c, h, w)
  local value, g = 0, {}
  for i = 1, c * h * w do g[i] = 0 end
  for ch = 0, c - 1 do
    for y = 0, h - 1 do
      for x = 0, w - 1 do
        local i = (ch * h + y) * w + x + 1
        if x < w - 1 then
          local d = img[i] - img[i + 1]
          value = value + d * d
          g[i], g[i + 1] = g[i] + 2 * d, g[i + 1] - 2 * d
        end
        if y < h - 1 then
          local d = img[i] - img[i + w]
          value = value + d * d
          g[i], g[i + w] = g[i] + 2 * d, g[i + w] - 2 * d
        end
      end
    end
  end
  return value, g
end

-- Image helpers on tensors, for users: (H, W) or (C, H, W) in, the same rank out.
local function dims(t, fn)
  if tensor.is(t) then
    local s = t:shape()
    if #s == 2 then return 1, s[1], s[2], false end
    if #s == 3 then return s[1], s[2], s[3], true end
  end
  util.fail("dream.%s: expected an image tensor (H, W) or (C, H, W), got %s", fn, tostring(t))
end

local function to_tensor(flat, c, h, w, three)
  local t = tensor.from_table(flat)
  return three and t:reshape{c, h, w} or t:reshape{h, w}
end

-- dream.resize(img, H, W): bilinear up, area-average down.
function dream.resize(t, H, W)
  local c, h, w, three = dims(t, "resize")
  return to_tensor(resize(t:flat(), c, h, w, H, W), c, H, W, three)
end

-- dream.shift(img, dy, dx): circular shift (what jitter does).
function dream.shift(t, dy, dx)
  local c, h, w, three = dims(t, "shift")
  return to_tensor(roll(t:flat(), c, h, w, dy, dx), c, h, w, three)
end

-- dream.blur(img, sigma): Gaussian blur, edges clamped.
function dream.blur(t, sigma)
  local c, h, w, three = dims(t, "blur")
  return to_tensor(blur(t:flat(), c, h, w, sigma), c, h, w, three)
end

-- dream.tv(img) -> squared total variation, and its gradient as a tensor of the image's shape.
function dream.tv(t)
  local c, h, w, three = dims(t, "tv")
  local v, g = tv(t:flat(), c, h, w)
  return v, to_tensor(g, c, h, w, three)
end

-- The flat-array versions (img, c, h, w, ...), for scripts that work on arrays, and the tests.
dream.flat = {resize = resize, resize_adjoint = resize_adjoint, roll = roll, blur = blur, tv = tv}

---------------------------------------------------------------------------------------------------
-- The model side: its image shape, the class objective, probabilities.

-- The per-sample (c, h, w) the model's first input takes: its shape when it is (c, h, w), a square
-- single-channel image when it is flat (784 -> 1 x 28 x 28), or `shape`.
local function image_shape(model, shape)
  local x = model.inputs[1]
  local info = x:info()
  local per = {}
  for i = 2, #info.shape do per[#per + 1] = info.shape[i] end
  if shape then
    if type(shape) ~= "table" or #shape ~= 3 then util.fail("nn.dream: shape must be {channels, height, width}") end
    if shape[1] * shape[2] * shape[3] ~= info.numel then
      util.fail("nn.dream: shape {%d, %d, %d} has %d values; input '%s' %s takes %d", shape[1], shape[2], shape[3],
        shape[1] * shape[2] * shape[3], x:name(), x:shape_string(), info.numel)
    end
    return shape[1], shape[2], shape[3]
  end
  if #per == 3 then return per[1], per[2], per[3] end
  if #per == 2 then return 1, per[1], per[2] end
  local side = math.floor(math.sqrt(info.numel) + 0.5)
  if #per == 1 and side * side == info.numel then return 1, side, side end
  util.fail("nn.dream: input '%s' %s is not an image; give shape = {channels, height, width}", x:name(), x:shape_string())
end

-- The output to dream on, its node and its class count.
local function output_of(model, name)
  if name == nil then
    if #model.output_names ~= 1 then
      util.fail("nn.dream: the model has outputs %s; say which with output = '...'", table.concat(model.output_names, ", "))
    end
    name = model.output_names[1]
  end
  local y = model.outputs[name]
  if not y then
    util.fail("nn.dream: no output named '%s' (outputs: %s)", tostring(name), table.concat(model.output_names, ", "))
  end
  local shape = y:info().shape
  if #shape ~= 2 or not y:info().batched then
    util.fail("nn.dream: output '%s' %s is not (batch, classes)", name, y:shape_string())
  end
  return name, y, shape[2]
end

local function check_class(class, name, classes)
  if math.type(class) ~= "integer" or class < 0 or class >= classes then
    util.fail("nn.dream: class %s is outside output '%s''s %d classes (0..%d)", tostring(class), name, classes, classes - 1)
  end
end

local KINDS = {logit = true, log_prob = true}

-- dream.objective(model, {class, output, objective = "logit" | "log_prob"}) -> node, feed:
-- the 1-element objective node for model:gradient and the feed that selects the class:
--   local obj, feed = nn.dream.objective(model, {class = 2})
--   local grad, value = model:gradient(x, obj, {feed = feed})
-- The node is built once per (output, kind) and cached on the model.
function dream.objective(model, opts)
  opts = check_options(opts, "dream.objective", "class output objective")
  local name, y, classes = output_of(model, opts.output)
  check_class(opts.class, name, classes)
  local kind = opts.objective or "logit"
  if not KINDS[kind] then util.fail("nn.dream: objective must be 'logit' or 'log_prob', not '%s'", tostring(kind)) end
  model.dream_objectives = model.dream_objectives or {}
  local key = name .. ":" .. kind
  local o = model.dream_objectives[key]
  if not o then
    local g = model.graph
    local mask_name = "dream_mask:" .. name
    local mask = g:find(mask_name) or g:input(mask_name, {classes})
    local scores = kind == "log_prob" and graph.log_softmax(y) or y
    o = {node = graph.sum(scores * mask, {name = "dream_objective:" .. key}), mask = mask}
    model.dream_objectives[key] = o
  end
  local onehot = tensor.new({1, classes})
  onehot:set(1, 1, opts.class + 1)
  return o.node, {[o.mask] = onehot}
end

-- dream.gradient(model, x, {class, output, objective}) -> d objective / d x (a tensor of the
-- model's input shape, one row) and the objective's value (a 1-element tensor).
function dream.gradient(model, x, opts)
  local obj, feed = dream.objective(model, opts)
  return model:gradient(x, obj, {feed = feed})
end

-- Softmax of each row of a logits tensor (n, K) -> list of lists.
function dream.softmax_rows(logits)
  local n, k = logits:shape()[1], logits:shape()[2]
  local flat, rows = logits:flat(), {}
  for i = 0, n - 1 do
    local m = -math.huge
    for j = 1, k do m = math.max(m, flat[i * k + j]) end
    local s, row = 0, {}
    for j = 1, k do
      row[j] = math.exp(flat[i * k + j] - m)
      s = s + row[j]
    end
    for j = 1, k do row[j] = row[j] / s end
    rows[i + 1] = row
  end
  return rows
end

-- The start image as a flat array of c*h*w values, checked against the model's input. Bytes
-- (uint8) are scaled to [0, 1] as training scales them.
local function start_values(start, c, h, w, model)
  if not tensor.is(start) then util.fail("nn.dream: start must be an image tensor or \"noise\", got %s", tostring(start)) end
  if start:numel() ~= c * h * w then
    local x = model.inputs[1]
    util.fail("nn.dream: the start image %s has %d values; input '%s' %s takes %d (%d x %d x %d)", tostring(start),
      start:numel(), x:name(), x:shape_string(), c * h * w, c, h, w)
  end
  local flat = start:flat()
  if start:dtype() == "uint8" then
    for i = 1, #flat do flat[i] = flat[i] / 255 end
  end
  return flat
end

-- Uniform noise, blurred, then set to the given mean and standard deviation.
local function noise_values(c, h, w, rng, o)
  local v = {}
  for i = 1, c * h * w do v[i] = rng:uniform() end
  v = blur(v, c, h, w, o.blur or 1)
  local n, s, s2 = #v, 0, 0
  for i = 1, n do s = s + v[i] end
  local m = s / n
  for i = 1, n do s2 = s2 + (v[i] - m) ^ 2 end
  local sd = math.max(math.sqrt(s2 / n), 1e-12)
  local mean, std = o.mean or 0.15, o.std or 0.1
  for i = 1, n do v[i] = mean + (v[i] - m) / sd * std end
  return v
end

-- dream.noise{c = 1, h = 28, w = 28, seed = 0, blur = 1, mean = 0.15, std = 0.1} -> (c, h, w):
-- the blurred noise a dream starts from with start = "noise".
function dream.noise(opts)
  opts = check_options(opts, "dream.noise", "c h w seed blur mean std")
  local c, h, w = opts.c or 1, opts.h or 28, opts.w or 28
  return to_tensor(noise_values(c, h, w, dream.rng(opts.seed or 0), opts), c, h, w, true)
end

---------------------------------------------------------------------------------------------------
-- The dream.

local OPTIONS = "model class output objective start octaves octave_scale steps jitter lr l2 tv clip seed record " ..
  "shape noise detail"

-- nn.dream{model, class, output, objective = "logit", start = "noise" | image tensor,
--   octaves = 4, octave_scale = 1.4, steps = 50 (per octave), jitter = 2 (pixels), lr = 0.003,
--   l2 = 0.5, tv = 0.1, clip = {0, 1} (or false), seed = 0, record = 10 (a frame every 10 steps),
--   shape = {c, h, w} (for flat inputs), noise = {mean, std, blur}, detail = true}
-- -> {image (C, H, W), start (C, H, W), frames = {{image, octave, step, objective}}, trace (the
--    objective at every step, measured on the jittered image), before, after (class
--    probabilities of the start and final image), logits_before, logits_after, seconds, steps
--    (in all), class, output, sizes (each octave's {h, w})}
function dream.run(opts)
  opts = check_options(opts, "nn.dream", OPTIONS)
  local model = opts.model
  if type(model) ~= "table" or not model.graph or not model.inputs then util.fail("nn.dream: model must be an nnrun model") end
  local c, H, W = image_shape(model, opts.shape)
  local name, y, classes = output_of(model, opts.output)
  check_class(opts.class, name, classes)
  local octaves, steps = opts.octaves or 4, opts.steps or 50
  local scale, jitter, lr = opts.octave_scale or 1.4, opts.jitter or 2, opts.lr or 0.003
  local l2, tvw = opts.l2 or 0.5, opts.tv or 0.1
  local record = opts.record or 10
  local clip = opts.clip
  if clip == nil then clip = {0, 1} end
  for _, v in ipairs{{"octaves", octaves}, {"steps", steps}, {"record", record}} do
    if math.type(v[2]) ~= "integer" or v[2] < 1 then
      util.fail("nn.dream: %s must be a positive integer, got %s", v[1], tostring(v[2]))
    end
  end
  if math.type(jitter) ~= "integer" or jitter < 0 then util.fail("nn.dream: jitter must be an integer >= 0 (pixels)") end
  if type(scale) ~= "number" or scale < 1 then util.fail("nn.dream: octave_scale must be a number >= 1") end
  if type(lr) ~= "number" or lr <= 0 then util.fail("nn.dream: lr must be a positive number") end
  local rng = dream.rng(opts.seed or 0)

  local start = opts.start or "noise"
  local base
  if start == "noise" then base = noise_values(c, H, W, rng, opts.noise or {})
  else base = start_values(start, c, H, W, model) end
  local lo, hi = clip and clip[1] or -math.huge, clip and clip[2] or math.huge
  for i = 1, #base do base[i] = math.min(math.max(base[i], lo), hi) end

  local obj, feed = dream.objective(model, {class = opts.class, output = name, objective = opts.objective})
  local gopts = {feed = feed}
  -- Sizes per octave: the last is the model's own.
  local sizes = {}
  for k = 1, octaves do
    local f = scale ^ (octaves - k)
    sizes[k] = {math.max(1, math.floor(H / f + 0.5)), math.max(1, math.floor(W / f + 0.5))}
  end

  local frames, trace = {}, {}
  local function snap(z, h, w, octave, step, value)
    frames[#frames + 1] = {image = to_tensor(resize(z, c, h, w, H, W), c, H, W, true), octave = octave, step = step,
      objective = value}
  end

  local t0 = core.seconds()
  local h, w = sizes[1][1], sizes[1][2]
  local z = resize(base, c, H, W, h, w)
  local total = 0
  snap(z, h, w, 1, 0, nil)
  for k = 1, octaves do
    if k > 1 then
      -- Upscale, then add back the detail the start image loses at the smaller size.
      local nh, nw = sizes[k][1], sizes[k][2]
      z = resize(z, c, h, w, nh, nw)
      if opts.detail ~= false then
        local here = resize(base, c, H, W, nh, nw)
        local lost = resize(resize(base, c, H, W, h, w), c, h, w, nh, nw)
        for i = 1, #z do z[i] = math.min(math.max(z[i] + here[i] - lost[i], lo), hi) end
      end
      h, w = nh, nw
    end
    for s = 1, steps do
      local dy, dx = 0, 0
      if jitter > 0 then dy, dx = rng:int(-jitter, jitter), rng:int(-jitter, jitter) end
      local x = roll(resize(z, c, h, w, H, W), c, H, W, dy, dx)
      local grad, value = model:gradient(tensor.from_table({x}), obj, gopts)
      local g = resize_adjoint(roll(grad:flat(), c, H, W, -dy, -dx), c, h, w, H, W)
      local mean = 0
      for i = 1, #g do mean = mean + math.abs(g[i]) end
      mean = math.max(mean / #g, 1e-12)
      local _, tg = tv(z, c, h, w)
      for i = 1, #z do
        local v = z[i] + lr * (g[i] / mean - l2 * z[i] - tvw * tg[i])
        z[i] = math.min(math.max(v, lo), hi)
      end
      total = total + 1
      trace[total] = value:flat()[1]
      if s % record == 0 or s == steps then snap(z, h, w, k, total, trace[total]) end
    end
  end
  local seconds = core.seconds() - t0

  local final = resize(z, c, h, w, H, W)
  local logits = model:run(tensor.from_table({base, final}), {y})[1]
  local p, lf = dream.softmax_rows(logits), logits:flat()
  return {image = to_tensor(final, c, H, W, true), start = to_tensor(base, c, H, W, true), frames = frames,
    trace = trace, before = p[1], after = p[2], logits_before = {table.unpack(lf, 1, classes)},
    logits_after = {table.unpack(lf, classes + 1, 2 * classes)}, seconds = seconds, steps = total,
    class = opts.class, output = name, sizes = sizes}
end

return setmetatable(dream, {__call = function(_, opts) return dream.run(opts) end})
