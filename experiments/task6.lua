-- Report task 6: multi-task learning on Fashion-MNIST. Task 1 names the item (10 classes), task 2
-- its group (3 classes, GROUPS below). One graph holds a shared convolutional trunk and a head per
-- task, trained on λ·loss_1 + (1 − λ)·loss_2 for λ in LAMBDAS; two single-task models (the same
-- trunk, one of the same heads) are the baselines.
--
--   nnrun experiments/task6.lua [--epochs N] [--subset N] [--batch B] [--seed S] [--lr LR] [--fresh]
--
-- --subset N trains on N training images and tests on N/4 test images (at least 200), to run it
-- small. Writes results/task6/: README.md (table with the seed report's numbers beside ours,
-- learning curves, accuracy against λ, the summary), CSVs. Finished runs are kept: a re-run
-- after an interruption continues where it stopped (--fresh starts again).
--
-- λ is a scalar of the graph: the λ sweep sets it and re-initialises the weights (fit does, with
-- its seed); it neither builds the graph again nor compiles a kernel, which the README shows.
local nn = require "nn"
local core = require "nn._core"
local mtl = require "models.mtl"

local args = nn.util.args(arg, {epochs = "number", subset = "number", batch = "number", seed = "number",
  lr = "number", fresh = "flag"})
local epochs, batch, seed, lr = args.epochs or 10, args.batch or 128, args.seed or 1, args.lr or 1e-3
local LAMBDAS = {0, 0.25, 0.5, 0.75, 1}

-- Task 2's groups (the course's): change them here. Classes by name (or label 0-9); every class
-- must be in exactly one group. Group labels follow this order.
local GROUPS = {
  {name = "shoes", classes = {"Sandal", "Sneaker", "Ankle boot"}},
  {name = "gendered", classes = {"Dress", "Shirt", "Bag"}},
  {name = "unisex", classes = {"T-shirt/top", "Trouser", "Pullover", "Coat"}},
}

-- The seed report's table (task 6). It gives 0.0000 for the task a single-task model has no head for.
local SEED = {
  ["Single Task 1"] = {["Task 1 accuracy"] = 0.9085, ["Task 2 accuracy"] = 0.0000, Parameters = 23080598, ["Training time (s)"] = 308},
  ["Single Task 2"] = {["Task 1 accuracy"] = 0.0000, ["Task 2 accuracy"] = 0.9470, Parameters = 23079891, ["Training time (s)"] = 314},
  ["Single Total"] = {["Task 1 accuracy"] = 0.0000, ["Task 2 accuracy"] = 0.0000, Parameters = 46160489, ["Training time (s)"] = 623},
  ["MTL λ=0.0"] = {["Task 1 accuracy"] = 0.1375, ["Task 2 accuracy"] = 0.9442, Parameters = 26395689, ["Training time (s)"] = 334},
  ["MTL λ=0.25"] = {["Task 1 accuracy"] = 0.9195, ["Task 2 accuracy"] = 0.9516, Parameters = 26395689, ["Training time (s)"] = 341},
  ["MTL λ=0.5"] = {["Task 1 accuracy"] = 0.9139, ["Task 2 accuracy"] = 0.9474, Parameters = 26395689, ["Training time (s)"] = 337},
  ["MTL λ=0.75"] = {["Task 1 accuracy"] = 0.9123, ["Task 2 accuracy"] = 0.9448, Parameters = 26395689, ["Training time (s)"] = 339},
  ["MTL λ=1.0"] = {["Task 1 accuracy"] = 0.9208, ["Task 2 accuracy"] = 0.2487, Parameters = 26395689, ["Training time (s)"] = 338},
}
local SEED_SUMMARY = {saving = 19764800, saving_percent = 42.82, best_lambda = 0.25, best_avg = 0.9356, single_avg = 0.9278,
  both = "Yes"}

-- ---- data ----

