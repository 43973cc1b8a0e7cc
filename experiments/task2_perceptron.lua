-- Task 2 of the seed report: binary perceptrons on raw MNIST pixels for pairs of digits.
--
--   build/nnrun experiments/task2_perceptron.lua [--pairs 1v0,8v3,4v9,8v7,2v9] [--seed S]
--                                               [--max-epochs N]
--
-- "AvB" trains digit A (label +1) against digit B (label -1). Every pair trains at once on the
-- OpenCL device, one work-group each. Writes results/task2_perceptron/README.md with the seed
-- report's numbers beside ours.
local nn = require "nn"
local ml = require "nn.ml"
local util = require "nn.util"

local opt = util.args(arg, {pairs = "string", seed = "number", max_epochs = "number"})
local SEED = opt.seed or 1
local MAX_EPOCHS = opt.max_epochs or 1000
local ETA, TOL, NO_CHANGE, INIT = 0.01, 1e-3, 5, 0.01
local GAP_THRESHOLD = 0.05

-- The seed report's table: train accuracy, test accuracy, iterations (epochs).
local SEED_PAIRS = {
  ["1v0"] = {0.999, 0.999, 781}, ["8v3"] = {0.970, 0.967, 1000}, ["4v9"] = {0.970, 0.969, 1000},
  ["8v7"] = {0.979, 0.969, 1000}, ["2v9"] = {0.990, 0.983, 1000},
}

