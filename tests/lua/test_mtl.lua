-- Multi-task models (models/mtl.lua) and the training engine with two outputs and two losses:
-- the gradient of λ·loss_item + (1 − λ)·loss_group against finite differences, λ = 0 leaving the
-- item head untouched, checkpoints of a two-output fit, and the errors a user can make.
local nn = require "nn"
local check = require "check"
local mtl = require "models.mtl"

local FASHION = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}
local GROUPS = {
  {name = "shoes", classes = {"Sandal", "Sneaker", "Ankle boot"}},
  {name = "gendered", classes = {"Dress", "Shirt", "Bag"}},
  {name = "unisex", classes = {"T-shirt/top", "Trouser", "Pullover", "Coat"}},
}

-- ---- the report's models: parameter counts (graphs only; nothing is allocated) ----

do
  local m = mtl.build()
  check.eq(m:param_count(), 26395689, "MTL parameters")
  check.eq(m:param_count(), mtl.PARAMS.mtl, "mtl.PARAMS.mtl")
  local s1, s2 = mtl.build_single("item", 10), mtl.build_single("group", 3)
  check.eq(s1:param_count(), 23080598, "single task 1 parameters")
  check.eq(s2:param_count(), 23079891, "single task 2 parameters")
  check.eq(s1:param_count() + s2:param_count() - m:param_count(), 19764800, "parameters saved = the trunk")
  check.eq(m.output_names[1] .. "," .. m.output_names[2], "group,item", "MTL outputs")
  check.eq(m.outputs.item:shape()[2], 10, "item logits")
  check.eq(m.outputs.group:shape()[2], 3, "group logits")
end

-- ---- group tables ----

