-- nn.batchnorm: the forward in training and evaluation plans against a float64 reference computed
-- here, gradients against central finite differences of the graph's own loss, the running
-- statistics against Keras's recurrence, their round trip through a checkpoint, build-time errors,
-- and a small CNN with batchnorm learning from a few hundred MNIST images.
local check = require "check"
local nn = require "nn"
local T = require "nn._tensor"

local EPS, MOMENTUM = 1e-3, 0.9
math.randomseed(20240605)

local function uniform(count, lo, hi)
  local t = {}
  for i = 1, count do t[i] = lo + (hi - lo) * math.random() end
  return t
end

local function tensor_of(flat, shape) return T.from_table(flat):reshape(shape) end

-- Largest |got - want| / (1 + |want|).
local function max_error(got, want)
  local worst = 0
  for i = 1, #want do worst = math.max(worst, math.abs(got[i] - want[i]) / (1 + math.abs(want[i]))) end
  return worst
end

-- Batchnorm of x (n, c, hw), flat, in float64. Without mean and var: the batch's (biased variance),
-- which it also returns.
local function reference(x, n, c, hw, gamma, beta, mean, var)
  if not mean then
    mean, var = {}, {}
    for ch = 1, c do
      local s, q = 0, 0
      for b = 0, n - 1 do
        for p = 1, hw do s = s + x[(b * c + ch - 1) * hw + p] end
      end
      mean[ch] = s / (n * hw)
      for b = 0, n - 1 do
        for p = 1, hw do q = q + (x[(b * c + ch - 1) * hw + p] - mean[ch]) ^ 2 end
      end
      var[ch] = q / (n * hw)
    end
  end
  local y = {}
  for b = 0, n - 1 do
    for ch = 1, c do
      for p = 1, hw do
        local at = (b * c + ch - 1) * hw + p
        y[at] = gamma[ch] * (x[at] - mean[ch]) / math.sqrt(var[ch] + EPS) + beta[ch]
      end
    end
  end
  return y, mean, var
end

-- x (shape) -> batchnorm 'bn' -> loss = sum(y * r), r an input, so dy = r.
local function build(shape)
  local g = nn.graph()
  local x, r = g:input("x", shape), g:input("r", shape)
  local y = nn.batchnorm(x, {name = "bn", momentum = MOMENTUM, eps = EPS})
  local loss = nn.sum(y * r)
  return g:model{inputs = {x, r}, outputs = {y = y}}, x, r, y, loss
end

