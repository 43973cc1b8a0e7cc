-- Draws one of every chart nn.plot makes into a folder, from made-up data shaped like the report's
-- (learning curves, a 10-class PCA scatter, pairwise accuracies, perceptron weights, digits,
-- filters), so the pictures can be looked at side by side:
--
--   build/nnrun tests/gallery.lua [folder]      (default results/gallery)
local plot = require "nn.plot"
local tensor = require "nn._tensor"

local dir = arg[1] or "results/gallery"
math.randomseed(1)

local function gaussian()
  return math.sqrt(-2 * math.log(1 - math.random())) * math.cos(2 * math.pi * math.random())
end

local saved = {}
local function save(fig, name)
  fig:save(dir .. "/" .. name)
  saved[#saved + 1] = name
end

-- Learning curves: accuracy and loss per epoch, train and test, in a row of two panels.
local epochs = 20
local acc = {train = {}, test = {}}
local loss = {train = {}, test = {}}
for e = 1, epochs do
  acc.train[e] = 0.995 - 0.12 * math.exp(-e / 2.5) + 0.002 * gaussian()
  acc.test[e] = 0.955 - 0.1 * math.exp(-e / 2) + 0.004 * gaussian()
  loss.train[e] = 0.03 + 0.5 * math.exp(-e / 3)
  loss.test[e] = 0.2 + 0.25 * math.exp(-e / 2) + 0.01 * e / epochs + 0.005 * gaussian()
end
local curves = plot.figure{cols = 2, title = "MLP-1 [1000, 1000]: learning curves"}
curves:panel(1):line{title = "Accuracy", xlabel = "epoch", ylabel = "accuracy", series = {
  {name = "train", y = acc.train}, {name = "test", y = acc.test}}}
curves:panel(2):line{title = "Loss", xlabel = "epoch", ylabel = "cross-entropy", log_y = true,
  series = {{name = "train", y = loss.train}, {name = "test", y = loss.test}}}
save(curves, "line_curves.png")

-- Perceptron error per iteration for five digit pairs, log scale, with markers on one series.
local pairs_ = {"1 vs 0", "8 vs 3", "4 vs 9", "8 vs 7", "2 vs 9"}
local series = {}
for i, name in ipairs(pairs_) do
  local y, x = {}, {}
  for it = 1, 100 do
    x[it] = it * 10
    y[it] = (0.3 + 0.05 * i) * math.exp(-it / (3 + 6 * i)) + 0.002 * i
      + 0.003 * math.abs(gaussian())
  end
  series[i] = {name = name, x = x, y = y, marker = i == 1 and "o" or nil}
end
plot.line{title = "Perceptron: training error", xlabel = "iteration",
  ylabel = "misclassified fraction", log_y = true, series = series,
  hlines = {{y = 0.01, label = "1% error", colour = "#7f7f7f", dash = ":"}},
  file = dir .. "/line_perceptron.png"}
saved[#saved + 1] = "line_perceptron.png"

-- PCA scatter: 10,000 points of 10 classes, then the same with centroids and 95% ellipses.
local centres = {{7.8, 1.8}, {-6.7, 3.4}, {0.8, 2.8}, {0.6, 2.9}, {-0.3, -4.4}, {0.8, 0.8},
  {1.3, 0.7}, {-2.0, -4.6}, {0.0, 1.3}, {-1.1, -4.6}}
local spreads = {{3.7, 1.8, 0.3}, {1.15, 1.9, -0.6}, {3.1, 2.7, 0.1}, {2.9, 2.5, -0.2},
  {2.9, 2.1, 0.2}, {3.3, 2.3, 0}, {3.3, 2.0, 0.4}, {2.6, 2.6, -0.3}, {3.0, 2.3, 0}, {2.8, 2.3, 0.2}}
local px, py, labels = {}, {}, {}
for i = 1, 10000 do
  local k = (i * 7) % 10
  local c, s = centres[k + 1], spreads[k + 1]
  local u, v = gaussian(), gaussian()
  px[i] = c[1] + s[1] * u
  py[i] = c[2] + s[2] * (s[3] * u + math.sqrt(1 - s[3] ^ 2) * v)
  labels[i] = k
end
local pca = plot.figure{cols = 2, width = 1400, height = 560,
  title = "MNIST in two principal components (10,000 samples)"}
pca:panel(1):scatter{x = px, y = py, class = labels, title = "PCA projection", xlabel = "PC1",
  ylabel = "PC2", legend = false}
pca:panel(2):scatter{x = tensor.from_table(px), y = py, class = tensor.from_table(labels, "int32"),
  centroids = true, ellipses = true, title = "Centroids and 95% confidence ellipses",
  xlabel = "PC1", ylabel = "PC2"}
save(pca, "scatter_pca.png")

-- Histogram of 45 pairwise accuracies with the mean marked.
local accs = {}
for i = 1, 45 do accs[i] = math.min(1, 0.84 + 0.11 * gaussian()) end
plot.hist{values = accs, bins = 15, mean_line = true,
  title = "Separability of digit pairs (LinearSVC on 2 PCs)", xlabel = "pairwise accuracy",
  ylabel = "number of pairs", file = dir .. "/hist_pairs.png"}
saved[#saved + 1] = "hist_pairs.png"

-- Grouped bars: train and test accuracy per model; train-test gap per pair with a threshold.
local models = {"MLP-1", "MLP-2", "MLP-3", "MLP-4", "MLP-5"}
local bar_fig = plot.figure{cols = 2, width = 1200, height = 440}
bar_fig:panel(1):bars{groups = models, title = "Accuracy per model", ylabel = "accuracy",
  ylim = {0.9, 1.0}, series = {{name = "train", values = {0.9919, 0.9838, 0.9911, 0.9856, 0.9538}},
    {name = "test", values = {0.9544, 0.9514, 0.9614, 0.9533, 0.9274}}}, legend = "upper right"}
bar_fig:panel(2):bars{groups = {"1_vs_0", "8_vs_3", "4_vs_9", "8_vs_7", "2_vs_9"},
  title = "Train - test accuracy gap", ylabel = "gap", bar_labels = "%.3f",
  series = {{name = "gap", values = {0.0, 0.003, 0.001, 0.010, 0.007}}},
  hlines = {{y = 0.05, label = "threshold 0.05"}}}
save(bar_fig, "bars.png")

-- Heatmaps: a grid of perceptron-like weights (28 x 28, diverging, symmetric about 0).
local heat = plot.figure{rows = 2, cols = 3, width = 1050, height = 640,
  title = "Perceptron weights (28 x 28)"}
for p = 1, 6 do
  local w = {}
  for r = 1, 28 do
    w[r] = {}
    for c = 1, 28 do
      local d1 = ((r - 14) ^ 2 + (c - 14) ^ 2) / 40
      local d2 = ((r - 10 - p) ^ 2 + (c - 8 - p) ^ 2) / 20
      w[r][c] = (math.exp(-d1) * math.cos(p * r / 6) - 0.8 * math.exp(-d2)) * p + 0.05 * gaussian()
    end
  end
  heat:panel(p):heatmap{data = w, title = pairs_[(p - 1) % 5 + 1] .. (p == 6 and " (again)" or ""),
    ticks = p == 1}
end
save(heat, "heatmap_weights.png")

-- Confusion matrix: counts, annotated, sequential colour map with names on the axes.
local cm = {}
for r = 1, 10 do
  cm[r] = {}
  for c = 1, 10 do
    cm[r][c] = r == c and 950 + (r * 37) % 60 or math.floor(math.abs(gaussian()) * 6)
  end
end
plot.heatmap{data = cm, cmap = "Blues", annotate = true, title = "Confusion matrix (test set)",
  xlabel = "predicted", ylabel = "true", colorbar_label = "count", width = 640, height = 560,
  file = dir .. "/heatmap_confusion.png"}
saved[#saved + 1] = "heatmap_confusion.png"

-- Image grids: made-up digits (per-tile normalisation, captions), 4x4 filters of a first conv
-- layer (diverging, symmetric per tile) and activations with one shared range and a colour bar.
local digits = tensor.new({16, 28, 28}, "uint8")
for n = 1, 16 do
  for r = 1, 28 do
    for c = 1, 28 do
      local ring = math.abs(math.sqrt((r - 14.5) ^ 2 + ((c - 14.5) * (1 + n / 16)) ^ 2) - 8)
      local v = ring < 2 and 255 - 100 * ring or 0
      if n % 3 == 0 and math.abs(c - 14 - (r - 14) / 3) < 1.5 then v = 255 end
      digits:set(v, n, r, c)
    end
  end
end
local captions = {}
for n = 1, 16 do captions[n] = "label " .. (n - 1) % 10 end
plot.image_grid{images = digits, captions = captions, title = "Test digits", width = 560,
  height = 600, file = dir .. "/images_digits.png"}
saved[#saved + 1] = "images_digits.png"

local filters = tensor.new({32, 1, 4, 4})
local acts = tensor.new({1, 32, 14, 14})
for f = 1, 32 do
  for r = 1, 4 do
    for c = 1, 4 do
      filters:set(math.cos(f * r / 5) * math.sin(f * c / 7) + 0.1 * gaussian(), f, 1, r, c)
    end
  end
  for r = 1, 14 do
    for c = 1, 14 do
      acts:set(math.max(0, math.sin((r + f) / 3) * math.cos((c * f) / 20) * f / 8), 1, f, r, c)
    end
  end
end
local conv = plot.figure{cols = 2, width = 1200, height = 560,
  title = "CNN-1, first convolution layer"}
conv:panel(1):image_grid{images = filters, cmap = "RdBu_r",
  title = "Filters (4 x 4, each its own range)"}
conv:panel(2):image_grid{images = acts, cmap = "viridis", normalize = "shared", colorbar = true,
  title = "Activations for a digit 2 (shared range)"}
save(conv, "images_conv.png")

for _, name in ipairs(saved) do print(dir .. "/" .. name) end