local pairs_list = {}
for item in (opt.pairs or "1v0,8v3,4v9,8v7,2v9"):gmatch("[^,]+") do
  local a, b = item:match("^%s*(%d+)v(%d+)%s*$")
  a, b = tonumber(a), tonumber(b)
  if not a or a > 9 or b > 9 then
    util.fail("--pairs: '%s' is not a pair of digits 0-9 written AvB (as in 1v0)", item)
  end
  if a == b then util.fail("--pairs: '%s' pairs a digit with itself", item) end
  pairs_list[#pairs_list + 1] = {name = a .. "v" .. b, a = a, b = b}
end
if #pairs_list == 0 then util.fail("--pairs: no pairs given") end

local report = nn.report.new{name = "task2_perceptron", title = "Task 2: perceptrons on pairs of digits",
  seed = SEED}
local mnist = nn.data.mnist{}

-- Pixels scaled to [0, 1] and flattened: the raw image as a 784-vector.
local problems = {}
for i, p in ipairs(pairs_list) do
  local train, test = mnist.train:filter{p.a, p.b}, mnist.test:filter{p.a, p.b}
  p.x, p.labels = ml.features(train.images, 1 / 255, 0), train.labels
  p.test_x, p.test_labels = ml.features(test.images, 1 / 255, 0), test.labels
  p.n, p.test_n = train.n, test.n
  problems[i] = {x = p.x, labels = p.labels, positive = p.a, seed = SEED * 100 + 10 * p.a + p.b}
end

local options = {eta = ETA, max_epochs = MAX_EPOCHS, tol = TOL, n_iter_no_change = NO_CHANGE, init_scale = INIT}
-- One epoch first, so that building the kernels is not in the timings.
ml.perceptron(problems, {eta = ETA, max_epochs = 1, init_scale = INIT})
local runs, seconds = ml.perceptron(problems, options)

local rows, seed_cols, gaps, series, sample_epochs = {}, {}, {}, {}, 0
local below = {}
for i, p in ipairs(pairs_list) do
  local run = runs[i]
  p.run = run
  p.train_acc = 1 - ml.perceptron_error(run.best_w, run.best_b, p.x, p.labels, p.a)
  p.test_acc = 1 - ml.perceptron_error(run.best_w, run.best_b, p.test_x, p.test_labels, p.a)
  p.final_test_acc = 1 - ml.perceptron_error(run.w, run.b, p.test_x, p.test_labels, p.a)
  sample_epochs = sample_epochs + p.n * run.epochs
  local stop = run.converged and "no mistakes in an epoch" or
    (run.epochs >= MAX_EPOCHS and "max epochs" or "tol")
  local s = SEED_PAIRS[p.name]
  rows[i] = {p.name, p.n, p.test_n, p.train_acc, p.test_acc, run.epochs, run.best_epoch, stop, p.final_test_acc}
  if s then
    seed_cols[p.name] = {["Train accuracy"] = s[1], ["Test accuracy"] = s[2], Epochs = s[3]}
    if p.test_acc < s[2] - 0.01 then below[#below + 1] = p.name end
  end
  gaps[i] = p.train_acc - p.test_acc
  series[i] = {name = p.name, y = run.errors}
end

report:text(string.format([[
One perceptron per digit pair, on the 784 raw pixels scaled to [0, 1]: "AvB" labels digit A +1
and digit B −1, and trains on every MNIST training image of the two digits (tested on every test
image of them). Weights and bias start from a seeded normal draw (σ = %g); each epoch visits the
samples in a fresh random order and applies w ← w + η·y·x, b ← b + η·y to each misclassified one
(η = %g). After each epoch the training error of the current weights is measured; training stops
after %d epochs, when an epoch makes no update, or, as scikit-learn's Perceptron does, when %d
epochs in a row fail to bring the error below the best so far minus tol = %g.

On pairs that are not linearly separable the weights never settle: every mistake moves them, and
the training error of one epoch's weights jumps between about 3%% and 8%% on 8 vs 3. The model
kept is therefore the one the stopping rule calls the best so far: the weights after the epoch
with the lowest training error (Gallant's pocket perceptron). The accuracies below are the
pocket's; the last epoch's weights are scored in the last column for comparison. Only training
data choose the model.

The seed report ran until its iteration limit (1000) on four of five pairs; its stopping rule is
not stated beyond tol = 1e-3. Ours stops far earlier by that rule, so the epoch counts differ;
what it must match is accuracy.]], INIT, ETA, MAX_EPOCHS, NO_CHANGE, TOL))

report:table{name = "accuracy", key = "Pair",
  columns = {"Pair", "Train images", "Test images", {name = "Train accuracy", format = "%.4f"},
    {name = "Test accuracy", format = "%.4f"}, "Epochs", "Best epoch", "Stopped by",
    {name = "Test accuracy, last epoch's weights", format = "%.4f"}},
  rows = rows, seed = seed_cols}

local checked = 0
for _ in pairs(seed_cols) do checked = checked + 1 end
report:text(#below == 0 and
  string.format("Every pair the seed report lists (%d here) reaches at least its test accuracy minus 0.01.", checked)
  or string.format("**Below the seed's test accuracy minus 0.01: %s.**", table.concat(below, ", ")))

-- Speed: the whole run above, and a short run of both paths for a like-for-like comparison.
local short = {eta = ETA, max_epochs = 5, tol = TOL, n_iter_no_change = 5, init_scale = INIT}
local _, dev_short = ml.perceptron(problems, short)
short.host = true
local _, host_short = ml.perceptron(problems, short)
local short_samples = 0
for _, p in ipairs(pairs_list) do short_samples = short_samples + 5 * p.n end
report:text(string.format([[
## Speed

The rule is sequential within a pair, so the device runs one work-group per pair and all pairs at
once: the group shares each sample's dot product and update (the features split between its
work-items, partial sums added in local memory), and the pairs run side by side on the compute
units. After every epoch the group also counts the training errors of its weights; the host
draws the next epoch's order, reads back two numbers per pair and applies the stopping rule.

Training all %d pairs took **%.2f s** on %s: %d sample-updates (a sample visited in an
epoch, plus its error count), %.2f µs each, %.0f per second.

Like for like, 5 epochs of every pair: device %.2f s, the same algorithm in single-threaded C on
the host %.2f s (%.2fx).]], #pairs_list, seconds, nn.device().name, sample_epochs, seconds / sample_epochs * 1e6,
  sample_epochs / seconds, dev_short, host_short, host_short / dev_short))
report:table{name = "speed",
  columns = {"Run", {name = "Seconds", format = "%.3f"}, "Sample-epochs", {name = "µs per sample-epoch", format = "%.3f"}},
  rows = {{"full run, device", seconds, sample_epochs, seconds / sample_epochs * 1e6},
    {"5 epochs, device", dev_short, short_samples, dev_short / short_samples * 1e6},
    {"5 epochs, host C", host_short, short_samples, host_short / short_samples * 1e6}}}

-- Figures: error curves, weights, train-test gap.
local curves = nn.plot.figure{}
curves:panel(1):line{series = series, xlabel = "epoch", ylabel = "training error (fraction misclassified)",
  title = "Training error per epoch"}
report:figure(curves:save(report.dir .. "/training_error.png"), "Training error after each epoch, per pair")

local cols = math.min(#pairs_list, 3)
local grid = nn.plot.figure{cols = cols, rows = (#pairs_list + cols - 1) // cols,
  title = "Learned weights (red: evidence for the first digit, blue: for the second)"}
for i, p in ipairs(pairs_list) do
  grid:panel(i):heatmap{data = p.run.best_w:reshape{28, 28}, cmap = "RdBu_r", ticks = false,
    title = string.format("%d vs %d", p.a, p.b)}
end
report:figure(grid:save(report.dir .. "/weights.png"), "Each pair's weights as a 28x28 image")

local names = {}
for i, p in ipairs(pairs_list) do names[i] = p.name end
local gap = nn.plot.figure{}
gap:panel(1):bars{groups = names, series = {{name = "train − test accuracy", values = gaps}}, bar_labels = "%.4f",
  hlines = {{y = GAP_THRESHOLD, label = "0.05 threshold", colour = "#d62728", dash = "--"}},
  ylabel = "train accuracy − test accuracy", title = "Train-test gap"}
report:figure(gap:save(report.dir .. "/train_test_gap.png"), "Train-test accuracy gap, with the 0.05 threshold")

print(report:write())