-- One layer on input `shape` with batch n: training steps, evaluation, gradients, a checkpoint.
local function case(label, shape, n)
  local model, x, r, y, loss = build(shape)
  model:init(1)
  local c, hw = shape[1], 1
  for i = 2, #shape do hw = hw * shape[i] end
  local full = {n, table.unpack(shape)}
  local gamma, beta = uniform(c, 0.5, 1.5), uniform(c, -1, 1)
  local rmean, rvar = uniform(c, -1, 1), uniform(c, 0.5, 2)
  for name, values in pairs{gamma = gamma, beta = beta, running_mean = rmean, running_var = rvar} do
    model:set_param(model.graph:find("bn." .. name), tensor_of(values, {c}))
  end
  local grads = model.graph.c:backward(loss.id, {x.id, model.graph:find("bn.gamma").id, model.graph:find("bn.beta").id})
  local plan = model.c:plan({loss.id, y.id, grads[1], grads[2], grads[3]}, n, true)
  local rin = uniform(n * c * hw, -1, 1)
  local function train_step(xin)
    plan:write(x.id, tensor_of(xin, full))
    plan:write(r.id, tensor_of(rin, full))
    plan:run(n)
    return plan:read(loss.id, n):flat()[1]
  end

  -- Training: batch statistics; the running ones follow Keras's recurrence step after step.
  local xin
  local worst_y, worst_running = 0, 0
  for step = 1, 3 do
    xin = uniform(n * c * hw, -2 + step, 2 + step)  -- a mean that moves, as activations' do
    train_step(xin)
    local want, mean, var = reference(xin, n, c, hw, gamma, beta)
    worst_y = math.max(worst_y, max_error(plan:read(y.id, n):flat(), want))
    for ch = 1, c do
      rmean[ch] = MOMENTUM * rmean[ch] + (1 - MOMENTUM) * mean[ch]
      rvar[ch] = MOMENTUM * rvar[ch] + (1 - MOMENTUM) * var[ch]
    end
    worst_running = math.max(worst_running, max_error(model:param("bn.running_mean"):flat(), rmean),
      max_error(model:param("bn.running_var"):flat(), rvar))
  end
  check.ok(worst_y < 1e-5, string.format("%s: training forward = batch statistics (max error %.2g)", label, worst_y))
  check.ok(worst_running < 1e-5, string.format("%s: running statistics after 3 steps = the recurrence (max error %.2g)",
    label, worst_running))

  -- Evaluation (model:run): the running statistics, which it leaves alone; one sample is enough.
  for _, rows in ipairs{n, 1} do
    local xs = {table.unpack(xin, 1, rows * c * hw)}
    local got = model:run(tensor_of(xs, {rows, table.unpack(shape)}), {y})[1]:flat()
    local e = max_error(got, (reference(xs, rows, c, hw, gamma, beta, rmean, rvar)))
    check.ok(e < 1e-5, string.format("%s: evaluation of %d sample(s) uses the running statistics (max error %.2g)",
      label, rows, e))
  end
  check.ok(max_error(model:param("bn.running_mean"):flat(), rmean) < 1e-6, label .. ": evaluation changes no running statistic")

  -- Gradients in training (through the batch statistics) against central differences of the
  -- float32 loss, every element. Errors are relative to 1 + |fd|: the step's rounding error is
  -- about 1e-4 absolute, whatever the gradient's size.
  train_step(xin)
  local analytic = {plan:read(grads[1], n):flat(), plan:read(grads[2], n):flat(), plan:read(grads[3], n):flat()}
  local h, worst = 1e-2, {0, 0, 0}
  local function central(values, k, loss_at)
    local v = values[k]
    values[k] = v + h
    local up = loss_at()
    values[k] = v - h
    local down = loss_at()
    values[k] = v
    return (up - down) / (2 * h)
  end
  for k = 1, #xin do
    local fd = central(xin, k, function() return train_step(xin) end)
    worst[1] = math.max(worst[1], math.abs(fd - analytic[1][k]) / (1 + math.abs(fd)))
  end
  for i, values in ipairs{gamma, beta} do
    local p = model.graph:find(i == 1 and "bn.gamma" or "bn.beta")
    for k = 1, c do
      local fd = central(values, k, function()
        model:set_param(p, tensor_of(values, {c}))
        return train_step(xin)
      end)
      worst[i + 1] = math.max(worst[i + 1], math.abs(fd - analytic[i + 1][k]) / (1 + math.abs(fd)))
    end
    model:set_param(p, tensor_of(values, {c}))
  end
  check.ok(worst[1] < 2e-3 and worst[2] < 2e-3 and worst[3] < 2e-3, string.format(
    "%s: training gradients = finite differences (x %.2g, gamma %.2g, beta %.2g)", label, worst[1], worst[2], worst[3]))

  -- In evaluation the statistics are constants: dloss/dx = gamma * r / sqrt(running_var + eps).
  rmean, rvar = model:param("bn.running_mean"):flat(), model:param("bn.running_var"):flat()
  local dx = model:gradient(tensor_of(xin, full), loss, {feed = {r = tensor_of(rin, full)}}):flat()
  local want = {}
  for k = 1, #xin do
    local ch = (k - 1) // hw % c + 1
    want[k] = gamma[ch] * rin[k] / math.sqrt(rvar[ch] + EPS)
  end
  local e = max_error(dx, want)
  check.ok(e < 1e-5, string.format("%s: evaluation gradient treats the running statistics as constants (%.2g)", label, e))

  -- A checkpoint holds the running statistics: a fresh model loads them and predicts the same.
  local path = os.tmpname()
  model:save(path)
  local copy = build(shape)
  copy:init(2)
  copy:load(path)
  os.remove(path)
  check.ok(max_error(copy:param("bn.running_mean"):flat(), rmean) == 0 and
    max_error(copy:param("bn.running_var"):flat(), rvar) == 0, label .. ": save/load restores the running statistics")
  local input = tensor_of(xin, full)
  check.ok(max_error(copy:predict(input):flat(), model:predict(input):flat()) == 0, label .. ": and the predictions")
end

case("images (3, 5, 7, 3)", {5, 7, 3}, 3)
case("features (6, 4)", {4}, 6)

-- ---- parameters and summary ----

