-- The graph engine from a script's side: shape inference and its errors, autodiff of whole
-- graphs against finite differences (parameters and inputs), memory planning, runtime scalars.
local nn = require "nn"
local check = require "check"
local T = require "nn._tensor"

-- ---- errors name the script line and the node ----

local g = nn.graph()
local x = g:input("x", {784})
check.fails(function() nn.linear(nn.reshape(x, {1, 28, 28}), 10) end, "test_graph.lua:", "a layer error names the script")
check.fails(function() nn.linear(nn.reshape(x, {1, 28, 28}), 10, {name = "fc"}) end,
  "linear 'fc': input must be (batch, features), got (?, 1, 28, 28)", "linear on images")
local w = g:param("w", {783, 10})
check.fails(function() nn.matmul(x, w) end, "inner dimensions differ", "matmul shape mismatch")
check.fails(function() nn.reshape(x, {5, 5}) end, "has 784 elements per sample", "reshape count")
check.fails(function() return x + g:param("b", {3}) end, "do not broadcast", "broadcast mismatch")
check.fails(function() nn.dropout(x, 1.5) end, "rate 1.5 is outside [0, 1)", "dropout rate")
check.fails(function() nn.relu(42) end, "relu: input must be a graph node, got number", "nil/number where a node is expected")
check.fails(function() nn.linear(x, 0) end, "units must be a positive integer", "zero units")
check.fails(function() g:input("x", {3}) end, "the name is already used", "duplicate names")
local before = g:param_count()
local images = nn.reshape(x, {1, 28, 28})
check.fails(function() nn.conv2d(images, 4, 40, {name = "too_big"}) end, "window is larger", "a kernel larger than the input")
check.eq(g:param_count(), before, "a layer that fails leaves no parameters behind")
check.ok(g:find("too_big.weight") == nil, "nor its nodes")
check.fails(function() nn.linear(x, 10, {activaton = "relu"}) end, "linear: unknown option 'activaton'", "a misspelt option")
check.fails(function() nn.linear(x, 10, {activation = "relux"}) end, "unknown activation 'relux'", "an unknown activation")
check.fails(function() g:input("neg", {-3}) end, "sizes must be positive", "negative size")
check.fails(function() g:input("huge", {65536, 65536}) end, "more than 2^31 elements", "overflowing size")
local labels = g:input("y", {}, "int32")
check.fails(function() nn.relu(labels) end, "holds int32 values", "int labels into a float op")
check.fails(function() nn.loss.cross_entropy(nn.reshape(x, {1, 28, 28}), labels) end, "logits must be (batch, classes)", "cross-entropy on non-logits")

-- ---- autodiff against central finite differences ----

-- A small graph through many ops: matmul, broadcast add, tanh, sigmoid, relu, mul, div, affine,
-- log-softmax, softmax, sum/mean, mse and cross-entropy, with a runtime scalar weighting the terms.
local function build()
  local gg = nn.graph()
  local xx = gg:input("x", {5})
  local yy = gg:input("y", {}, "int32")
  local h1 = nn.tanh(nn.linear(xx, 7, {name = "l1"}))
  local h2 = nn.sigmoid(nn.linear(h1, 7, {name = "l2"}))
  local h3 = nn.relu(nn.linear(h1 * h2 + 0.5, 4, {name = "l3"})) -- relu kinks are avoided by the +0.5 shift in practice
  local logits = nn.linear(h3 / (h2:info() and 2 or 1), 3, {name = "out"}) -- division by a constant
  local scale = gg:scalar("scale", 0.7)
  local ce = nn.loss.cross_entropy(logits, yy)
  local reg = nn.mean(nn.square(nn.softmax(logits))) + nn.sum(nn.log_softmax(logits)) * 0.01
  local loss = scale * ce + (1 - scale) * reg
  return gg, xx, yy, loss, scale
end