do
  local grp = mtl.groups(GROUPS, FASHION)
  local want = {[0] = 2, 2, 2, 1, 2, 0, 1, 0, 1, 0}
  local same = true
  for label = 0, 9 do same = same and grp.mapping[label] == want[label] end
  check.ok(same, "Fashion-MNIST groups: shoes 0, gendered 1, unisex 2")
  check.eq(table.concat(grp.names, ","), "shoes,gendered,unisex", "group names in order")
  -- Labels work as well as names.
  local by_label = mtl.groups({{name = "a", classes = {0, 1, 2, 3, 4}}, {name = "b", classes = {5, 6, 7, 8, 9}}}, FASHION)
  check.eq(by_label.mapping[7], 1, "groups given by label")
  check.fails(function()
    mtl.groups({{name = "shoes", classes = {"Sandal", "Sneaker", "Ankle boot"}},
      {name = "rest", classes = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Shirt"}}}, FASHION)
  end, "'Bag' is in no group", "a class left out")
  check.fails(function()
    mtl.groups({{name = "shoes", classes = {"Sandal", "Sneaker", "Ankle boot", "Bag"}},
      {name = "gendered", classes = {"Dress", "Shirt", "Bag"}},
      {name = "unisex", classes = {"T-shirt/top", "Trouser", "Pullover", "Coat"}}}, FASHION)
  end, "class 'Bag' is in group 'shoes' and in group 'gendered'", "a class in two groups")
  check.fails(function()
    mtl.groups({{name = "shoes", classes = {"Sandals"}}, {name = "x", classes = {0}}}, FASHION)
  end, "'Sandals' in group 'shoes' is not a class", "an unknown class")
  check.fails(function() mtl.groups({{name = "all", classes = FASHION}}, FASHION) end, "at least two groups", "one group")
  check.fails(function()
    mtl.groups({{name = "a", classes = {0, 1, 2, 3, 4}}, {name = "b", classes = {5, 6, 7, 8, 10}}}, FASHION)
  end, "'10' in group 'b' is not a class", "a label out of range")
end

-- ---- a tiny two-headed model ----

local TRUNK = {input = {1, 8, 8}, filters = {2, 3}, kernel = 3, pool = {true, false}, dense = {6}}
local HEAD = {5}
local N = 12

local rng_state = 12345
local function rand()  -- a small LCG: the same data on every machine
  rng_state = (rng_state * 1103515245 + 12345) % 2147483648
  return rng_state / 2147483648
end

local function toy_data(n)
  local images = nn.zeros({n, 1, 8, 8}, "float32")
  for i = 1, n do for y = 1, 8 do for x = 1, 8 do images:set(rand(), i, 1, y, x) end end end
  local labels, group = nn.zeros({n}, "int32"), nn.zeros({n}, "int32")
  for i = 1, n do
    labels:set(math.floor(rand() * 4), i)
    group:set(math.floor(rand() * 2), i)
  end
  local ds = nn.data.dataset("toy", images, labels, {"a", "b", "c", "d"})
  ds.group = group
  return ds
end

local ds = toy_data(N)
local m = mtl.build{trunk = TRUNK, head = HEAD, classes = {item = 4, group = 2}}
check.eq(m:param_count(), (9 + 1) * 2 + (18 + 1) * 3 + (48 + 1) * 6 + 2 * ((6 + 1) * 5) + (5 + 1) * 4 + (5 + 1) * 2,
  "tiny model parameters")

-- fit with no epochs builds the training graph (the one fit runs) and initialises the weights.
m:fit(ds, mtl.fit_options(m, {epochs = 0, batch = N, seed = 3, verbose = false}))
local trainer
for _, tr in pairs(m.trainers) do trainer = tr end
local plan = m.c:plan((function()
  local ids = {trainer.total.id}
  for _, gid in ipairs(trainer.update_grads) do ids[#ids + 1] = gid end
  return ids
end)(), N, false)
check.eq(#trainer.update_grads, #m:params(), "every parameter has a gradient")

local function total_loss()
  plan:write(m.inputs[1].id, ds.images)
  plan:write(trainer.label_nodes[1].id, ds[trainer.terms[1].field])
  plan:write(trainer.label_nodes[2].id, ds[trainer.terms[2].field])
  plan:run(N)
  return plan:read(trainer.total.id):flat()[1]
end

local function gradients()
  total_loss()
  local out = {}
  for i, gid in ipairs(trainer.update_grads) do out[trainer.update_params[i]] = plan:read(gid):flat() end
  return out
end

-- Which parameters belong to which part: item head, group head, trunk.
local function part_of(name)
  if name:match("^item") then return "item" end
  if name:match("^group") then return "group" end
  return "trunk"
end

-- Biases start at zero, which puts ReLUs exactly on their kink; random values everywhere keep
-- pre-activations away from it, so central differences measure the slope of one linear piece.
for _, p in ipairs(m:params()) do
  local n = p:info().numel
  local t = nn.zeros({n}, "float32")
  for k = 1, n do t:set((rand() - 0.5) * 0.8, k) end
  m:set_param(p, t)
end

-- Central differences on a few entries of every parameter, for λ = 0, 0.3 and 0.8.
for _, lam in ipairs{0, 0.3, 0.8} do
  mtl.set_lambda(m, lam)
  local analytic = gradients()
  local worst, checked, item_zero = 0, 0, true
  local norms = {item = 0, group = 0, trunk = 0}
  for _, p in ipairs(m:params()) do
    local name = p:name()
    local g = analytic[p.id]
    local values = m:param(p):reshape({p:info().numel})
    for k = 1, #g do norms[part_of(name)] = norms[part_of(name)] + g[k] * g[k] end
    if part_of(name) == "item" and lam == 0 then for k = 1, #g do item_zero = item_zero and g[k] == 0 end end
    for _ = 1, math.min(3, #g) do
      local k = 1 + math.floor(rand() * #g)
      local v = values:get(k)
      local h = 1e-3
      values:set(v + h, k)
      m:set_param(p, values)
      local up = total_loss()
      values:set(v - h, k)
      m:set_param(p, values)
      local down = total_loss()
      values:set(v, k)
      m:set_param(p, values)
      local fd = (up - down) / (2 * h)
      local err = math.abs(fd - g[k]) / math.max(math.abs(g[k]), math.abs(fd), 1e-2)
      if err > worst then worst = err end
      if err > 0.05 then
        io.stderr:write(string.format("  lambda %g %s[%d]: analytic %.6g, finite differences %.6g\n", lam, name, k, g[k], fd))
      end
      checked = checked + 1
    end
  end
  check.ok(worst <= 0.05, string.format("lambda %g: gradients of %d entries match finite differences (worst relative error %.3g)",
    lam, checked, worst))
  check.ok(norms.trunk > 0 and norms.group > 0, string.format("lambda %g: trunk and group head get gradients", lam))
  if lam == 0 then
    check.ok(item_zero, "lambda 0: the item head's gradient is exactly zero")
  else
    check.ok(norms.item > 0, string.format("lambda %g: the item head gets gradients", lam))
  end
end

-- The same λ runs the same numbers: λ is read at run time, not built into the plan.
do
  mtl.set_lambda(m, 0.3)
  local a = total_loss()
  mtl.set_lambda(m, 0.8)
  local b = total_loss()
  mtl.set_lambda(m, 0.3)
  check.eq(total_loss(), a, "lambda 0.3 again gives the same loss")
  check.ok(a ~= b, "lambda changes the loss")
end

-- ---- λ = 0: a fit step leaves the item head exactly as initialised ----

local function snapshot(model)
  local out = {}
  for _, p in ipairs(model:params()) do out[p:name()] = model:param(p):flat() end
  return out
end

local function changed(a, b)
  for k = 1, #a do if a[k] ~= b[k] then return true end end
  return false
end

do
  mtl.set_lambda(m, 0)
  m:init(5)
  local before = snapshot(m)
  local h = m:fit(ds, mtl.fit_options(m, {epochs = 2, batch = 4, seed = 5, verbose = false}))
  local after = snapshot(m)
  local item_same, others_moved = true, true
  for name, v in pairs(before) do
    if part_of(name) == "item" then item_same = item_same and not changed(v, after[name])
    else others_moved = others_moved and changed(v, after[name]) end
  end
  check.ok(item_same, "lambda 0: every item-head weight is exactly unchanged after fit (6 Adam steps)")
  check.ok(others_moved, "lambda 0: every trunk and group-head weight changed")
  check.ok(h[2].outputs.item.loss and h[2].outputs.group.accuracy, "history has each output's loss and accuracy")
  -- λ = 1 is the mirror image.
  mtl.set_lambda(m, 1)
  m:init(5)
  before = snapshot(m)
  m:fit(ds, mtl.fit_options(m, {epochs = 1, batch = 4, seed = 5, verbose = false}))
  after = snapshot(m)
  local group_same = true
  for name, v in pairs(before) do
    if part_of(name) == "group" then group_same = group_same and not changed(v, after[name]) end
  end
  check.ok(group_same, "lambda 1: every group-head weight is exactly unchanged after fit")
end

-- ---- λ outside [0, 1] ----

check.fails(function() mtl.set_lambda(m, 1.5) end, "lambda must be a number in [0, 1]", "lambda 1.5")
check.fails(function() mtl.set_lambda(m, -0.1) end, "lambda must be a number in [0, 1]", "lambda -0.1")
check.fails(function() mtl.set_lambda(m, 0 / 0) end, "lambda must be a number in [0, 1]", "lambda NaN")
check.fails(function() mtl.build{trunk = TRUNK, head = HEAD, classes = {item = 4, group = 2}, lambda = 2} end,
  "lambda must be a number in [0, 1]", "build with lambda 2")
check.fails(function() mtl.set_lambda(mtl.build_single("item", 4, {trunk = TRUNK, head = HEAD}), 0.5) end,
  "this model has no", "a single-task model has no lambda")
check.fails(function() mtl.set_lambda(m, 1.5) end, "test_mtl.lua:", "the error names the script's line")
check.fails(function() mtl.groups({{name = "a", classes = {0}}, {name = "b", classes = {1}}}, FASHION) end, "test_mtl.lua:",
  "a group error names the script's line")
check.eq(m.lambda:get(), 1, "a refused lambda leaves the old value")

-- ---- evaluate and the metrics of each output ----

do
  mtl.set_lambda(m, 0.5)
  m:fit(ds, mtl.fit_options(m, {epochs = 1, batch = 4, seed = 2, verbose = false}))
  local e = m:evaluate(ds, mtl.fit_options(m, {batch = 5}))
  check.ok(e.outputs.item.accuracy >= 0 and e.outputs.item.accuracy <= 1, "evaluate: item accuracy")
  check.ok(e.outputs.group.accuracy >= 0 and e.outputs.group.accuracy <= 1, "evaluate: group accuracy")
  check.near(e.loss, 0.5 * e.outputs.item.loss + 0.5 * e.outputs.group.loss, 1e-4, "evaluate: total = λ·item + (1 − λ)·group")
  -- Accuracy against predictions made on the host.
  local out = m:predict(ds.images, {all = true})
  for _, task in ipairs{{"item", "labels"}, {"group", "group"}} do
    local logits, labels, right = out[task[1]], ds[task[2]], 0
    local rows, cols = logits:shape()[1], logits:shape()[2]
    for i = 1, rows do
      local best = 1
      for c = 2, cols do if logits:get(i, c) > logits:get(i, best) then best = c end end
      if best - 1 == labels:get(i) then right = right + 1 end
    end
    check.near(e.outputs[task[1]].accuracy, right / rows, 1e-6, "evaluate: " .. task[1] .. " accuracy as predict gives")
  end
  -- A single-task model trains on its own labels.
  local s = mtl.build_single("group", 2, {trunk = TRUNK, head = HEAD})
  local hs = s:fit(ds, mtl.fit_options(s, {epochs = 1, batch = 4, seed = 2, verbose = false}))
  check.ok(hs[1].accuracy ~= nil and hs[1].outputs.group ~= nil, "single-task fit reports its accuracy")
  check.fails(function() s:fit(ds, {loss = {item = nn.loss.cross_entropy}, epochs = 1, verbose = false}) end,
    "loss for 'item', but the model's outputs are group", "a loss for an output the model lacks")
end

-- ---- checkpoints of a two-output fit ----

do
  local dir = os.tmpname()
  os.remove(dir)
  local ckpt = dir .. ".ckpt"
  mtl.set_lambda(m, 0.25)
  local opts = function(extra) return mtl.fit_options(m, extra) end
  local full = m:fit(ds, opts{epochs = 3, batch = 4, seed = 9, verbose = false})
  local want = snapshot(m)
  -- Interrupted after epoch 2, then resumed.
  local ok = pcall(m.fit, m, ds, opts{epochs = 3, batch = 4, seed = 9, verbose = false, checkpoint = ckpt,
    on_epoch = function(h) if h.epoch == 2 then error("interrupted") end end})
  check.ok(not ok, "the interruption happened")
  local resumed = m:fit(ds, opts{epochs = 3, batch = 4, seed = 9, verbose = false, checkpoint = ckpt})
  check.eq(#resumed, 3, "resumed history has every epoch")
  check.eq(resumed[1].outputs.item.loss, full[1].outputs.item.loss, "epoch 1 item loss kept from the checkpoint")
  check.eq(resumed[3].outputs.group.accuracy, full[3].outputs.group.accuracy, "epoch 3 group accuracy as without the interruption")
  local got, same = snapshot(m), true
  for name, v in pairs(want) do same = same and not changed(v, got[name]) end
  check.ok(same, "resumed weights equal the uninterrupted run's")
  -- A checkpoint written with another λ is refused.
  mtl.set_lambda(m, 0.75)
  check.fails(function() m:fit(ds, opts{epochs = 3, batch = 4, seed = 9, verbose = false, checkpoint = ckpt}) end,
    "was written by a run with other settings", "a checkpoint of another lambda")
  os.remove(ckpt)
end

check.done()
