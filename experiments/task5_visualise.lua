-- Report task 5: what CNN-1 learned. Its filters, the feature maps of every conv layer for a test
-- image of a 2 and one of a 9, and deep dream images of classes 2 and 9, from a real digit and
-- from blurred noise, with the numbers that say what the pictures show.
--
--   nnrun experiments/task5_visualise.lua [--checkpoint PATH] [--epochs N] [--subset N] [--batch B]
--     [--lr LR] [--seed S] [--index2 I] [--index9 I] [--octaves N] [--steps N]
--
-- --checkpoint loads CNN-1's weights (a file written by model:save, or the checkpoint of a
-- model:fit of CNN-1, such as experiments/cnn_sweep.lua's); without it CNN-1 is trained here as
-- task 4 trains it (10 epochs, batch 128, Adam 1e-3) and its weights are kept in
-- results/task5_visualise/ for the next run. --index2 / --index9 choose the test images (0-based
-- MNIST test indices) instead of drawing them with --seed. Writes results/task5_visualise/:
-- README.md, the figures and CSV tables.
local nn = require "nn"
local cnn = require "models.cnn"

local args = nn.util.args(arg, {checkpoint = "string", epochs = "number", subset = "number", batch = "number",
  lr = "number", seed = "number", index2 = "number", index9 = "number", octaves = "number", steps = "number"})
local epochs, batch, seed, lr = args.epochs or 10, args.batch or 128, args.seed or 1, args.lr or 1e-3
local octaves, steps = args.octaves or 4, args.steps or 50
local CLASSES = {2, 9}
local LAYERS = {"conv2d_1", "conv2d_2", "conv2d_3"}
local dir = "results/task5_visualise"

local spec = cnn.find("CNN-1")
local arch = cnn.architecture(spec.filters)
local model = cnn.build(spec.filters)
if model:param_count() ~= spec.params then
  error(string.format("CNN-1 %s has %d parameters; the report's has %d", arch, model:param_count(), spec.params), 0)
end
local data = nn.data.mnist()
local test = data.test
local report = nn.report.new{name = "task5_visualise", title = "Task 5: visualising what CNN-1 learned", seed = seed, dir = dir}

-- ---- the model: loaded or trained ----

local origin, eval_set
if args.checkpoint then
  local path = args.checkpoint
  local f = io.open(path, "rb")
  if not f then
    error(string.format("--checkpoint '%s' does not exist; run without --checkpoint to train CNN-1 here " ..
      "(add --epochs N --subset N to train it small)", path), 0)
  end
  f:close()
  local ok, err = pcall(model.load, model, path)
  if not ok then
    error(string.format("--checkpoint '%s' does not hold CNN-1 %s (%s); run without --checkpoint to train CNN-1 here",
      path, arch, (tostring(err):gsub("^[^:]*:%d+: ", ""))), 0)
  end
  origin = string.format("loaded from `%s`", path)
  eval_set = test