local gg, xx, yy, loss, scale = build()
local model = gg:model{inputs = {xx}, outputs = {loss = loss}}
model:init(3)
local params = model:params()
local ids = {}
for i, p in ipairs(params) do ids[i] = p.id end
local grads = gg.c:backward(loss.id, ids)
local xgrad = gg.c:backward(loss.id, {xx.id})[1]
local targets = {loss.id, xgrad}
for _, gid in ipairs(grads) do targets[#targets + 1] = gid end
local batch = 4
local plan = model.c:plan(targets, batch, false)
local xin = T.from_table({{0.1, -0.4, 0.3, 0.9, -0.2}, {0.5, 0.5, -0.7, 0.1, 0.0}, {-0.3, 0.8, 0.2, -0.6, 0.4},
  {0.9, -0.1, -0.5, 0.3, 0.7}})
local yin = T.from_table({0, 2, 1, 2}, "int32")
local function loss_at()
  plan:write(xx.id, xin)
  plan:write(yy.id, yin)
  plan:run(batch)
  return plan:read(loss.id, batch):flat()[1]
end
loss_at()
local analytic = {}
for i, gid in ipairs(grads) do analytic[i] = plan:read(gid, batch) end
local analytic_x = plan:read(xgrad, batch)

-- float32 forward: a step of 1e-2 keeps the rounding error of the difference near 1e-5 relative
-- and the truncation error (h^2 f''') small. A relu input within h of its kink would break the
-- comparison; the seeded weights and inputs here keep clear of it.
local h = 1e-2
local worst = 0
for i, p in ipairs(params) do
  local values = model:param(p)
  local flat = values:flat()
  for k = 1, #flat, math.max(1, #flat // 6) do
    local v = flat[k]
    values = T.from_table(flat):reshape(p:info().shape)
    values:set(v + h, table.unpack((function()
      local idx, rest, shape = {}, k - 1, p:info().shape
      for d = #shape, 1, -1 do idx[d] = rest % shape[d] + 1; rest = rest // shape[d] end
      return idx
    end)()))
    model:set_param(p, values)
    local up = loss_at()
    flat[k] = v - h
    model:set_param(p, T.from_table(flat):reshape(p:info().shape))
    local down = loss_at()
    flat[k] = v
    model:set_param(p, T.from_table(flat):reshape(p:info().shape))
    local fd = (up - down) / (2 * h)
    local an = analytic[i]:flat()[k]
    local err = math.abs(fd - an) / (1e-3 + math.abs(fd) + math.abs(an))
    if err > worst then worst = err end
  end
end
check.ok(worst < 2e-2, string.format("parameter gradients match finite differences (worst relative error %.2g)", worst))

-- The gradient with respect to the input (what deep dream climbs).
local xflat = xin:flat()
local worst_x = 0
for k = 1, #xflat do
  local v = xflat[k]
  xflat[k] = v + h
  xin = T.from_table(xflat):reshape{4, 5}
  local up = loss_at()
  xflat[k] = v - h
  xin = T.from_table(xflat):reshape{4, 5}
  local down = loss_at()
  xflat[k] = v
  xin = T.from_table(xflat):reshape{4, 5}
  local fd = (up - down) / (2 * h)
  local an = analytic_x:flat()[k]
  local err = math.abs(fd - an) / (1e-3 + math.abs(fd) + math.abs(an))
  if err > worst_x then worst_x = err end
end
check.ok(worst_x < 2e-2, string.format("input gradients match finite differences (worst relative error %.2g)", worst_x))

-- A runtime scalar changes the result without a new plan or a kernel build.
local core = require "nn._core"
local built = core.stats().programs_built
local before = loss_at()
scale:set(0.2)
local after = loss_at()
check.ok(math.abs(before - after) > 1e-4, "changing a scalar changes the loss")
check.eq(core.stats().programs_built, built, "changing a scalar compiles nothing")
scale:set(0.7)
check.near(loss_at(), before, 1e-6, "setting it back restores the loss")

-- Reading any node after a run: an intermediate activation through model:run.
local h1 = gg:find("l1.out")
check.ok(h1 ~= nil, "nodes can be found by name")
local act = model:run(xin, {"l1.out"})[1]
check.eq(tostring(act), "nn.Tensor float32 (4, 7)", "activation shape")
check.fails(function() model:run(xin, {"no_such_layer"}) end, "no node named 'no_such_layer'", "unknown node name")
check.fails(function() model:run(T.new({2, 3}), {"l1.out"}) end, "takes 5 values per sample", "input of the wrong shape")

-- ---- a layer's output pass applies its activation ----
-- A plan that returns only the activation lets the layer's last op apply it; one that also
-- returns the pre-activation runs the two apart.

-- Runs model on x for {out} and for {pre_name, out}: the values of both runs, and the launches of
-- each (the plans are built before the counted runs).
local function fused_and_apart(model, x, pre_name, out)
  local core = require "nn._core"
  model:run(x, {out})
  model:run(x, {pre_name, out})
  local l0 = core.stats().launches
  local fused = model:run(x, {out})[1]
  local l1 = core.stats().launches
  local apart = model:run(x, {pre_name, out})
  return fused, apart, l1 - l0, core.stats().launches - l1
end

-- A bias add and its tanh in one kernel, against x W + b computed here.
do
  local gf = nn.graph()
  local xf = gf:input("x", {9})
  local yf = nn.linear(xf, 13, {name = "fc", activation = "tanh", bias_init = "uniform"})
  local mf = gf:model{inputs = {xf}, outputs = {y = yf}}
  mf:init(5)
  local rows = {}
  for i = 1, 6 do
    rows[i] = {}
    for j = 1, 9 do rows[i][j] = math.sin(i * 9 + j) end
  end
  local fused, both, fused_launches, apart_launches = fused_and_apart(mf, T.from_table(rows), "fc.out", yf)
  check.eq(fused_launches, 2, "returning the activation only: the GEMM, then the add and tanh in one launch")
  check.eq(apart_launches, 3, "returning the sum too: the GEMM, the add, the tanh")
  local wt, bt = mf:param("fc.weight"), mf:param("fc.bias")
  local worst_pre, worst_y, worst_same = 0, 0, 0
  for i = 1, 6 do
    for j = 1, 13 do
      local pre = bt:get(j)
      for k = 1, 9 do pre = pre + rows[i][k] * wt:get(k, j) end
      worst_pre = math.max(worst_pre, math.abs(both[1]:get(i, j) - pre))
      worst_y = math.max(worst_y, math.abs(fused:get(i, j) - math.tanh(pre)))
      worst_same = math.max(worst_same, math.abs(fused:get(i, j) - both[2]:get(i, j)))
    end
  end
  check.ok(bt:stats().max > 0, "the bias is not zero, so the add is seen")
  check.ok(worst_pre < 1e-5, string.format("the sum read on its own is x W + b (worst error %.2g)", worst_pre))
  check.ok(worst_y < 1e-5, string.format("the fused add and tanh give tanh(x W + b) (worst error %.2g)", worst_y))
  check.ok(worst_same < 1e-6, string.format("fused and unfused plans agree (worst difference %.2g)", worst_same))
end

-- A convolution and its ReLU: the conv's output pass applies it.
do
  local gc = nn.graph()
  local xc = gc:input("x", {2, 6, 5})
  local yc = nn.conv2d(xc, 3, 3, {name = "c", activation = "relu", bias_init = "uniform"})
  local mc = gc:model{inputs = {xc}, outputs = {y = yc}}
  mc:init(2)
  local xt = T.new({4, 2, 6, 5}):reshape{-1}
  for i = 1, xt:numel() do xt:set(math.cos(i * 0.7), i) end
  local fused, both, fused_launches, apart_launches = fused_and_apart(mc, xt:reshape{4, 2, 6, 5}, "c.out", yc)
  check.eq(apart_launches - fused_launches, 1, "returning the conv's output too runs its ReLU on its own: one launch more")
  local worst_relu, worst_same, negative = 0, 0, 0
  local pre, post, f = both[1]:flat(), both[2]:flat(), fused:flat()
  for i = 1, #f do
    negative = negative + (pre[i] < 0 and 1 or 0)
    worst_relu = math.max(worst_relu, math.abs(post[i] - math.max(pre[i], 0)))
    worst_same = math.max(worst_same, math.abs(f[i] - post[i]))
  end
  check.ok(negative > 0, "some of the conv's outputs are negative, so the ReLU is seen")
  check.ok(worst_relu == 0, string.format("relu of the conv's output, run apart (worst %.2g)", worst_relu))
  check.ok(worst_same == 0, string.format("the fused conv and ReLU give the same values (worst %.2g)", worst_same))
end

-- ---- a convolution's bias gradient, made by its weight gradient's launch ----
-- loss = sum(y * r): the bias gradient is r summed per channel. A plan of both gradients makes
-- the bias gradient in the weight gradient's launch (oneDNN's, on CPU devices: 32 -> 16 channels
-- have its kernels); plans of either alone run them apart. All three must agree.
do
  local gb = nn.graph()
  local xb = gb:input("x", {32, 7, 7})
  local yb = nn.conv2d(xb, 16, 3, {name = "cb", stride = 2, padding = "same", bias_init = "uniform"})
  local rb = gb:input("r", {16, 4, 4})
  local loss = nn.sum(yb * rb)
  local mb = gb:model{inputs = {xb, rb}, outputs = {y = yb}}
  mb:init(4)
  local grads = gb.c:backward(loss.id, {gb:find("cb.weight").id, gb:find("cb.bias").id})
  local n = 3
  local xs, rs = T.new({n, 32, 7, 7}):reshape{-1}, T.new({n, 16, 4, 4}):reshape{-1}
  for i = 1, xs:numel() do xs:set(math.sin(i * 0.37), i) end
  for i = 1, rs:numel() do rs:set(math.cos(i * 0.53), i) end
  local function gradients(targets, needs_x)
    local plan = mb.c:plan(targets, n, true)
    if needs_x then plan:write(xb.id, xs:reshape{n, 32, 7, 7}) end
    plan:write(rb.id, rs:reshape{n, 16, 4, 4})
    plan:run(n)
    local out = {}
    for i, t in ipairs(targets) do out[i] = plan:read(t, n):flat() end
    return out
  end
  local both, dw_alone, db_alone = gradients({grads[1], grads[2]}, true), gradients({grads[1]}, true),
    gradients({grads[2]}, false) -- the bias gradient alone does not read x
  local r, want = rs:flat(), {}
  for ch = 1, 16 do
    want[ch] = 0
    for img = 0, n - 1 do
      for k = 1, 16 do want[ch] = want[ch] + r[img * 256 + (ch - 1) * 16 + k] end
    end
  end
  local worst_db, worst_alone, worst_dw = 0, 0, 0
  for ch = 1, 16 do
    worst_db = math.max(worst_db, math.abs(both[2][ch] - want[ch]))
    worst_alone = math.max(worst_alone, math.abs(db_alone[1][ch] - want[ch]))
  end
  for i = 1, #dw_alone[1] do worst_dw = math.max(worst_dw, math.abs(both[1][i] - dw_alone[1][i])) end
  check.ok(worst_db < 1e-4, string.format("the bias gradient made with the weight gradient is r summed per channel (worst %.2g)", worst_db))
  check.ok(worst_alone < 1e-4, string.format("the bias gradient on its own, the same (worst %.2g)", worst_alone))
  check.ok(worst_dw < 1e-4, string.format("the weight gradient with and without the bias gradient agree (worst %.2g)", worst_dw))
end

-- ---- memory planning ----

-- A deep narrow MLP: values whose lifetimes do not overlap share storage, so the arena is far
-- below the sum of all activations.
local gd = nn.graph()
local xd = gd:input("x", {256})
local hd = xd
for _ = 1, 20 do hd = nn.relu(nn.linear(hd, 256)) end
local md = gd:model{inputs = {xd}, outputs = {y = hd}}
md:init(1)
local pd = md.c:plan({hd.id}, 64, false)
local info = pd:info()
local naive = 41 * 64 * 256 * 4  -- every matmul and add output kept
check.ok(info.arena_bytes < naive / 4, string.format("inference arena %d bytes reuses memory (naive %d)", info.arena_bytes, naive))

check.done()