local data = nn.data.fashion_mnist()
local groups = mtl.groups(GROUPS, data.classes)
local train, test = data.train, data.test
if args.subset then
  train = train:subset(args.subset, seed)
  test = test:subset(math.min(test.n, math.max(args.subset // 4, 200)), seed)
end
mtl.add_groups(train, groups)
mtl.add_groups(test, groups)

-- ---- models and parameter counts ----

local model = mtl.build{lambda = 0.5}
local singles = {item = mtl.build_single("item", #data.classes), group = mtl.build_single("group", #groups.names)}
model:summary()
local counts = {item = singles.item:param_count(), group = singles.group:param_count(), mtl = model:param_count()}
counts.singles = counts.item + counts.group
counts.saving = counts.singles - counts.mtl
local param_lines = {
  string.format("single task 1: %s", nn.util.commas(counts.item)),
  string.format("single task 2: %s", nn.util.commas(counts.group)),
  string.format("both singles: %s", nn.util.commas(counts.singles)),
  string.format("MTL: %s", nn.util.commas(counts.mtl)),
  string.format("saving %s (%.2f%%)", nn.util.commas(counts.saving), 100 * counts.saving / counts.singles),
}
print("Parameters: " .. table.concat(param_lines, "; "))
for k, want in pairs{item = mtl.PARAMS.item, group = mtl.PARAMS.group, mtl = mtl.PARAMS.mtl, saving = mtl.PARAMS.trunk} do
  if counts[k] ~= want then error(string.format("%s has %d parameters; the report's architecture has %d", k, counts[k], want)) end
end

-- ---- training ----

local dir = "results/task6"
local report = nn.report.new{name = "task6", title = "Task 6: multi-task learning on Fashion-MNIST", seed = seed, dir = dir}
local optimizer = nn.optim.adam{lr = lr}

local members = {
  {name = "single_item", kind = "single", task = "item"},
  {name = "single_group", kind = "single", task = "group"},
}
for _, l in ipairs(LAMBDAS) do members[#members + 1] = {name = "mtl_lambda_" .. l, kind = "mtl", lambda = l} end
for _, m in ipairs(members) do
  m.epochs, m.batch, m.seed, m.lr, m.train, m.test, m.groups = epochs, batch, seed, lr, train.name, test.name, groups.mapping
end

-- Flat copies of the parameters of one part of a model (an untouched head is compared with them).
local function head_values(m, task)
  local out = {}
  for _, p in ipairs(m:params()) do
    if p:name():sub(1, #task) == task then out[p:name()] = m:param(p):flat() end
  end
  return out
end

local function largest_difference(a, b)
  local worst, count = 0, 0
  for name, v in pairs(a) do
    local w = b[name]
    for k = 1, #v do worst = math.max(worst, math.abs(v[k] - w[k])) end
    count = count + #v
  end
  return worst, count
end

-- Evidence that the λ sweep reuses the graph, its plans and its kernels: stored with each run.
local function graph_state(m)
  local plans = 0
  for _ in pairs(m.plans) do plans = plans + 1 end
  local s = core.stats()
  return {nodes = m.graph.c:count(), plans = plans, built = s.programs_built, loaded = s.programs_cached}
end

local results = nn.sweep.run{name = "task6", dir = dir, members = members, fresh = args.fresh,
  run = function(member, ctx)
    local m = member.kind == "mtl" and model or singles[member.task]
    local before = graph_state(m)
    local untrained, init_head, frozen
    if member.kind == "mtl" then
      mtl.set_lambda(m, member.lambda)
      -- λ = 0 never trains the item head, λ = 1 never the group head: keep its initial values, and
      -- the accuracy of the whole model as initialised, to compare with after training.
      frozen = member.lambda == 0 and "item" or member.lambda == 1 and "group" or nil
      if frozen then
        m:init(member.seed)
        init_head = head_values(m, frozen)
        untrained = m:evaluate(test, mtl.fit_options(m, {batch = member.batch}))
      end
    end
    local history = m:fit(train, mtl.fit_options(m, {optimizer = nn.optim.adam{lr = member.lr}, epochs = member.epochs,
      batch = member.batch, validation = test, seed = member.seed, checkpoint = ctx.checkpoint, label = member.name}))
    local seconds = 0
    for _, h in ipairs(history) do seconds = seconds + h.train_seconds end
    local e = m:evaluate(test, mtl.fit_options(m, {batch = member.batch}))
    local r = {params = m:param_count(), seconds = seconds, history = history, test = e.outputs, loss = e.loss}
    if frozen then
      local worst, count = largest_difference(init_head, head_values(m, frozen))
      r.frozen = {head = frozen, largest_change = worst, values = count, untrained = untrained.outputs}
    end
    local after = graph_state(m)
    r.graph = {nodes = {before.nodes, after.nodes}, plans = {before.plans, after.plans}, built = after.built - before.built,
      loaded = after.loaded - before.loaded, process_run = ctx.index}
    return r
  end}

-- ---- results ----

local by_name = {}
for i, m in ipairs(members) do by_name[m.name] = results[i] end
local function acc(r, task) return r.test[task] and r.test[task].accuracy end
local single1, single2 = by_name.single_item, by_name.single_group
local function lambda_key(l) return string.format("MTL λ=%s", l == 0 and "0.0" or l == 1 and "1.0" or l) end

local rows = {
  {"Single Task 1", acc(single1, "item"), nil, single1.params, single1.seconds},
  {"Single Task 2", nil, acc(single2, "group"), single2.params, single2.seconds},
  {"Single Total", nil, nil, single1.params + single2.params, single1.seconds + single2.seconds},
}
local best, both_better = nil, {}
for _, l in ipairs(LAMBDAS) do
  local r = by_name["mtl_lambda_" .. l]
  local a1, a2 = acc(r, "item"), acc(r, "group")
  rows[#rows + 1] = {lambda_key(l), a1, a2, r.params, r.seconds}
  local avg = (a1 + a2) / 2
  if not best or avg > best.avg then best = {lambda = l, avg = avg, a1 = a1, a2 = a2} end
  if a1 > acc(single1, "item") and a2 > acc(single2, "group") then both_better[#both_better + 1] = tostring(l) end
end
local single_avg = (acc(single1, "item") + acc(single2, "group")) / 2
local TARGET = {item = 0.90, group = 0.94}
local function targets_text()
  local function verdict(name, a1, a2)
    local parts = {}
    if a1 then parts[#parts + 1] = string.format("task 1 %.4f %s", a1, a1 >= TARGET.item and "met" or "not met") end
    if a2 then parts[#parts + 1] = string.format("task 2 %.4f %s", a2, a2 >= TARGET.group and "met" or "not met") end
    return name .. ": " .. table.concat(parts, ", ")
  end
  return table.concat({verdict("best MTL (λ=" .. best.lambda .. ")", best.a1, best.a2),
    verdict("single task 1", acc(single1, "item")), verdict("single task 2", nil, acc(single2, "group"))}, "; ")
    .. (args.subset and " (a --subset run: the targets are for the full data)" or "")
end
local improves_both = best.a1 > acc(single1, "item") and best.a2 > acc(single2, "group")

local device = nn.device()
report:text(string.format([[
Task 1 names the item (the 10 Fashion-MNIST classes); task 2 names its group (3 classes, below).
One graph holds a shared trunk, Conv(32, 3x3, 'same', ReLU) → MaxPool 2x2 → Conv(64, 3x3, 'same',
ReLU) → MaxPool 2x2 → Conv(128, 3x3, 'same', ReLU) → Flatten (6272) → Dense(3136, ReLU), and one head
per task, Dense(1024, ReLU) → Dense(100, ReLU) → Dense(K) logits, trained on
λ·loss₁ + (1 − λ)·loss₂ (cross-entropy each) for λ ∈ {0, 0.25, 0.5, 0.75, 1}. The single-task models
are the same trunk with one of the same heads.

Settings (the seed report gives none for this task besides the architecture): Adam (lr %g, β₁ 0.9,
β₂ 0.999, ε 1e-7, Keras's defaults), batch %d, %d epoch%s, seed %d (the same initial weights for
every λ: fit re-initialises the model with its seed before each run), Keras's initialisers
(Glorot-uniform weights, zero biases), pixels scaled to [0, 1], no augmentation. Trained on %s
training images, tested on %s test images%s. Training time is the sum of the epochs' training
time, validation excluded, on %s (GEMM: %s); the seed report's times are Keras on a Colab GPU.]],
  lr, batch, epochs, epochs == 1 and "" or "s", seed, nn.util.commas(train.n), nn.util.commas(test.n),
  args.subset and " (a random subset: `--subset " .. args.subset .. "`; the report used all 60,000 and 10,000)" or "",
  device.name, device.gemm or "?"))

-- The groups.
local group_rows = {}
for gi, name in ipairs(groups.names) do
  local items = {}
  for _, c in ipairs(groups.members[gi]) do
    for label, cn in ipairs(data.classes) do if cn == c then items[#items + 1] = string.format("%d %s", label - 1, c) end end
  end
  group_rows[gi] = {gi - 1, name, table.concat(items, ", ")}
end
report:table{name = "groups", caption = "Task 2's labels: the group of each Fashion-MNIST item (GROUPS in the script).",
  columns = {"Group label", "Group", "Items (label name)"}, rows = group_rows}

-- Parameter counts.
report:table{name = "parameters", caption = "Parameters, counted from the graphs, and the report's.",
  columns = {"Model", {name = "Parameters", format = function(v) return nn.util.commas(v) end}},
  rows = {{"Single task 1", counts.item}, {"Single task 2", counts.group}, {"Both singles", counts.singles},
    {"MTL", counts.mtl}, {"Saving (the shared trunk)", counts.saving}},
  seed = {["Single task 1"] = {Parameters = 23080598}, ["Single task 2"] = {Parameters = 23079891},
    ["Both singles"] = {Parameters = 46160489}, ["MTL"] = {Parameters = 26395689}, ["Saving (the shared trunk)"] = {Parameters = 19764800}}}

report:table{name = "results", key = "Model",
  caption = "Test accuracy after training. A single-task model has no head for the other task (blank; the report wrote 0.0000).",
  columns = {"Model", {name = "Task 1 accuracy", format = "%.4f"}, {name = "Task 2 accuracy", format = "%.4f"},
    {name = "Parameters", format = function(v) return nn.util.commas(v) end}, {name = "Training time (s)", format = "%.1f"}},
  rows = rows, seed = SEED}

-- Summary lines, computed as the report's.
report:table{name = "summary", caption = "The report's summary lines, computed from the table above.",
  columns = {"Line", "Ours", "Seed report"},
  rows = {
    {"Parameter savings with MTL", string.format("%s (%.2f%%)", nn.util.commas(counts.saving), 100 * counts.saving / counts.singles),
      string.format("%s (%.2f%%)", nn.util.commas(SEED_SUMMARY.saving), SEED_SUMMARY.saving_percent)},
    {"Best MTL average accuracy vs. single-task average", string.format("%.4f (λ=%s) vs. %.4f", best.avg, best.lambda, single_avg),
      string.format("%.4f (λ=%s) vs. %.4f", SEED_SUMMARY.best_avg, SEED_SUMMARY.best_lambda, SEED_SUMMARY.single_avg)},
    {"MTL improves both tasks simultaneously", string.format("%s (at λ=%s; both tasks better than the single-task models %s)",
      improves_both and "Yes" or "No", best.lambda,
      #both_better == 0 and "at no λ" or "at λ ∈ {" .. table.concat(both_better, ", ") .. "}"), SEED_SUMMARY.both},
    {"Targets (task 1 ≥ 0.90, task 2 ≥ 0.94)", targets_text(), "met"},
  }}

-- λ = 0 and λ = 1.
local r0, r1 = by_name.mtl_lambda_0, by_name.mtl_lambda_1
local function share(ds, field, label)
  local c = ds[field]
  local n, k = 0, 0
  for i = 1, ds.n do if c:get(i) == label then k = k + 1 end n = n + 1 end
  return k / n
end
local largest_group, largest_share = 0, 0
for gi = 1, #groups.names do
  local s = share(test, "group", gi - 1)
  if s > largest_share then largest_group, largest_share = gi, s end
end
-- λ = 1 against single task 1 and λ = 0 against single task 2: the same training, number for number.
local function same_as_single()
  local function last(r, task) return r.history[#r.history].outputs[task].loss end
  local function compare(a, b) return a == b and "identical" or string.format("differing by %.2g", math.abs(a - b)) end
  return string.format([[
The trained side of an end point is the single-task model, run for run: initial weights are drawn
per parameter name from the seed, so the trunk and the trained head start as the single-task
model's do; the batches come in the same order; and the untrained head adds 0·∇loss to the
trunk's gradient. At λ = 1 task 1's test accuracy is %.4f, single task 1's %.4f, and their last
epoch's training loss %.6f and %.6f (%s); at λ = 0 task 2's test accuracy is %.4f, single task 2's
%.4f, training loss %.6f and %.6f (%s).]],
    acc(r1, "item"), acc(single1, "item"), last(r1, "item"), last(single1, "item"), compare(last(r1, "item"), last(single1, "item")),
    acc(r0, "group"), acc(single2, "group"), last(r0, "group"), last(single2, "group"),
    compare(last(r0, "group"), last(single2, "group")))
end

local function frozen_text(r, task, other)
  local f = r.frozen
  if not f then return "(not measured: this run was stored by an older version of the script; run with --fresh)" end
  return string.format("the largest change of any of its %s weights during training is %g (exactly unchanged); "
    .. "its test accuracy was %.4f with the model as initialised and is %.4f after training, while the trained %s head reaches %.4f",
    nn.util.commas(f.values), f.largest_change, f.untrained[task].accuracy, r.test[task].accuracy, other, r.test[other].accuracy)
end
report:text(string.format([[
### Why λ = 0 and λ = 1 are special

At λ = 0 the loss is loss₂ alone, so task 1's loss gets weight 0: the item head's gradient is
exactly zero and Adam never moves it (a zero gradient gives a zero update). The run trains the
trunk and the group head only, and task 1 is answered by a head that is still at its random
initial weights, reading features that were trained for the groups: %s. Chance for ten balanced
classes is 0.1; the seed report measured 0.1375. At λ = 1 it is the mirror image: the group head
is never trained, %s. A head that always answered the largest group (%s) would score %.4f on this
test set; the seed report measured 0.2487.

%s

So the two end points are not multi-task models: they are single-task models (trunk + one head)
that carry a second, untrained head, and their numbers for the untrained task measure only how a
random linear read-out of features learned for the other task happens to fall. They cost the time
of a multi-task run (both heads run forward and backward) and learn nothing for the other task.
Between them (0 < λ < 1) both heads are trained, and the shared trunk has to serve both tasks.]],
  frozen_text(r0, "item", "group"), frozen_text(r1, "group", "item"), groups.names[largest_group], largest_share,
  same_as_single()))

-- Curves: one panel per λ and one for the single-task models, both tasks in each.
local COL = {item = nn.plot.tab10[1], group = nn.plot.tab10[2]}
local fig = nn.plot.figure{rows = 2, cols = 3, title = "Accuracy per epoch (dashed, squares: training; solid, circles: test)"}
local function curves(series, r, task, label)
  local x, tr, te = {}, {}, {}
  for e, h in ipairs(r.history) do
    x[e], tr[e] = h.epoch, h.outputs[task].accuracy
    te[e] = h.val_outputs and h.val_outputs[task].accuracy
  end
  series[#series + 1] = {name = label .. " train", x = x, y = tr, colour = COL[task], dash = "--", marker = "s"}
  if te[1] then series[#series + 1] = {name = label .. " test", x = x, y = te, colour = COL[task], marker = "o"} end
end
for i, l in ipairs(LAMBDAS) do
  local series = {}
  curves(series, by_name["mtl_lambda_" .. l], "item", "task 1")
  curves(series, by_name["mtl_lambda_" .. l], "group", "task 2")
  fig:panel(i):line{series = series, title = "MTL λ = " .. l, xlabel = "epoch", ylabel = "accuracy", ylim = {0, 1}, legend = i == 1 and "best" or false}
end
local series = {}
curves(series, single1, "item", "task 1")
curves(series, single2, "group", "task 2")
fig:panel(6):line{series = series, title = "Single-task models", xlabel = "epoch", ylabel = "accuracy", ylim = {0, 1}, legend = false}
report:figure(fig:save(dir .. "/curves.png"), "Training and test accuracy per epoch of every run (blue: task 1, items; orange: task 2, groups)")

-- Test accuracy against λ.
local xs, a1s, a2s, s1s, s2s = {}, {}, {}, {}, {}
for i, l in ipairs(LAMBDAS) do
  local r = by_name["mtl_lambda_" .. l]
  xs[i], a1s[i], a2s[i] = l, acc(r, "item"), acc(r, "group")
  s1s[i], s2s[i] = SEED[lambda_key(l)]["Task 1 accuracy"], SEED[lambda_key(l)]["Task 2 accuracy"]
end
local lf = nn.plot.figure{width = 900, title = "Test accuracy against λ"}
lf:panel(1):line{series = {
    {name = "task 1 (items), MTL", x = xs, y = a1s, colour = COL.item, marker = "o"},
    {name = "task 2 (groups), MTL", x = xs, y = a2s, colour = COL.group, marker = "o"},
    {name = "task 1, seed report", x = xs, y = s1s, colour = COL.item, dash = ":", width = 1},
    {name = "task 2, seed report", x = xs, y = s2s, colour = COL.group, dash = ":", width = 1}},
  hlines = {{y = acc(single1, "item"), label = "single task 1", colour = COL.item, dash = "--"},
    {y = acc(single2, "group"), label = "single task 2", colour = COL.group, dash = "--"}},
  xlabel = "λ (weight of task 1's loss)", ylabel = "test accuracy", ylim = {0, 1}, legend = "outside"}
report:figure(lf:save(dir .. "/accuracy_vs_lambda.png"),
  "Test accuracy of both tasks against λ; dashed lines: the single-task models; dotted: the seed report's MTL runs")

-- Zoom: the trained tasks only.
local zf = nn.plot.figure{width = 900, title = "Test accuracy against λ, trained heads only"}
local zx1, zy1, zx2, zy2 = {}, {}, {}, {}
for i, l in ipairs(LAMBDAS) do
  if l > 0 then zx1[#zx1 + 1], zy1[#zy1 + 1] = l, a1s[i] end
  if l < 1 then zx2[#zx2 + 1], zy2[#zy2 + 1] = l, a2s[i] end
end
zf:panel(1):line{series = {{name = "task 1 (items), MTL", x = zx1, y = zy1, colour = COL.item, marker = "o"},
    {name = "task 2 (groups), MTL", x = zx2, y = zy2, colour = COL.group, marker = "o"}},
  hlines = {{y = acc(single1, "item"), label = "single task 1", colour = COL.item, dash = "--"},
    {y = acc(single2, "group"), label = "single task 2", colour = COL.group, dash = "--"}},
  xlabel = "λ", ylabel = "test accuracy", legend = "outside"}
report:figure(zf:save(dir .. "/accuracy_vs_lambda_zoom.png"), "The same without the untrained heads (λ = 0 for task 1, λ = 1 for task 2)")

-- Per-epoch histories.
for i, m in ipairs(members) do
  local r = results[i]
  local hist = {}
  for e, h in ipairs(r.history) do
    local o, v = h.outputs, h.val_outputs or {}
    hist[e] = {h.epoch, h.loss, o.item and o.item.accuracy, o.group and o.group.accuracy, h.val_loss,
      v.item and v.item.accuracy, v.group and v.group.accuracy, h.train_seconds}
  end
  report:table{name = m.name .. "_history", csv_only = true, rows = hist,
    columns = {"epoch", "loss", "item_accuracy", "group_accuracy", "val_loss", "val_item_accuracy", "val_group_accuracy", "seconds"}}
end

-- The sweep's reuse of the graph.
local sweep_log = {}
for i, m in ipairs(members) do
  local gr = results[i].graph
  if gr then
    sweep_log[#sweep_log + 1] = {m.name, gr.nodes[1], gr.nodes[2], gr.plans[1], gr.plans[2], gr.built, gr.loaded}
  end
end
if #sweep_log > 0 then
  report:table{name = "graph_reuse",
    caption = "Graph nodes and memory plans of each run's model before and after the run, and the "
      .. "OpenCL programs (kernel families) compiled or loaded from nnrun's kernel cache during it. The five λ runs share one "
      .. "graph: the first λ run adds the training and evaluation nodes and plans, the others add nothing and compile nothing "
      .. "(the log's \"nnrun: compiled kernels\" lines, which show with an empty NN_CACHE, come once per kernel family).",
    columns = {"Run", "Nodes before", "Nodes after", "Plans before", "Plans after", "Programs compiled", "Programs loaded from cache"},
    rows = sweep_log}
end
report:write()
print("wrote " .. dir .. "/README.md")
