-- nn.ml from Lua: PCA on data of known spectrum, the linear SVM on problems with known answers,
-- the perceptron on a separable and a non-separable set, and the errors for bad input (a pair
-- with a digit outside 0-9 is checked by experiments/task2_perceptron.lua, a subset larger than
-- the data by nn.data; both are run here).
local check = require "check"
local nn = require "nn"
local ml = require "nn.ml"
local tensor = require "nn._tensor"

-- PCA: points on a line y = 2x (plus a mean) have one component along (1, 2)/sqrt(5) with all the
-- variance, and a second with none.
local rows = {}
for i = 1, 50 do rows[i] = {i - 25 + 3, 2 * (i - 25) - 1} end
local x = tensor.from_table(rows)
local p = ml.pca(x)
local var_x = 0
for i = 1, 50 do var_x = var_x + (i - 25.5) ^ 2 end
var_x = var_x / 49
check.near(p:variance(1), 5 * var_x, 1e-6 * 5 * var_x, "PCA: variance along the line")
check.near(p:variance(2), 0, 1e-6 * var_x, "PCA: no variance across the line")
local c = p:components(1):flat()
check.near(c[1], 1 / math.sqrt(5), 1e-6, "PCA: first axis x")
check.near(c[2], 2 / math.sqrt(5), 1e-6, "PCA: first axis y (largest entry positive)")
local e = ml.explained(p, 2)
check.near(e[1], 1, 1e-6, "PCA: explained ratio")
local y = p:transform(x, 1):flat()
check.near(y[1], -24.5 * math.sqrt(5), 1e-4, "PCA: first point's coordinate")
check.eq(p.d, 2, "PCA: features")
check.fails(function() p:transform(tensor.new({3, 3}, "float32"), 1) end, "samples of 3 features given to a PCA of 2")
check.fails(function() ml.pca(tensor.new({1, 4}, "float32")) end, "at least 2 needed")
check.fails(function() ml.pca(tensor.new({4, 4}, "int32")) end, "float32 (samples, features) tensor expected")

-- Linear SVM: x = -1 / +1 with labels 3 / 7; the optimum is w = 0.8, b = 0 (tests/ml/test_svm.c).
local svm = ml.linear_svc(tensor.from_table{{-1}, {1}}, tensor.from_table({3, 7}, "int32"), {max_iter = 10000})
check.near(svm.w[1], 0.8, 1e-4, "SVM: separable weight")
check.near(svm.b, 0, 1e-4, "SVM: separable intercept")
check.eq(svm:accuracy(tensor.from_table{{-1}, {1}}, tensor.from_table({3, 7}, "int32")), 1, "SVM: accuracy")
-- Non-separable: three copies of x = 1 with labels +, +, -: w = b = 2/13.
local ns = ml.linear_svc(tensor.from_table{{1}, {1}, {1}}, tensor.from_table({1, 1, 0}, "int32"), {max_iter = 10000})
check.near(ns.w[1], 2 / 13, 1e-4, "SVM: non-separable weight")
check.near(ns.b, 2 / 13, 1e-4, "SVM: non-separable intercept")
check.fails(function() ml.linear_svc(tensor.from_table{{1}, {2}}, tensor.from_table({4, 4}, "int32")) end,
  "exactly 2 needed")

-- Perceptron: a separable set (x1 > x2 or not, with a margin) converges; an overlapping one
-- stops by tol before max_epochs.
local function toy(n, margin, flip)
  local xs, ls = {}, {}
  local state = 12345
  local function rand()
    state = (1103515245 * state + 12345) % 2147483648
    return state / 2147483648
  end
  for i = 1, n do
    local a, b = rand(), rand()
    local label = a > b and 1 or 0
    if math.abs(a - b) < margin then a, b = a + (label == 1 and margin or -margin), b end
    if rand() < flip then label = 1 - label end
    xs[i], ls[i] = {a, b}, label
  end
  return tensor.from_table(xs), tensor.from_table(ls, "int32")
end
local sx, sl = toy(200, 0.1, 0)
local ox, ol = toy(300, 0, 0.2)
local runs = ml.perceptron({{x = sx, labels = sl, positive = 1, seed = 1}, {x = ox, labels = ol, positive = 1, seed = 2}},
  {eta = 0.01, max_epochs = 1000})
check.ok(runs[1].converged, "perceptron: separable set converges")
check.eq(ml.perceptron_error(runs[1].w, runs[1].b, sx, sl, 1), 0, "perceptron: separable set learnt")
check.ok(not runs[2].converged and runs[2].epochs < 1000, "perceptron: overlapping set stops by tol")
check.eq(#runs[2].errors, runs[2].epochs, "perceptron: one error per epoch")
local host = ml.perceptron({{x = ox, labels = ol, positive = 1, seed = 2}}, {eta = 0.01, max_epochs = 1000, host = true})
check.eq(host[1].epochs, runs[2].epochs, "perceptron: host reference stops at the same epoch")
check.fails(function() ml.perceptron({{x = sx, labels = tensor.from_table({0, 1}, "int32"), positive = 1}}) end,
  "int32 vector of 200 labels expected")
check.fails(function()
  ml.perceptron({{x = sx, labels = tensor.new({200}, "int32"), positive = 0}})
end, "holds 1 classes")
check.fails(function() ml.perceptron({{x = sx, labels = sl, positive = 5}}) end, "positive label 5 is not one of 0, 1")

-- The experiments' bad input: a digit outside 0-9, a subset larger than the data.
local nnrun = arg[-1]
local root = debug.getinfo(1, "S").source:match("^@(.*)/tests/lua/") or "."
local function run(script, args)
  local cmd = string.format("%q %q %s 2>&1", nnrun, root .. "/experiments/" .. script, args)
  local f = io.popen(cmd)
  local out = f:read("a")
  local ok = f:close()
  return ok, out
end
if nnrun then
  local ok, out = run("task2_perceptron.lua", "--pairs 1v12")
  check.ok(not ok and out:find("'1v12' is not a pair of digits 0-9", 1, true), "task2: digit outside 0-9: " .. out)
  ok, out = run("task2_perceptron.lua", "--pairs 3v3")
  check.ok(not ok and out:find("pairs a digit with itself", 1, true), "task2: a digit with itself: " .. out)
  ok, out = run("task1_pca.lua", "--subset 70000")
  check.ok(not ok and out:find("subset of 70000 asked", 1, true), "task1: subset larger than the data: " .. out)
end

check.done()