else
  local train = data.train
  eval_set = test
  if args.subset then
    train = train:subset(args.subset, seed)
    eval_set = test:subset(math.min(test.n, math.max(args.subset // 6, 100)), seed)
  end
  local ckpt = string.format("%s/CNN-1_e%d_n%d_b%d_s%d.ckpt", dir, epochs, train.n, batch, seed)
  require("nn._core").mkdirs(dir)
  local history = model:fit(train, {loss = nn.loss.cross_entropy, optimizer = nn.optim.adam{lr = lr}, epochs = epochs,
    batch = batch, seed = seed, checkpoint = ckpt, label = "CNN-1"})
  local seconds = 0
  for _, h in ipairs(history) do seconds = seconds + h.train_seconds end
  origin = string.format("trained here on %s training images for %d epochs (batch %d, Adam lr %g, seed %d, %.0f s); " ..
    "its weights are in `%s` (pass it as --checkpoint)", nn.util.commas(train.n), epochs, batch, lr, seed, seconds, ckpt)
end
local evaluation = model:evaluate(eval_set)

-- ---- helpers ----

local function top_k(values, k)
  local order = {}
  for i = 1, #values do order[i] = i end
  table.sort(order, function(a, b) return values[a] > values[b] end)
  local out = {}
  for i = 1, math.min(k, #order) do out[i] = order[i] end
  return out
end

-- Filters are numbered from 0 in the text, as their index in the weight tensor.
local function names(list)
  local s = {}
  for i, f in ipairs(list) do s[i] = "#" .. (f - 1) end
  return table.concat(s, " ")
end

local function overlap(a, b)
  local set, n = {}, 0
  for _, v in ipairs(a) do set[v] = true end
  for _, v in ipairs(b) do n = n + (set[v] and 1 or 0) end
  return n
end

local function cosine(a, b)
  local ab, aa, bb = 0, 0, 0
  for i = 1, #a do
    ab, aa, bb = ab + a[i] * b[i], aa + a[i] * a[i], bb + b[i] * b[i]
  end
  return ab / math.max(math.sqrt(aa * bb), 1e-30)
end

local function pearson(a, b)
  local n, ma, mb = #a, 0, 0
  for i = 1, n do ma, mb = ma + a[i] / n, mb + b[i] / n end
  local x, y = {}, {}
  for i = 1, n do x[i], y[i] = a[i] - ma, b[i] - mb end
  return cosine(x, y)
end

-- Per-map statistics of one image's activations of a layer (C, H, W as a flat array): the mean
-- of each map, whether it fires anywhere, and the share of units above zero.
local function map_stats(flat, c, hw)
  local means, firing, active = {}, 0, 0
  for m = 0, c - 1 do
    local s, any = 0, false
    for p = 1, hw do
      local v = flat[m * hw + p]
      s = s + v
      if v > 0 then
        any = true
        active = active + 1
      end
    end
    means[m + 1] = s / hw
    firing = firing + (any and 1 or 0)
  end
  return {means = means, firing = firing, active = active / (c * hw)}
end

local function probs_of(x) return nn.dream.softmax_rows(model:predict(x))[1] end

local function argmax(p)
  local best = 1
  for i = 2, #p do
    if p[i] > p[best] then best = i end
  end
  return best - 1
end

-- ---- the two test images ----

local labels = test.labels:flat()

-- A test image as a float tensor (1, 1, 28, 28) in [0, 1], as training feeds it.
local function image(index)
  local v = test.images:select(index + 1):flat()
  for i = 1, #v do v[i] = v[i] / 255 end
  return nn.tensor({v}):reshape{1, 1, 28, 28}
end

-- 0-based index of the test image of `class`: given, or drawn with the seed.
local function pick(class, index)
  if index then
    if math.type(index) ~= "integer" or index < 0 or index >= test.n then
      error(string.format("--index%d %s: MNIST test indices run from 0 to %d", class, tostring(index), test.n - 1), 0)
    end
    if labels[index + 1] ~= class then
      error(string.format("--index%d %d: test image %d is a %d, not a %d", class, index, index, labels[index + 1], class), 0)
    end
    return index
  end
  -- Drawn: the first image of the class, in an order shuffled by the seed, that the model
  -- classifies correctly (a typical digit, not one of its mistakes).
  local candidates = {}
  for i, l in ipairs(labels) do
    if l == class then candidates[#candidates + 1] = i - 1 end
  end
  local rng = nn.dream.rng(seed * 1000 + class)
  for i = #candidates, 2, -1 do
    local j = rng:int(1, i)
    candidates[i], candidates[j] = candidates[j], candidates[i]
  end
  for _, index in ipairs(candidates) do
    if argmax(probs_of(image(index))) == class then return index end
  end
  return candidates[1]
end

local chosen = {}
for _, c in ipairs(CLASSES) do
  local index = pick(c, args["index" .. c])
  chosen[c] = {index = index, x = image(index)}
end

local device = nn.device()
report:text(string.format([[
CNN-1 %s (4x4 convolutions, 'same' padding, ReLU, strides 1, 2, 2, Flatten, Dense(10); %s
parameters) %s. Its test accuracy is %.4f on %s test images. Every number below is computed by
this script (experiments/task5_visualise.lua) from the model's weights and activations; activations
are read from the graph engine after a forward pass (model:run), and the deep dream gradients come
from the same graph's backward pass (model:gradient through nn.dream), on %s.]],
  arch, nn.util.commas(spec.params), origin, evaluation.accuracy, nn.util.commas(eval_set.n), device.name))

-- ---- filters ----

report:text([[
### Filters

Each conv layer's weights, one tile per output filter, on one diverging colour scale per figure
(red positive, blue negative, white zero; the scale is symmetric about zero). conv2d_1 has one
input channel, so each tile is the filter itself. conv2d_2 and conv2d_3 have 32 and 64 input
channels: **each tile is the mean of the filter over its input channels** (a summary; the full
filters of conv2d_2's first 8 filters follow, one row per filter, its 32 channels side by side).]])

local weights = {}
for li, name in ipairs(LAYERS) do
  local w = model:param(name .. ".weight")  -- (filters, channels, 4, 4)
  weights[name] = w
  local shape = w:shape()
  local f, c = shape[1], shape[2]
  local cols = f <= 32 and 8 or 16
  local rows = math.ceil(f / cols)
  local tile = (1000 - 180) / cols
  local fig = nn.plot.figure{width = 1000, height = math.floor(70 + rows * (tile + 3)), title = string.format(
    "Filters of %s: %d filters of %dx%d%s", name, f, shape[3], shape[4], c > 1 and string.format(", mean over %d input channels", c) or "")}
  fig:panel(1):image_grid{images = w, channels = c > 1 and "mean" or "tiles", normalize = "shared", cmap = "RdBu_r",
    colorbar = true, cols = cols}
  report:figure(fig:save(string.format("%s/filters_%s.png", dir, name)), string.format("Filters of %s", name))
  if li == 2 then
    local flat = w:flat()
    local n = 8 * c * shape[3] * shape[4]
    local part = nn.tensor(table.move(flat, 1, n, 1, {})):reshape{8, c, shape[3], shape[4]}
    local full = nn.plot.figure{width = 1400, height = math.floor(70 + 8 * ((1400 - 140) / c + 3)), title = string.format(
      "conv2d_2 filters #0-#7: each row one filter, its %d input channels side by side", c)}
    full:panel(1):image_grid{images = part, channels = "tiles", normalize = "shared", cmap = "RdBu_r", colorbar = true, cols = c}
    report:figure(full:save(dir .. "/filters_conv2d_2_channels.png"), "conv2d_2 filters #0-#7, every input channel")
  end
end

-- What the first layer's filters are: for each 4x4 filter, the energy of its differences along x
-- (a vertical edge detector has most) and along y (a horizontal one), and how much of it is a
-- plain sum (a blob detector: |sum w| / sum |w| near 1).
do
  local w = weights.conv2d_1:flat()
  local f = #w // 16
  local vertical, horizontal, mixed, blobs, positive = 0, 0, 0, 0, 0
  for i = 0, f - 1 do
    local k = {}
    for j = 1, 16 do k[j] = w[i * 16 + j] end
    local ex, ey, s, sa = 0, 0, 0, 0
    for y = 0, 3 do
      for x = 0, 3 do
        local v = k[y * 4 + x + 1]
        s, sa = s + v, sa + math.abs(v)
        if x < 3 then ex = ex + (k[y * 4 + x + 2] - v) ^ 2 end
        if y < 3 then ey = ey + (k[(y + 1) * 4 + x + 1] - v) ^ 2 end
      end
    end
    if math.abs(s) / sa > 0.6 then blobs = blobs + 1
    elseif ex > 2 * ey then vertical = vertical + 1
    elseif ey > 2 * ex then horizontal = horizontal + 1
    else mixed = mixed + 1 end
    if s > 0 then positive = positive + 1 end
  end
  local lines = {}
  for _, name in ipairs(LAYERS) do
    local s = weights[name]:stats()
    local v = weights[name]:flat()
    local shape = weights[name]:shape()
    local nf, nc, k = shape[1], shape[2], shape[3] * shape[4]
    local ss, ms = 0, 0
    for i = 1, #v do ss = ss + (v[i] - s.mean) ^ 2 end
    local sdw = math.sqrt(ss / #v)
    local line = string.format("%s: %s weights, mean %.4f, standard deviation %.4f, range [%.3f, %.3f]",
      name, nn.util.commas(#v), s.mean, sdw, s.min, s.max)
    if nc > 1 then
      -- The tiles drawn are channel means: their spread against the 1/sqrt(C) that unrelated channels would give.
      local means, mm = {}, 0
      for fi = 0, nf - 1 do
        for p = 1, k do
          local t = 0
          for ci = 0, nc - 1 do t = t + v[(fi * nc + ci) * k + p] end
          means[#means + 1] = t / nc
          mm = mm + t / nc
        end
      end
      mm = mm / #means
      for i = 1, #means do ms = ms + (means[i] - mm) ^ 2 end
      local sdm = math.sqrt(ms / #means)
      local ratio, unrelated = sdm / sdw, 1 / math.sqrt(nc)
      line = line .. string.format("; the channel means drawn above have standard deviation %.4f, %.2f of the weights', " ..
        "against %.2f = 1/sqrt(%d) if the %d channels of a filter were unrelated: %s", sdm, ratio, unrelated, nc, nc,
        ratio > 1.2 * unrelated and "a filter's channels partly agree, so its mean tile shows a pattern they share"
          or "the mean tile is close to what unrelated channels would give, and says little")
    end
    lines[#lines + 1] = line
  end
  report:text(string.format([[
What the first layer's %d filters are, measured on their weights: %d are mostly one sign
(|sum of weights| / sum of |weights| above 0.6: blob or ink detectors), %d change mostly along x
(vertical edge detectors: the energy of differences along x is more than twice that along y), %d
mostly along y (horizontal edges), and %d mix both (diagonals, corners). %d of the %d have a
positive sum, i.e. respond more to ink than to background. Deeper filters do not read as strokes:
each combines many maps of the layer before, and the tiles drawn for them are means over those
channels, much fainter than the weights themselves (last two lines below).

- %s]], f, blobs, vertical, horizontal, mixed, positive, f, table.concat(lines, "\n- ")))
end

-- ---- activations ----

local acts = {}
for _, c in ipairs(CLASSES) do
  local x = chosen[c].x
  local values = model:run(x, {"conv2d_1", "conv2d_2", "conv2d_3", "logits"})
  chosen[c].acts = values
  chosen[c].probs = nn.dream.softmax_rows(values[4])[1]
end

report:text(string.format([[
### Activations

The output of every conv layer (after its ReLU) for test image %d (a 2) and test image %d (a 9)
%s. Each figure shows one layer for both digits on one colour scale (0 to the largest activation of
the layer over both images), the input image beside the feature maps.]], chosen[2].index, chosen[9].index,
  (args.index2 or args.index9) and "(chosen on the command line)" or string.format("(drawn with seed %d among the test images the model classifies correctly)", seed)))

local act_rows = {}
for li, name in ipairs(LAYERS) do
  local t2, t9 = chosen[2].acts[li], chosen[9].acts[li]
  local shape = t2:shape()  -- (1, C, H, W)
  local c, h, w = shape[2], shape[3], shape[4]
  local hi = math.max(t2:stats().max, t9:stats().max, 1e-6)
  local fig = nn.plot.figure{rows = 2, cols = 2, width = 1300, height = 1100,
    title = string.format("Activations of %s: %d feature maps of %dx%d", name, c, h, w)}
  local stats = {}
  for r, cls in ipairs(CLASSES) do
    local ch = chosen[cls]
    local t = ch.acts[li]
    fig:panel(r, 1):image_grid{images = ch.x:reshape{28, 28}, normalize = {0, 1}, cmap = "gray",
      title = string.format("input: test image %d, a %d (p = %.3f)", ch.index, cls, ch.probs[cls + 1])}
    fig:panel(r, 2):image_grid{images = t:reshape{c, h, w}, normalize = {0, hi}, cmap = "viridis", colorbar = true,
      title = string.format("%s for the %d", name, cls)}
    stats[cls] = map_stats(t:flat(), c, h * w)
  end
  report:figure(fig:save(string.format("%s/activations_%s.png", dir, name)), string.format("Activations of %s for a 2 and a 9", name))
  local top2, top9 = top_k(stats[2].means, 5), top_k(stats[9].means, 5)
  act_rows[#act_rows + 1] = {name, string.format("%d x %d x %d", c, h, w), stats[2].firing, stats[9].firing, stats[2].active,
    stats[9].active, names(top2), names(top9), overlap(top_k(stats[2].means, 10), top_k(stats[9].means, 10)),
    pearson(stats[2].means, stats[9].means)}
end
report:table{name = "activations", caption = "Per layer: maps that fire anywhere (of all), the share of units above zero, " ..
  "the 5 maps with the largest mean, how many of the top 10 the two digits share, and the correlation of the two digits' per-map means.",
  columns = {"Layer", "Maps (C x H x W)", "Firing maps (2)", "Firing maps (9)", {name = "Active units (2)", format = "%.3f"},
    {name = "Active units (9)", format = "%.3f"}, "Top maps (2)", "Top maps (9)", "Shared top 10",
    {name = "Correlation of map means", format = "%.3f"}},
  rows = act_rows}
do
  local first, last = act_rows[1], act_rows[#act_rows]
  report:text(string.format([[
Reading the table: in conv2d_1 the two digits' per-map means correlate %.3f and share %d of their
10 strongest maps: first-layer maps are edge and ink detectors slid over the whole image, so each
map looks like the digit with some edges stressed, whichever the digit. By conv2d_3 the
correlation is %.3f and %d of the top 10 are shared: %s. The maps shrink with the strides (28x28,
14x14, 7x7) while their number grows (32, 64, 128), and the share of units above zero goes from
%.0f%% / %.0f%% (the 2 / the 9) in conv2d_1 to %.0f%% / %.0f%% in conv2d_3.]],
    first[10], first[9], last[10], last[9],
    last[10] < first[10] and "which maps respond depends more on the digit in the last layer, whose maps code which strokes lie where, and which the Dense layer reads as a class"
      or "in this model the last layer's map means separate the two digits no better than the first layer's",
    100 * first[5], 100 * first[6], 100 * last[5], 100 * last[6]))
end

-- ---- deep dream ----

-- Reference responses of the last conv layer, per filter (the mean of its 7x7 map): over a sample
-- of all test digits (each filter's mean and standard deviation across images), and the class
-- means of the 2s and the 9s. A response is then read as a z-score, "how many standard deviations
-- above a typical digit", so that filters which respond to any ink do not top every list.
local SAMPLE = 200
local function responses(ds)
  local values = model:run(ds, {"conv2d_3", "logits", "x"})
  local a, logits, x = values[1], values[2], values[3]
  local shape = a:shape()
  local n, f, hw = shape[1], shape[2], shape[3] * shape[4]
  local rows, image_mean = {}, {}
  for j = 1, 784 do image_mean[j] = 0 end
  for i = 1, n do
    rows[i] = map_stats(a:select(i):flat(), f, hw).means
    local px = x:select(i):flat()
    for j = 1, 784 do image_mean[j] = image_mean[j] + px[j] / n end
  end
  return {rows = rows, n = n, f = f, logits = logits:flat(), image_mean = image_mean}
end
local baseline = responses(test:subset(2 * SAMPLE, seed + 7))
local mu, sd = {}, {}
for j = 1, baseline.f do
  local s, s2 = 0, 0
  for i = 1, baseline.n do
    s = s + baseline.rows[i][j]
    s2 = s2 + baseline.rows[i][j] ^ 2
  end
  mu[j] = s / baseline.n
  sd[j] = math.sqrt(math.max(s2 / baseline.n - mu[j] ^ 2, 0)) + 1e-6
end
local function zscores(means)
  local z = {}
  for j = 1, #means do z[j] = (means[j] - mu[j]) / sd[j] end
  return z
end
local classes = {}
for _, c in ipairs(CLASSES) do
  local ds = test:filter{c}
  local r = responses(ds:subset(math.min(SAMPLE, ds.n), seed))
  local z = {}
  for j = 1, r.f do
    local s = 0
    for i = 1, r.n do s = s + (r.rows[i][j] - mu[j]) / sd[j] end
    z[j] = s / r.n
  end
  local best, sum = -math.huge, 0
  for i = 1, r.n do
    local l = r.logits[(i - 1) * 10 + c + 1]
    best, sum = math.max(best, l), sum + l
  end
  classes[c] = {z = z, n = r.n, logit_max = best, logit_mean = sum / r.n, image_mean = r.image_mean}
end

local DREAM = {lr = 0.003, l2 = 0.5, tv = 0.1, jitter = 2}
local dream_rows, filter_rows = {}, {}
local dreams = {}
for _, c in ipairs(CLASSES) do
  dreams[c] = {}
  for _, start in ipairs{"real", "noise"} do
    local r = nn.dream{model = model, class = c, start = start == "real" and chosen[c].x:reshape{1, 28, 28} or "noise",
      octaves = octaves, steps = steps, seed = seed, lr = DREAM.lr, l2 = DREAM.l2, tv = DREAM.tv, jitter = DREAM.jitter,
      record = 10}
    dreams[c][start] = r
    dream_rows[#dream_rows + 1] = {c, start == "real" and string.format("test image %d", chosen[c].index) or "blurred noise",
      r.before[c + 1], r.after[c + 1], r.logits_before[c + 1], r.logits_after[c + 1], argmax(r.before), argmax(r.after),
      r.steps, r.seconds}
  end
end
local sizes = {}
for i, size in ipairs(dreams[2].real.sizes) do sizes[i] = size[1] .. "x" .. size[2] end
report:text(string.format([[
### Deep dream

nn.dream climbs the gradient of one class's **logit** (the Dense layer's output before softmax)
with respect to the input image, for classes 2 and 9, from the real test digit above and from
blurred noise. %d octaves of %d steps: the image is optimised at %s pixels in turn, the model
always seeing it resized to 28x28, and between octaves it is upscaled with the detail of the start
image added back. Each step is one forward and one backward pass of one image: the gradient is
normalised to a mean magnitude of 1 and a step of lr = %g taken along it, with a pull towards 0
(L2, %g per unit of normalised gradient) and a squared total-variation penalty (%g), the image
rolled by up to %d pixels at random (jitter) before each step and clipped to [0, 1] afterwards.
Seed %d; every dream is repeatable on one device.]], octaves, steps, table.concat(sizes, ", "), DREAM.lr, DREAM.l2,
  DREAM.tv, DREAM.jitter, seed))

report:table{name = "dreams", caption = "Class probabilities (softmax of the logits) and the class logit before and after each dream; " ..
  "the predicted class before and after; the dream's steps and seconds (forward, backward and the image work in Lua).",
  columns = {"Class", "Start", {name = "p(class) before", format = "%.4f"}, {name = "p(class) after", format = "%.6f"},
    {name = "Logit before", format = "%.2f"}, {name = "Logit after", format = "%.2f"}, "Predicted before", "Predicted after",
    "Steps", {name = "Seconds", format = "%.2f"}},
  rows = dream_rows}

-- The sequences.
for _, c in ipairs(CLASSES) do
  local at, first = {}, 1
  for k, size in ipairs(dreams[c].real.sizes) do
    at[k] = string.format("%dx%d from step %d", size[1], size[2], first)
    first = first + steps
  end
  local fig = nn.plot.figure{rows = 2, cols = 1, width = 1500, height = 740,
    title = string.format("Deep dream of class %d every 10 steps (caption: step, logit of %d on that step's jittered input)",
      c, c)}
  for r, start in ipairs{"real", "noise"} do
    local d = dreams[c][start]
    local imgs, caps = {}, {}
    for i, f in ipairs(d.frames) do
      imgs[i] = f.image:reshape{28, 28}
      caps[i] = f.objective and string.format("%d: %.1f", f.step, f.objective)
        or string.format("start, %dx%d", d.sizes[1][1], d.sizes[1][2])
    end
    fig:panel(r, 1):image_grid{images = imgs, captions = caps, normalize = {0, 1}, cmap = "gray",
      title = string.format("%s; octaves %s", start == "real" and string.format("from test image %d", chosen[c].index)
        or "from blurred noise", table.concat(at, ", "))}
  end
  report:figure(fig:save(string.format("%s/dream_%d_steps.png", dir, c)), string.format("Deep dream of class %d, step by step", c))
end

-- The final images, large, beside their starts.
do
  local fig = nn.plot.figure{rows = 2, cols = 4, width = 1600, height = 900, title = "Deep dream: start and result"}
  for r, c in ipairs(CLASSES) do
    for k, start in ipairs{"real", "noise"} do
      local d = dreams[c][start]
      fig:panel(r, 2 * k - 1):image_grid{images = d.start:reshape{28, 28}, normalize = {0, 1}, cmap = "gray",
        title = string.format("%s: p(%d) = %.3f", start == "real" and ("test image " .. chosen[c].index) or "noise", c, d.before[c + 1])}
      fig:panel(r, 2 * k):image_grid{images = d.image:reshape{28, 28}, normalize = {0, 1}, cmap = "gray",
        title = string.format("dream %d: p(%d) = %.4f", c, c, d.after[c + 1])}
    end
  end
  report:figure(fig:save(dir .. "/dream_final.png"), "Deep dream images of classes 2 and 9")
end

-- Which filters of the last conv layer respond to each dream, against a real digit and the class.
local details = {}
for _, c in ipairs(CLASSES) do
  local other = c == 2 and 9 or 2
  local real = zscores(map_stats(chosen[c].acts[3]:flat(), 128, 49).means)
  local zc, zo = classes[c].z, classes[other].z
  local per = {}
  for _, start in ipairs{"real", "noise"} do
    local d = dreams[c][start]
    local z = zscores(map_stats(model:activations("conv2d_3", d.image:reshape{1, 1, 28, 28}):flat(), 128, 49).means)
    per[start] = z
    local top = top_k(z, 10)
    local img = d.image:flat()
    filter_rows[#filter_rows + 1] = {c, start == "real" and "test image" or "noise", names(top_k(z, 5)), names(top_k(real, 5)),
      names(top_k(zc, 5)), overlap(top, top_k(real, 10)), overlap(top, top_k(zc, 10)), overlap(top, top_k(zo, 10)),
      pearson(z, zc), pearson(z, zo), pearson(real, zc)}
    details[#details + 1] = {pixel_c = pearson(img, classes[c].image_mean), pixel_o = pearson(img, classes[other].image_mean),
      logit_max = classes[c].logit_max, logit_mean = classes[c].logit_mean, n = classes[c].n, other = other}
  end
  -- Bars: the 12 filters the two dreams (together) drive furthest above a typical digit.
  local score = {}
  for j = 1, 128 do score[j] = per.real[j] + per.noise[j] end
  local top = top_k(score, 12)
  local groups, s = {}, {{name = "dream from the digit", values = {}}, {name = "dream from noise", values = {}},
    {name = string.format("test image %d", chosen[c].index), values = {}},
    {name = string.format("mean of %d test %ds", classes[c].n, c), values = {}},
    {name = string.format("mean of %d test %ds", classes[other].n, other), values = {}}}
  for i, j in ipairs(top) do
    groups[i] = "#" .. (j - 1)
    s[1].values[i], s[2].values[i], s[3].values[i], s[4].values[i], s[5].values[i] = per.real[j], per.noise[j], real[j], zc[j], zo[j]
  end
  local fig = nn.plot.figure{width = 1300, height = 520}
  fig:panel(1):bars{groups = groups, series = s, xlabel = "conv2d_3 filter", ylabel = "response (z-score)",
    title = string.format("conv2d_3 filters the class-%d dreams drive hardest, against a typical digit", c), legend = "outside"}
  report:figure(fig:save(string.format("%s/dream_%d_filters.png", dir, c)), string.format("conv2d_3 responses to the class-%d dreams", c))
end

report:text(string.format([[
**Which filters respond.** A filter's response to an image is the mean of its 7x7 map in conv2d_3
(the last conv layer, 128 filters), read as a z-score: minus that filter's mean response over %d
random test digits, divided by its standard deviation there. The table lists the five filters
with the largest z-score for each dream, for the real test digit of the class and on average over
%d test digits of the class; how many of the dream's top 10 each shares; and the correlation of the
128 z-scores of the dream with those of the class's average and of the other class's average.]],
  baseline.n, SAMPLE))
report:table{name = "dream_filters", caption = "conv2d_3 responses (z-scores against a typical test digit) to each dream.",
  columns = {"Class", "Dream from", "Top 5 (dream)", "Top 5 (test digit)", "Top 5 (class mean)", "Shared top 10 with digit",
    "Shared top 10 with class mean", "Shared top 10 with other class mean", {name = "Correlation with class mean", format = "%.3f"},
    {name = "Correlation with other class mean", format = "%.3f"}, {name = "Test digit's correlation with class mean", format = "%.3f"}},
  rows = filter_rows}

-- The text: what each dream shows, from the numbers above.
-- The two dreams of a class: how many strongest filters they share, and how much of its start
-- the dream from a real digit keeps (pixel correlation) and how much ink it has against it.
local pair = {}
for k, c in ipairs(CLASSES) do
  local zr, zn = filter_rows[2 * k - 1], filter_rows[2 * k]
  local d = dreams[c].real
  local start, final = d.start:flat(), d.image:flat()
  local ink0, ink1 = 0, 0
  for i = 1, #start do ink0, ink1 = ink0 + start[i], ink1 + final[i] end
  pair[c] = {keep = pearson(start, final), ink = ink1 / math.max(ink0, 1e-9), zr = zr, zn = zn}
end
local lines, above, closer, pixel_closer = {}, 0, 0, 0
for i, row in ipairs(dream_rows) do
  local f, d = filter_rows[i], details[i]
  local c = row[1]
  above = above + (row[6] > d.logit_max and 1 or 0)
  closer = closer + (f[9] > f[10] and 1 or 0)
  pixel_closer = pixel_closer + (d.pixel_c > d.pixel_o and 1 or 0)
  lines[#lines + 1] = string.format(
    "- **Class %d from %s**: p(%d) %.4f → %.6f and logit %.2f → %.2f (predicted %d → %d) in %d steps (%.1f s); the " ..
    "largest logit of %d among %d real test %ds is %.2f (mean %.2f). In conv2d_3 the dream's strongest filters are %s; " ..
    "%d of its top 10 are in the real digit's top 10, %d in the class-%d average's and %d in the class-%d average's, and " ..
    "its responses correlate %.2f with the average %d and %.2f with the average %d. As a picture it correlates %.2f " ..
    "with the average %d (pixel by pixel) and %.2f with the average %d.",
    c, row[2], c, row[3], row[4], row[5], row[6], row[7], row[8], row[9], row[10], c, d.n, c, d.logit_max, d.logit_mean,
    f[3], f[6], f[7], c, f[8], d.other, f[9], c, f[10], d.other, d.pixel_c, c, d.pixel_o, d.other)
end
report:text(table.concat(lines, "\n") .. "\n\n" .. string.format([[
In numbers: %d of the 4 dreams end with a logit above every real test digit of their class in
the sample, %d of 4 drive conv2d_3 in a pattern closer to their own class's average than to the
other class's, and %d of 4 look more like their own class's average image than the other's. The
dreams from a real digit keep its layout (the final image correlates %.2f with the 2 it started
from and %.2f with the 9) and carry %.1f and %.1f times its ink. A dream shows what the model is
sensitive to for a class, not what a digit of that class looks like: it adds whatever raises that
logit, so the strokes the class's filters respond to come out thicker and brighter than in a real
digit, and what does not matter for the class fades under the L2 and total-variation penalties.]],
  above, closer, pixel_closer, pair[2].keep, pair[9].keep, pair[2].ink, pair[9].ink))

report:write()
print("wrote " .. dir .. "/README.md")
