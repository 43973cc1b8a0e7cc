-- Deep dream and input gradients (lua/nn/dream.lua, model:gradient, model:activations): input
-- gradients against finite differences on a small CNN; the image helpers against their
-- definitions (resize and its adjoint, roll, total variation); a dream that raises the class's
-- logit on a trained toy model by a stated margin and repeats exactly for a seed; and the errors
-- a user meets (a node, a class, an image that does not exist), each one line naming both sides.
local nn = require "nn"
local check = require "check"

local T = require "nn._tensor"
local flat = nn.dream.flat

local rng = nn.dream.rng(42)
local function random_image(n, lo, hi)
  local v = {}
  for i = 1, n do v[i] = lo + (hi - lo) * rng:uniform() end
  return v
end

local function dot(a, b)
  local s = 0
  for i = 1, #a do s = s + a[i] * b[i] end
  return s
end

local function one_line(fn, pattern, message)
  local ok, err = pcall(fn)
  check.ok(not ok and not tostring(err):find("\n"), message .. ": the error is one line")
  return check.fails(fn, pattern, message)
end

-- ---- image helpers ----

-- resize_adjoint is the transpose of resize: <resize(a), b> = <a, resize_adjoint(b)>, up and down.
for _, case in ipairs{{10, 10, 28, 28}, {14, 20, 28, 28}, {28, 28, 10, 10}, {28, 28, 20, 14}} do
  local h, w, H, W = table.unpack(case)
  local a, b = random_image(2 * h * w, -1, 1), random_image(2 * H * W, -1, 1)
  local lhs = dot(flat.resize(a, 2, h, w, H, W), b)
  local rhs = dot(a, flat.resize_adjoint(b, 2, h, w, H, W))
  check.near(lhs, rhs, 1e-9 * math.max(1, math.abs(lhs)), string.format("resize %dx%d -> %dx%d has resize_adjoint as its transpose", h, w, H, W))