local g = nn.graph()
local x = g:input("x", {3, 8, 8})
local h = nn.relu(nn.batchnorm(nn.conv2d(x, 4, 3, {name = "conv"})))
local model = g:model{inputs = {x}, outputs = {y = nn.linear(nn.flatten(h), 2, {name = "fc"})}}
local conv, fc = 4 * 3 * 3 * 3 + 4, 4 * 6 * 6 * 2 + 2
check.eq(model:param_count(), conv + 2 * 4 + fc, "param_count counts the trainable parameters: gamma and beta")
check.eq(g:param_count(false), 2 * 4, "the running statistics are counted apart")
check.eq(g.layers[2].name, "batch_normalization_1", "Keras's automatic name")
check.eq(#model:params(), 6, "the optimiser's parameters: conv weight and bias, gamma, beta, fc weight and bias")
local text = model:summary{print = false}
check.ok(text:find("batch_normalization_1 (BatchNormalization)  (?, 4, 6, 6)", 1, true) ~= nil, "summary row: " .. text)
check.ok(text:find("Total params: " .. (conv + 4 * 4 + fc) .. "\nTrainable params: " .. (conv + 2 * 4 + fc) ..
  "\nNon-trainable params: 8", 1, true) ~= nil, "summary footer as Keras's: " .. text)
check.eq(nn.batch_norm, nn.batchnorm, "nn.batch_norm is an alias")

-- ---- errors name the layer and this script's line ----

local function fails_at(fn, text, what)
  local line = debug.getinfo(fn, "S").linedefined  -- each fn is one line: the layer's
  local ok, err = pcall(fn)
  err = tostring(err)
  check.ok(not ok and err:find("test_batchnorm.lua:" .. line .. ": ", 1, true) ~= nil, what .. ": names line " .. line ..
    ", got '" .. err .. "'")
  check.ok(err:find(text, 1, true) ~= nil, what .. ": says '" .. text .. "', got '" .. err .. "'")
end
local ge = nn.graph()
local image, flat = ge:input("image", {2, 4, 4}), ge:input("flat", {})
local before = ge:param_count(true) + ge:param_count(false)
fails_at(function() nn.batchnorm(image, {momentum = 1.5, name = "bn_m"}) end,
  "batchnorm 'bn_m': momentum must be a number in [0, 1]", "momentum above 1")
fails_at(function() nn.batchnorm(image, {eps = 0, name = "bn_e"}) end, "batchnorm 'bn_e': eps must be a positive number", "eps 0")
fails_at(function() nn.batchnorm(image, {momentum = "0.9"}) end, "momentum must be a number in [0, 1]", "a string momentum")
fails_at(function() nn.batchnorm(ge:param("w", {3, 4}), {name = "bn_w"}) end,
  "batchnorm 'bn_w': input must be (batch, features) or (batch, channels, ...), got (3, 4), which has no batch dimension",
  "an input without a batch dimension")
fails_at(function() nn.batchnorm(flat, {name = "bn_f"}) end, "batchnorm 'bn_f': input must be (batch, features)",
  "a batched input with no features")
fails_at(function() nn.batchnorm(image, {axis = 1}) end, "batchnorm: unknown option 'axis'", "an unknown option")
check.eq(ge:param_count(true) + ge:param_count(false), before + 12, "failed layers leave no parameters behind (w is 12)")
check.eq(ge.counters.batch_normalization, nil, "nor use up an automatic name")
-- Below the layer, the graph's own checks: the running statistics must be non-trainable parameters.
local gamma, beta = ge:param("gamma", {2}), ge:param("beta", {2})
local trainable = ge:param("mean", {2})
local var = ge:param("var", {2}, {trainable = false})
fails_at(function() ge.c:batchnorm(image.id, gamma.id, beta.id, trainable.id, var.id, 1e-3, 0.99, "raw", nn.util.where()) end,
  "batchnorm 'raw': the running mean 'mean' must be a non-trainable parameter", "trainable running statistics")
fails_at(function() ge.c:batchnorm(image.id, ge:param("g3", {3}).id, beta.id, var.id, var.id, 1e-3, 0.99, "raw3", nn.util.where()) end,
  "batchnorm 'raw3': gamma 'g3' must be (2,), one value per channel, got (3,)", "gamma of the wrong size")

-- ---- a small CNN with batchnorm learns MNIST ----

-- 500 training images, 3 epochs of batch 32 (48 steps): momentum 0.9 lets the running statistics
-- catch up with the trained layers in that many steps (Keras's 0.99 needs hundreds).
local data = nn.data.mnist()
local train, test = data.train:subset(500, 1), data.test:subset(500, 1)
local gc = nn.graph()
local img = gc:input("x", {1, 28, 28})
local a = nn.max_pool2d(nn.relu(nn.batchnorm(nn.conv2d(img, 8, 3, {padding = "same", bias = false}), {momentum = 0.9})))
a = nn.max_pool2d(nn.relu(nn.batchnorm(nn.conv2d(a, 16, 3, {padding = "same", bias = false}), {momentum = 0.9})))
local cnn = gc:model{inputs = {img}, outputs = {logits = nn.linear(nn.flatten(a), 10)}}
local history = cnn:fit(train, {epochs = 3, batch = 32, seed = 1, verbose = false, optimizer = nn.optim.adam{lr = 3e-3}})
check.ok(history[3].loss < history[2].loss and history[2].loss < history[1].loss,
  string.format("training loss falls: %.3f -> %.3f -> %.3f", history[1].loss, history[2].loss, history[3].loss))
local moved = cnn:param("batch_normalization_1.running_mean"):flat()
check.ok(math.abs(moved[1]) + math.abs(moved[2]) > 0, "fit updates the running statistics")
local r = cnn:evaluate(test)
check.ok(r.accuracy > 0.7, "evaluation with the running statistics: test accuracy " .. r.accuracy)

check.done()
