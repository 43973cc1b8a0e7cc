-- Training end to end on real MNIST: an accuracy bar, checkpoints that resume to the same
-- weights as an uninterrupted run, and the errors a user meets (labels, checkpoints of another
-- graph, data of the wrong shape).
local nn = require "nn"
local check = require "check"

local data = nn.data.mnist()
local train, test = data.train:subset(4000, 11), data.test:subset(1000, 12)

local function mlp(hidden)
  local g = nn.graph()
  local x = g:input("x", {784})
  local h = nn.linear(x, hidden, {activation = "relu"})
  h = nn.dropout(h, 0.1)
  return g:model{inputs = {x}, outputs = {logits = nn.linear(h, 10)}}
end

-- A real accuracy bar: 4000 images, 3 epochs of a 128-unit MLP reach ~0.91 (measured 0.913).
local model = mlp(128)
local history = model:fit(train, {optimizer = nn.optim.adam{lr = 2e-3}, epochs = 3, batch = 64, seed = 5,
  validation = test, verbose = false})
check.eq(#history, 3, "one history entry per epoch")
check.ok(history[3].loss < history[1].loss, "training loss falls")
local r = model:evaluate(test)
check.ok(r.accuracy > 0.88, string.format("test accuracy %.4f above 0.88", r.accuracy))
check.near(r.accuracy, history[3].val_accuracy, 1e-6, "evaluate agrees with the last validation")
local logits = model:predict(test)
check.eq(tostring(logits), "nn.Tensor float32 (1000, 10)", "predict shape")

-- Resume: a run that dies after epoch 1 and is started again ends with exactly the weights of an
-- uninterrupted run (same device, same seed): shuffles, dropout masks and Adam's step all resume.
local ckpt = os.tmpname()
os.remove(ckpt)
local opts = {optimizer = nn.optim.adam{lr = 1e-3}, epochs = 2, batch = 100, seed = 9, verbose = false}
local a = mlp(32)
a:fit(train, opts)
local wa = a:param("dense_1.weight"):flat()

local b = mlp(32)
local crash = {}
for k, v in pairs(opts) do crash[k] = v end
crash.checkpoint = ckpt
crash.on_epoch = function(h) if h.epoch == 1 then error("simulated crash") end end
check.fails(function() b:fit(train, crash) end, "simulated crash", "the first run dies after epoch 1")
local c = mlp(32)
local resumed = {}
for k, v in pairs(opts) do resumed[k] = v end
resumed.checkpoint = ckpt
local hc = c:fit(train, resumed)
check.eq(#hc, 2, "the resumed history holds both epochs")
local wc = c:param("dense_1.weight"):flat()
local same = #wa == #wc
for i = 1, #wa do same = same and wa[i] == wc[i] end
check.ok(same, "resumed weights equal the uninterrupted run's exactly")

-- A checkpoint from another graph is refused by name.
local other = mlp(16)
check.fails(function() other:fit(train, resumed) end, "is for another graph", "checkpoint of another graph")
resumed.batch = 50
check.fails(function() c:fit(train, resumed) end, "other settings", "checkpoint from other settings")
os.remove(ckpt)

-- Learning-rate schedules: each epoch's lr is in the history, and it is the lr the update used:
-- a second epoch at lr * 1e-30 leaves the weights where the first epoch put them.
local function sgd_run(epochs, schedule)
  local m = mlp(16)
  local h = m:fit(train, {optimizer = nn.optim.sgd{lr = 0.05}, lr_schedule = schedule, epochs = epochs, batch = 200,
    seed = 4, verbose = false})
  return m:param("dense_1.weight"):flat(), h
end
local w1 = sgd_run(1)
local w2, h2 = sgd_run(2, nn.optim.step_decay{every = 1, gamma = 1e-30})
local moved = 0
for i = 1, #w1 do moved = math.max(moved, math.abs(w2[i] - w1[i])) end
check.ok(moved < 1e-12, string.format("an epoch at lr * 1e-30 moves no weight (largest change %g)", moved))
check.near(h2[2].lr, 0.05e-30, 1e-40, "the history records the scheduled lr")
local _, hc = sgd_run(4, nn.optim.cosine{alpha = 0.1})
for e = 1, 4 do
  local expect = 0.05 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (e - 1) / 4)))
  check.near(hc[e].lr, expect, 1e-12, "cosine lr of epoch " .. e)
end
local sched_ckpt = os.tmpname()
os.remove(sched_ckpt)
mlp(16):fit(train, {epochs = 1, batch = 500, lr_schedule = nn.optim.cosine{}, checkpoint = sched_ckpt, verbose = false})
check.fails(function() mlp(16):fit(train, {epochs = 1, batch = 500, checkpoint = sched_ckpt, verbose = false}) end,
  "other settings", "a checkpoint with another lr schedule is not resumed")
os.remove(sched_ckpt)
check.fails(function() nn.optim.cosine{alpha = 2} end, "alpha must be in [0, 1]", "cosine alpha outside [0, 1]")
check.fails(function() nn.optim.step_decay{gamma = 0.5} end, "every must be a positive integer", "step_decay without every")
check.fails(function() mlp(8):fit(train, {epochs = 1, lr_schedule = "cosine"}) end,
  "lr_schedule must be nn.optim.cosine", "a schedule given as a string")

-- A diverging run stops at the first non-finite epoch and keeps the last good checkpoint.
do
  local gn = nn.graph()
  local xn = gn:input("x", {784})
  local blow = gn:scalar("blow_up", 1)
  local mn = gn:model{inputs = {xn}, outputs = {logits = nn.linear(xn, 10) * blow}}
  local path = os.tmpname()
  os.remove(path)
  local nan_opts = {epochs = 3, batch = 100, seed = 1, verbose = false, checkpoint = path,
    on_epoch = function(h) if h.epoch == 1 then blow:set(1e38) end end}
  check.fails(function() mn:fit(train, nan_opts) end, "epoch 2: the training loss is", "a non-finite loss stops training")
  blow:set(1)
  check.eq(nn.util.deserialize(mn.c:load(path)).epoch, 1, "the checkpoint still holds epoch 1")
  os.remove(path)
end

-- Bad input.
local bad = train:map_labels({[0] = 0, 1, 2, 3, 4, 5, 6, 7, 8, 12})
check.fails(function() mlp(8):fit(bad, {epochs = 1, verbose = false}) end, "outside output 'logits''s 10 classes",
  "a label out of range")
local g = nn.graph()
local x = g:input("x", {100})
local small = g:model{inputs = {x}, outputs = {y = nn.linear(x, 10)}}
check.fails(function() small:fit(train, {epochs = 1, verbose = false}) end, "takes 100 values per sample", "data of the wrong shape")
check.fails(function() model:fit(train, {epochs = 1, batch = 0}) end, "batch must be a positive integer", "batch 0")
check.fails(function() model:fit({}, {epochs = 1}) end, "expected a data set", "not a data set")

check.done()