end
do
  -- Resizing keeps a constant image constant, and downsampling by 2 averages 2x2 blocks.
  local ones = {}
  for i = 1, 49 do ones[i] = 1 end
  local up = flat.resize(ones, 1, 7, 7, 28, 28)
  local worst = 0
  for i = 1, #up do worst = math.max(worst, math.abs(up[i] - 1)) end
  check.ok(#up == 784 and worst < 1e-12, "bilinear upscaling keeps a constant image")
  local down = flat.resize({1, 2, 3, 4}, 1, 2, 2, 1, 1)
  check.near(down[1], 2.5, 1e-12, "area downsampling averages")
  local img = random_image(3 * 5 * 6, 0, 1)
  local back = flat.roll(flat.roll(img, 3, 5, 6, 2, -3), 3, 5, 6, -2, 3)
  local same = true
  for i = 1, #img do same = same and back[i] == img[i] end
  check.ok(same, "roll by (dy, dx) then (-dy, -dx) is the identity")
  local t = nn.tensor{{0, 0, 0}, {0, 1, 0}, {0, 0, 0}}
  check.eq(nn.dream.shift(t, 1, 1):get(3, 3), 1, "shift moves a pixel down and right")
  local blurred = nn.dream.blur(t, 1)
  check.near(blurred:stats().sum, 1, 0.35, "blur spreads a pixel (clamped edges keep most of it)")
  check.ok(blurred:get(2, 2) < 1 and blurred:get(1, 1) > 0, "blur lowers the peak and lifts its neighbours")
end
do
  -- The total-variation gradient against central differences.
  local img = random_image(2 * 4 * 5, 0, 1)
  local _, g = flat.tv(img, 2, 4, 5)
  local worst = 0
  for k = 1, #img do
    local v = img[k]
    img[k] = v + 1e-6
    local up = flat.tv(img, 2, 4, 5)
    img[k] = v - 1e-6
    local down = flat.tv(img, 2, 4, 5)
    img[k] = v
    worst = math.max(worst, math.abs((up - down) / 2e-6 - g[k]))
  end
  check.ok(worst < 1e-5, string.format("total-variation gradient matches central differences (worst %.2g)", worst))
end

-- ---- input gradients on a small CNN against finite differences ----

-- tanh everywhere: no kinks for a finite difference to straddle.
local g = nn.graph()
local x = g:input("x", {1, 8, 8})
local h = nn.conv2d(x, 4, 3, {padding = "same", activation = "tanh"})
h = nn.conv2d(h, 6, 3, {stride = 2, padding = "same", activation = "tanh"})
local small = g:model{inputs = {x}, outputs = {logits = nn.linear(nn.flatten(h), 5)}}
small:init(3)
local x0 = random_image(64, 0, 1)
local xin = T.from_table({x0}):reshape{1, 1, 8, 8}

for _, kind in ipairs{"logit", "log_prob"} do
  local class = 3
  local grad, value = nn.dream.gradient(small, xin, {class = class, objective = kind})
  check.eq(tostring(grad), "nn.Tensor float32 (1, 1, 8, 8)", kind .. ": the gradient has the input's shape")
  -- Every pixel at once: one batch of 2 x 64 perturbed images, the objective computed on the host
  -- from the logits.
  local eps = 1e-2
  local rows = {}
  for k = 1, 64 do
    for s = 1, 2 do
      local v = table.move(x0, 1, 64, 1, {})
      v[k] = v[k] + (s == 1 and eps or -eps)
      rows[#rows + 1] = v
    end
  end
  local logits = small:predict(T.from_table(rows)):flat()
  local function objective(r)
    local l = {table.unpack(logits, (r - 1) * 5 + 1, r * 5)}
    if kind == "logit" then return l[class + 1] end
    local m = math.max(table.unpack(l))
    local s = 0
    for i = 1, 5 do s = s + math.exp(l[i] - m) end
    return l[class + 1] - m - math.log(s)
  end
  local base = small:predict(xin):flat()
  local expected = base[class + 1]
  if kind == "log_prob" then
    local m = math.max(table.unpack(base))
    local s = 0
    for i = 1, 5 do s = s + math.exp(base[i] - m) end
    expected = base[class + 1] - m - math.log(s)
  end
  check.near(value:flat()[1], expected, 1e-5, kind .. ": the objective's value is the class's " .. kind)
  local an, worst = grad:flat(), 0
  for k = 1, 64 do
    local fd = (objective(2 * k - 1) - objective(2 * k)) / (2 * eps)
    worst = math.max(worst, math.abs(fd - an[k]) / (1e-3 + math.abs(fd) + math.abs(an[k])))
  end
  check.ok(worst < 2e-2, string.format("%s: input gradients match finite differences (worst relative error %.2g)", kind, worst))
end

-- ---- a toy model trained on MNIST ----

local data = nn.data.mnist()
local tg = nn.graph()
local tx = tg:input("x", {1, 28, 28})
local th = nn.conv2d(tx, 8, 4, {stride = 2, padding = "same", activation = "relu"})
th = nn.conv2d(th, 16, 4, {stride = 2, padding = "same", activation = "relu"})
local toy = tg:model{inputs = {tx}, outputs = {logits = nn.linear(nn.flatten(th), 10)}}
toy:fit(data.train:subset(3000, 5), {epochs = 2, batch = 64, seed = 5, verbose = false, optimizer = nn.optim.adam{lr = 2e-3}})
local params = toy:param_count()
local accuracy = toy:evaluate(data.test:subset(1000, 6)).accuracy
check.ok(accuracy > 0.8, string.format("the toy CNN learns (test accuracy %.3f)", accuracy))

-- A 7 of the test set, as the model sees it.
local function digit(label)
  local labels = data.test.labels:flat()
  for i, l in ipairs(labels) do
    if l == label then
      local v = data.test.images:select(i):flat()
      for k = 1, #v do v[k] = v[k] / 255 end
      return T.from_table(v):reshape{1, 28, 28}
    end
  end
end
local seven = digit(7)

-- Margin: 10 steps of one octave raise the class-3 logit of a 7 by at least 3, and from noise by
-- at least 3 as well (measured on this model: 4.2 and 6.2).
local dream_opts = {model = toy, class = 3, start = seven, octaves = 1, steps = 10, seed = 7, lr = 0.01}
local r = nn.dream(dream_opts)
local gain = r.logits_after[4] - r.logits_before[4]
check.ok(gain >= 3, string.format("10 steps raise the class-3 logit of a 7 by %.2f (at least 3)", gain))
check.ok(r.after[4] > r.before[4], string.format("p(3) rises: %.4f -> %.4f", r.before[4], r.after[4]))
check.eq(r.steps, 10, "one step per requested step")
check.eq(#r.frames, 2, "frames: the start and the last step (record = 10)")
check.eq(tostring(r.image), "nn.Tensor float32 (1, 28, 28)", "the dream has the input's image shape")
local noise = nn.dream{model = toy, class = 3, octaves = 1, steps = 10, seed = 7, lr = 0.01}
local noise_gain = noise.logits_after[4] - noise.logits_before[4]
check.ok(noise_gain >= 3, string.format("from noise, 10 steps raise the class-3 logit by %.2f (at least 3)", noise_gain))
local s = r.image:stats()
check.ok(s.min >= 0 and s.max <= 1, "the dream stays inside clip = {0, 1}")

-- Octaves: 3 octaves of 5 steps run at three sizes, the last the model's own.
local oct = nn.dream{model = toy, class = 3, start = seven, octaves = 3, steps = 5, seed = 7, record = 5}
check.eq(#oct.sizes, 3, "one size per octave")
check.eq(oct.sizes[3][1], 28, "the last octave is at the input size")
check.ok(oct.sizes[1][1] < oct.sizes[2][1] and oct.sizes[2][1] < 28, "octaves grow")
check.eq(#oct.frames, 4, "a frame at the start and one per octave")

-- Deterministic for a seed on one device; another seed jitters differently.
local again = nn.dream(dream_opts)
local a, b = r.image:flat(), again.image:flat()
local same = #a == #b
for i = 1, #a do same = same and a[i] == b[i] end
check.ok(same, "the same seed gives the same image, bit for bit")
check.eq(again.trace[10], r.trace[10], "and the same objective at every step")
dream_opts.seed = 8
local other = nn.dream(dream_opts)
local differs = false
for i, v in ipairs(other.image:flat()) do differs = differs or v ~= a[i] end
check.ok(differs, "another seed gives another image")

-- The dream leaves the model's parameters, and so its checkpoints, alone.
check.eq(toy:param_count(), params, "the class mask is an input, not a parameter")
local path = os.tmpname()
toy:save(path)
local tg2 = nn.graph()
local tx2 = tg2:input("x", {1, 28, 28})
local th2 = nn.conv2d(tx2, 8, 4, {stride = 2, padding = "same", activation = "relu"})
th2 = nn.conv2d(th2, 16, 4, {stride = 2, padding = "same", activation = "relu"})
local fresh = tg2:model{inputs = {tx2}, outputs = {logits = nn.linear(nn.flatten(th2), 10)}}
fresh:load(path)
os.remove(path)
check.near(fresh:predict(seven:reshape{1, 1, 28, 28}):flat()[4], toy:predict(seven:reshape{1, 1, 28, 28}):flat()[4], 1e-5,
  "a checkpoint saved after dreaming loads into a model that never dreamt")

-- Activations by layer name or node name, from the graph engine.
local act = toy:activations("conv2d_1", seven:reshape{1, 1, 28, 28})
check.eq(tostring(act), "nn.Tensor float32 (1, 8, 14, 14)", "activations of a layer by its name")
local both = toy:run(seven:reshape{1, 1, 28, 28}, {"conv2d_2", "logits"})
check.eq(tostring(both[1]), "nn.Tensor float32 (1, 16, 7, 7)", "run reads several nodes after one forward pass")
check.eq(tostring(both[2]), "nn.Tensor float32 (1, 10)", "and the output by its name")

-- Any model: an MLP on flat 784 inputs dreams on a 28x28 image.
local mg = nn.graph()
local mx = mg:input("x", {784})
local mlp = mg:model{inputs = {mx}, outputs = {logits = nn.linear(nn.relu(nn.linear(mx, 32)), 10)}}
mlp:init(1)
local md = nn.dream{model = mlp, class = 1, octaves = 2, steps = 3, seed = 1}
check.eq(tostring(md.image), "nn.Tensor float32 (1, 28, 28)", "a flat 784 input dreams as a 1x28x28 image")
check.ok(md.logits_after[2] > md.logits_before[2], "and its class logit rises")

-- ---- errors: one line, naming what was asked for and what exists ----

local x7 = seven:reshape{1, 1, 28, 28}
one_line(function() toy:activations("conv9", x7) end, "no node named 'conv9' (layers: conv2d_1, conv2d_2, dense_1)",
  "a node name that does not exist")
one_line(function() nn.dream{model = toy, class = 12, steps = 1} end, "class 12 is outside output 'logits''s 10 classes (0..9)",
  "a class outside the model's outputs")
one_line(function() nn.dream{model = toy, class = -1, steps = 1} end, "class -1 is outside", "a negative class")
one_line(function() nn.dream.gradient(toy, x7, {class = 10}) end, "class 10 is outside output 'logits''s 10 classes",
  "gradient of a class outside the outputs")
one_line(function() nn.dream{model = toy, class = 3, start = T.new({27, 27}), steps = 1} end,
  "the start image nn.Tensor float32 (27, 27) has 729 values; input 'x' (?, 1, 28, 28) takes 784", "a start image of the wrong shape")
one_line(function() nn.dream.gradient(toy, T.new({1, 27, 27}), {class = 3}) end,
  "input 'x' (?, 1, 28, 28) takes 784 values per sample", "a gradient for an image of the wrong shape")
one_line(function() toy:activations("conv2d_1", T.new({2, 700})) end, "takes 784 values per sample",
  "activations of an image of the wrong shape")
one_line(function() nn.dream{model = toy, class = 3, objective = "prob", steps = 1} end,
  "objective must be 'logit' or 'log_prob', not 'prob'", "an unknown objective")
one_line(function() nn.dream{model = toy, class = 3, output = "probs", steps = 1} end, "no output named 'probs' (outputs: logits)",
  "an output that does not exist")
one_line(function() nn.dream{model = toy, class = 3, steps = 0} end, "steps must be a positive integer", "zero steps")
one_line(function() toy:run(x7, {"logits"}, {feed = {nope = T.new({1, 10})}}) end, "feed names 'nope', which is not an input",
  "feeding a node that is not an input")
one_line(function() toy:gradient(x7, toy.outputs.logits) end, "the objective must be a node with one element",
  "a gradient of a node with many elements")

check.done()
