-- nn.ml: classic machine learning beside the graph engine (C in src/ml/, binding nn._ml).
--
--   local x = ml.features(ds.images, 2 / 255, -1)  -- float32 (N, 784), pixels in [-1, 1]
--   local pca = ml.pca(x)                         -- any (n, d) float32 tensor
--   local y = pca:transform(x, 2)                 -- (N, 2) coordinates on the first two axes
--   ml.explained(pca, 2)                          -- {0.097, 0.071}: fractions of the variance
--
--   local svm = ml.linear_svc(y2, labels2, {C = 1, max_iter = 10000})
--   svm:accuracy(y2, labels2)
--
--   local runs, seconds = ml.perceptron({{x = x1, labels = l1, positive = 1}, ...}, {eta = 0.01})
--
-- PCA: covariance on the device, eigenvectors by LAPACK in double; each axis is signed so that its
-- entry of largest magnitude is positive. Linear SVM: scikit-learn's LinearSVC (liblinear's dual
-- coordinate descent, squared hinge, L2, intercept as a regularised feature). Perceptron: the
-- classic rule, one OpenCL work-group per problem, several problems at once (nn_perceptron.h).
local C = require "nn._ml"
local T = require "nn._tensor"
local util = require "nn.util"

local ml = {}

-- features(images (N, ...) [, scale [, shift]]) -> float32 (N, D): images * scale + shift, flat.
ml.features = C.features
-- standardise(x (n, d) float32) -> each feature at mean 0 and variance 1 (constant ones at 0).
ml.standardise = C.standardise

-- The distinct values of an int32 label tensor, sorted.
local function classes_of(labels)
  local seen, list = {}, {}
  for _, v in ipairs(labels:flat()) do
    if not seen[v] then seen[v], list[#list + 1] = true, v end
  end
  table.sort(list)
  return list
end

-- PCA of x (n, d) float32. The result (userdata nn.ml.PCA) has p.n, p.d, p:transform(x, k),
-- p:variances(), p:variance(i), p:total(), p:components(k), p:mean(); see also ml.explained.
function ml.pca(x)
  if not T.is(x) or x:dim() ~= 2 or x:dtype() ~= "float32" then
    util.fail("pca: float32 (samples, features) tensor expected, got %s", tostring(x))
  end
  return C.pca_fit(x)
end

-- The fractions of the total variance along the first k axes, as a list.
function ml.explained(pca, k)
  local total, out = pca:total(), {}
  for i = 1, k do out[i] = total > 0 and pca:variance(i) / total or 0 end
  return out
end

local LinearSVC = {}
LinearSVC.__index = LinearSVC

function LinearSVC:__tostring()
  return string.format("nn.ml.LinearSVC(%d features, classes %d/%d)", #self.w, self.classes[1], self.classes[2])
end

-- w·x + b for each row of x (n, d) float32, as a list.
function LinearSVC:decision(x)
  local out = {}
  for i, row in ipairs(x:totable()) do
    local s = self.b
    for j, v in ipairs(row) do s = s + self.w[j] * v end
    out[i] = s
  end
  return out
end

-- Predicted labels (the original label values) for the rows of x.
function LinearSVC:predict(x)
  local out = {}
  for i, s in ipairs(self:decision(x)) do out[i] = s > 0 and self.classes[2] or self.classes[1] end
  return out
end

-- The fraction of rows of x whose predicted label equals labels (int32, n).
function LinearSVC:accuracy(x, labels)
  local want, right = labels:flat(), 0
  for i, p in ipairs(self:predict(x)) do
    if p == want[i] then right = right + 1 end
  end
  return #want > 0 and right / #want or 0
end

-- A linear SVM separating the two label values in labels (int32, n); the larger one is the
-- positive class (scikit-learn's classes_[1]). opts: C (1), tol (1e-4), max_iter (1000),
-- intercept_scaling (1), seed (0).
function ml.linear_svc(x, labels, opts)
  opts = opts or {}
  local classes = classes_of(labels)
  if #classes ~= 2 then
    error(string.format("linear_svc: the labels hold %d classes (%s); exactly 2 needed", #classes,
      table.concat(classes, ", ")), 2)
  end
  local fit = C.svm_fit(x, C.signs(labels, classes[2]), {C = opts.C, tol = opts.tol,
    max_iter = opts.max_iter, bias = opts.intercept_scaling, seed = opts.seed})
  fit.classes = classes
  return setmetatable(fit, LinearSVC)
end

-- Trains binary perceptrons, all at once on the device (opts.host: the C reference instead).
-- Each problem: {x = (n, d) float32, labels = (n) int32, positive = the label that is +1 (the
-- other label present is -1), seed = integer}. opts: eta (0.01), max_epochs (1000), tol (1e-3),
-- n_iter_no_change (5), init_scale (0.01), local_size (chosen per device), host.
-- Returns a list of {w = float32 (d), b, best_w, best_b, best_epoch, errors = {training error
-- per epoch}, epochs, converged} in the problems' order, and the seconds training took. w, b are
-- the last epoch's weights; best_w, best_b those of the epoch with the lowest training error.
function ml.perceptron(problems, opts)
  if type(problems) ~= "table" or #problems == 0 then util.fail("perceptron: expected a list of problems {{x =, labels =, positive =}, ...}") end
  local list = {}
  for i, p in ipairs(problems) do
    if type(p) ~= "table" or not T.is(p.x) or not T.is(p.labels) then
      util.fail("perceptron: problem %d needs x and labels tensors", i)
    end
    local classes = classes_of(p.labels)
    if #classes ~= 2 then
      error(string.format("perceptron: problem %d holds %d classes (%s); exactly 2 needed", i, #classes,
        table.concat(classes, ", ")), 2)
    end
    if p.positive ~= classes[1] and p.positive ~= classes[2] then
      error(string.format("perceptron: problem %d: positive label %s is not one of %d, %d", i,
        tostring(p.positive), classes[1], classes[2]), 2)
    end
    list[i] = {x = p.x, y = C.signs(p.labels, p.positive), seed = p.seed}
  end
  return C.perceptron_train(list, opts)
end

-- The fraction of rows of x (n, d) that weights w (d) and bias b misclassify, labels (n) int32
-- with `positive` the label of +1.
function ml.perceptron_error(w, b, x, labels, positive)
  return C.linear_error(x, C.signs(labels, positive), w, b)
end

return ml
