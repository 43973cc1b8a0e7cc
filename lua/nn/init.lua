-- nn: the nnrun library. Scripts start with `local nn = require "nn"`.
--
--   nn.graph()                 a new graph; g:input, g:scalar, g:model (lua/nn/graph.lua)
--   nn.linear, nn.conv2d, ...  layers and ops that add nodes to a graph
--   nn.loss, nn.optim          losses and optimisers for model:fit (lua/nn/train.lua)
--   nn.data                    MNIST, Fashion-MNIST and dataset objects
--   nn.plot, nn.report         figures (PNG) and Markdown reports
--   nn.sweep                   sweeps that resume where they stopped
--   nn.ml                      PCA, linear SVM and perceptrons (tasks 1 and 2)
--   nn.tensor                  host tensors
--   nn.device()                the OpenCL device this run uses (NN_DEVICE)
local core = require "nn._core"
local tensor = require "nn._tensor"

local nn = {
  version = core.version(),
  git_commit = core.git_commit(),
  util = require "nn.util",
}

-- Host tensors: nn.tensor{{1, 2}, {3, 4}} from nested tables, nn.zeros({2, 3}, "float32").
nn.tensor = tensor.from_table
nn.zeros = tensor.new
nn.is_tensor = tensor.is

function nn.device() return core.device() end
nn.seconds = core.seconds

-- Layers, ops and graphs; training; then the modules loaded on first use.
for k, v in pairs(require "nn.graph") do nn[k] = v end
local lazy = {data = "nn.data", plot = "nn.plot", report = "nn.report", loss = "nn.loss", optim = "nn.optim",
  sweep = "nn.sweep", ml = "nn.ml", experiment = "nn.experiment", dream = "nn.dream"}
return setmetatable(nn, {
  __index = function(t, k)
    local name = lazy[k]
    if not name then return nil end
    local m = require(name)
    rawset(t, k, m)
    return m
  end,
})
