-- nn.graph: building static graphs from Lua. Every function here only records nodes (in C,
-- nn._graph); nothing runs until a model plans and runs the graph (lua/nn/train.lua).
--
--   local g = nn.graph()
--   local x = g:input("x", {784})                 -- the batch dimension is implicit
--   local h = nn.relu(nn.linear(x, 1000))
--   local model = g:model{inputs = {x}, outputs = {logits = nn.linear(h, 10)}}
--
-- Nodes support + - * / with numbers and other nodes (broadcasting like numpy), and
-- node:shape(), node:name(). Errors name the script line that made the node.
local C = require "nn._graph"
local util = require "nn.util"

local M = {}

local Graph = {}
Graph.__index = Graph
local Node = {}
Node.__index = Node

local function node(graph, id) return setmetatable({graph = graph, id = id}, Node) end

local function is_node(x) return getmetatable(x) == Node end
M.is_node = is_node
-- Wraps a node id of graph g (for library modules that call nn._graph directly).
M.node_of = node

local function check_node(x, fn, what)
  if not is_node(x) then
    util.fail("%s: %s must be a graph node, got %s", fn, what or "input", type(x) == "table" and "a table" or type(x))
  end
  return x
end

-- The options table of op `fn`; a key not in `allowed` (a space-separated list) is an error that
-- lists the options, so a typo never goes unnoticed.
local function opts_of(o, fn, allowed)
  if o ~= nil and type(o) ~= "table" then util.fail("%s: options must be a table, got %s", fn, type(o)) end
  o = o or {}
  allowed = " " .. (allowed or "name") .. " "
  for k in pairs(o) do
    if type(k) ~= "string" or not allowed:find(" " .. k .. " ", 1, true) then
      util.fail("%s: unknown option '%s' (options:%s)", fn, tostring(k), allowed:gsub(" +$", ""):gsub(" ", " ", 1))
    end
  end
  return o
end
M.check_options = opts_of

function M.graph()
  return setmetatable({c = C.graph(), layers = {}, counters = {}}, Graph)
end

-- "dense_1", "dense_2", ... per layer kind, as Keras names them.
function Graph:auto_name(kind)
  self.counters[kind] = (self.counters[kind] or 0) + 1
  return kind .. "_" .. self.counters[kind]
end

-- Records a layer for model:summary().
function Graph:add_layer(layer) self.layers[#self.layers + 1] = layer end

-- g:input(name, shape [, dtype]): a batched input; shape excludes the batch dimension.
function Graph:input(name, shape, dtype)
  if type(name) ~= "string" then util.fail("input: the first argument is the input's name") end
  if type(shape) ~= "table" then util.fail("input '%s': shape must be a table like {784}", name) end
  return node(self, self.c:input(name, shape, dtype or "float32", util.where()))
end

-- g:scalar(name, value): a value that can change between runs without recompiling anything
-- (a loss weight, a dropout rate). s:set(v), s:get().
function Graph:scalar(name, value)
  if type(value) ~= "number" then util.fail("scalar '%s': value must be a number", tostring(name)) end
  return node(self, self.c:scalar(name, value, util.where()))
end

-- g:param(name, shape, {init = "glorot_uniform", fan_in = , fan_out = , scale = , trainable = true}).
-- A non-trainable parameter (running statistics) is saved with the model; the optimiser leaves it.
function Graph:param(name, shape, opts)
  opts = opts_of(opts, "param", "init scale fan_in fan_out trainable")
  return node(self, self.c:param(name, shape, opts.init or "glorot_uniform", opts.scale or 0.05,
    opts.fan_in or 1, opts.fan_out or 1, opts.trainable ~= false, util.where()))
end

-- The node named `name` (or nil).
function Graph:find(name)
  local id = self.c:find(name)
  return id and node(self, id) or nil
end

-- Elements of the trainable parameters (of the non-trainable ones with trainable = false).
function Graph:param_count(trainable) return self.c:param_count(trainable ~= false) end

-- ---- nodes ----

function Node:info() return self.graph.c:node(self.id) end
function Node:name() return self:info().name end
-- The shape with the batch dimension as "?" when batched: {"?", 784}.
function Node:shape()
  local info = self:info()
  local s = {}
  for i, d in ipairs(info.shape) do s[i] = (i == 1 and info.batched) and "?" or d end
  return s
end
function Node:shape_string()
  local s = self:shape()
  for i = 1, #s do s[i] = tostring(s[i]) end
  return "(" .. table.concat(s, ", ") .. (#s == 1 and ",)" or ")")
end
function Node:set(value)
  if type(value) ~= "number" then util.fail("scalar '%s': value must be a number", self:name()) end
  self.graph.c:set_scalar(self.id, value)
end
function Node:get() return self.graph.c:get_scalar(self.id) end
function Node:__tostring() return string.format("nn.Node %s '%s' %s", self:info().op, self:name(), self:shape_string()) end

-- A number becomes an affine op on the other side; two nodes a broadcasting binary op.
-- node op number as an affine map a*x + b: {scale, shift} per op.
local AFFINE_RIGHT = {add = function(c) return 1, c end, sub = function(c) return 1, -c end,
  mul = function(c) return c, 0 end, div = function(c) return 1 / c, 0 end}
-- number op node: the same with the number on the left (division is handled apart).
local AFFINE_LEFT = {add = function(c) return 1, c end, sub = function(c) return -1, c end,
  mul = function(c) return c, 0 end}

local function arith(op, a, b)
  local g = is_node(a) and a.graph or b.graph
  local where = util.where()
  if type(a) == "number" and op == "div" then
    check_node(b, op)
    local numerator = g.c:affine(b.id, 0, a, nil, where)  -- the constant a, shaped like b
    return node(g, g.c:binary("div", numerator, b.id, nil, where))
  end
  if type(a) == "number" or type(b) == "number" then
    local x, c, maps = b, a, AFFINE_LEFT
    if type(b) == "number" then x, c, maps = a, b, AFFINE_RIGHT end
    check_node(x, op)
    local scale, shift = maps[op](c)
    return node(g, g.c:affine(x.id, scale, shift, nil, where))
  end
  check_node(a, op, "left operand")
  check_node(b, op, "right operand")
  if a.graph ~= b.graph then util.fail("%s: the operands belong to different graphs", op) end
  return node(g, g.c:binary(op, a.id, b.id, nil, where))
end
Node.__add = function(a, b) return arith("add", a, b) end
Node.__sub = function(a, b) return arith("sub", a, b) end
Node.__mul = function(a, b) return arith("mul", a, b) end
Node.__div = function(a, b) return arith("div", a, b) end
Node.__unm = function(a) return arith("mul", a, -1) end

-- ---- ops ----


for _, f in ipairs{"relu", "sigmoid", "tanh", "exp", "log", "square"} do
  M[f] = function(x, opts)
    check_node(x, f)
    return node(x.graph, x.graph.c:unary(f, x.id, opts_of(opts, f).name, util.where()))
  end
end

-- One-input ops that differ by a flag: the C constructor and its flag.
local FLAGGED = {softmax = {"softmax", false}, log_softmax = {"softmax", true}, sum = {"sum", false},
  mean = {"sum", true}}
for f, spec in pairs(FLAGGED) do
  M[f] = function(x, opts)
    check_node(x, f)
    local c = x.graph.c
    return node(x.graph, c[spec[1]](c, x.id, spec[2], opts_of(opts, f).name, util.where()))
  end
end

function M.matmul(a, b, opts)
  check_node(a, "matmul", "left operand")
  check_node(b, "matmul", "right operand")
  opts = opts_of(opts, "matmul", "name transpose_a transpose_b")
  return node(a.graph, a.graph.c:matmul(a.id, b.id, opts.transpose_a, opts.transpose_b, opts.name, util.where()))
end

-- reshape(x, {dims}) keeps the batch dimension: reshape(x, {1, 28, 28}) on (?, 784).
function M.reshape(x, shape, opts)
  check_node(x, "reshape")
  if type(shape) ~= "table" then util.fail("reshape: shape must be a table like {1, 28, 28}") end
  return node(x.graph, x.graph.c:reshape(x.id, shape, opts_of(opts, "reshape").name, util.where()))
end

function M.flatten(x, opts) return M.reshape(x, {-1}, opts) end

-- dropout(x, rate): rate is a number or a scalar node (then it can change between runs).
function M.dropout(x, rate, opts)
  check_node(x, "dropout")
  opts = opts_of(opts, "dropout", "name")
  local g = x.graph
  if type(rate) == "number" then
    if rate < 0 or rate >= 1 then util.fail("dropout: rate %g is outside [0, 1)", rate) end
    rate = g:scalar(g:auto_name("dropout_rate"), rate)
  end
  check_node(rate, "dropout", "rate")
  local y = node(g, g.c:dropout(x.id, rate.id, opts.name, util.where()))
  g:add_layer{name = opts.name or y:name(), kind = "Dropout", output = y, params = {}}
  return y
end

-- ---- layers (they create parameters and appear in model:summary) ----

-- Builds a layer of graph g; if building fails half-way (a bad kernel size found after the
-- weights were made), the nodes it added and its automatic name are taken back.
local linear_body, conv2d_body, batchnorm_body  -- defined below their public wrappers

local function build_layer(g, kind, build)
  local mark, counter = g.c:count(), g.counters[kind]
  local ok, result = pcall(build)
  if not ok then
    g.c:truncate(mark)
    g.counters[kind] = counter
    error(result, 0)
  end
  return result
end

local function activate(y, activation)
  if activation == nil or activation == "linear" then return y end
  local f = M[activation]
  if type(f) ~= "function" then util.fail("unknown activation '%s' (relu, sigmoid, tanh, softmax)", tostring(activation)) end
  return f(y)
end

-- linear(x, units, {name, activation, bias = true, init = "glorot_uniform", bias_init = "zeros"}):
-- y = x W + b with W (in, units), Keras's Dense.
function M.linear(x, units, opts)
  check_node(x, "linear")
  opts = opts_of(opts, "linear", "name activation bias init bias_init")
  return build_layer(x.graph, "dense", function() return linear_body(x, units, opts) end)
end

function linear_body(x, units, opts)
  local g = x.graph
  local info = x:info()
  local name = opts.name or g:auto_name("dense")
  if math.type(units) ~= "integer" or units < 1 then util.fail("linear '%s': units must be a positive integer, got %s", name, tostring(units)) end
  if #info.shape ~= 2 or not info.batched then
    util.fail("linear '%s': input must be (batch, features), got %s; flatten it first", name, x:shape_string())
  end
  local fan_in = info.shape[2]
  local w = g:param(name .. ".weight", {fan_in, units}, {init = opts.init, fan_in = fan_in, fan_out = units})
  local y = M.matmul(x, w, {name = name .. ".matmul"})
  local params = {w}
  if opts.bias ~= false then
    local b = g:param(name .. ".bias", {units}, {init = opts.bias_init or "zeros"})
    y = node(g, g.c:binary("add", y.id, b.id, name .. ".out", util.where()))
    params[2] = b
  end
  y = activate(y, opts.activation)
  g:add_layer{name = name, kind = "Dense", output = y, params = params}
  return y
end
M.dense = M.linear

-- Keras padding for one dimension: 'valid' none; 'same' makes out = ceil(in / stride) and puts
-- the odd pixel after (bottom/right).
local function pad_1d(padding, size, k, stride)
  if padding == "valid" then return 0, 0 end
  local out = (size + stride - 1) // stride
  local total = math.max((out - 1) * stride + k - size, 0)
  return total // 2, total - total // 2
end

local function pads(x, padding, kh, kw, sh, sw, fn, name)
  padding = padding or "valid"
  if type(padding) == "table" then
    if #padding ~= 4 then util.fail("%s '%s': padding table must be {top, left, bottom, right}", fn, name) end
    return padding
  end
  if padding ~= "same" and padding ~= "valid" then
    util.fail("%s '%s': padding must be 'same', 'valid' or {top, left, bottom, right}, got '%s'", fn, name, tostring(padding))
  end
  local shape = x:info().shape
  if #shape ~= 4 then util.fail("%s '%s': input must be (batch, channels, height, width), got %s", fn, name, x:shape_string()) end
  local top, bottom = pad_1d(padding, shape[3], kh, sh)
  local left, right = pad_1d(padding, shape[4], kw, sw)
  return {top, left, bottom, right}
end

local function pair(v, fn, what)
  if type(v) == "number" then return v, v end
  if type(v) == "table" and #v == 2 then return v[1], v[2] end
  util.fail("%s: %s must be a number or {h, w}", fn, what)
end

-- conv2d(x, filters, kernel, {stride = 1, padding = "valid", activation, bias = true, name}):
-- x (batch, c, h, w), weight (filters, c, kh, kw), Keras's Conv2D over NCHW.
function M.conv2d(x, filters, kernel, opts)
  check_node(x, "conv2d")
  opts = opts_of(opts, "conv2d", "name activation bias init bias_init stride padding")
  return build_layer(x.graph, "conv2d", function() return conv2d_body(x, filters, kernel, opts) end)
end

function conv2d_body(x, filters, kernel, opts)
  local g = x.graph
  local name = opts.name or g:auto_name("conv2d")
  local kh, kw = pair(kernel, "conv2d '" .. name .. "'", "kernel")
  local sh, sw = pair(opts.stride or 1, "conv2d '" .. name .. "'", "stride")
  local shape = x:info().shape
  if #shape ~= 4 then util.fail("conv2d '%s': input must be (batch, channels, height, width), got %s", name, x:shape_string()) end
  if math.type(filters) ~= "integer" or filters < 1 then util.fail("conv2d '%s': filters must be a positive integer", name) end
  if kh < 1 or kw < 1 then util.fail("conv2d '%s': kernel %dx%d must be at least 1x1", name, kh, kw) end
  if sh < 1 or sw < 1 then util.fail("conv2d '%s': stride %dx%d must be at least 1", name, sh, sw) end
  local c = shape[2]
  local w = g:param(name .. ".weight", {filters, c, kh, kw},
    {init = opts.init, fan_in = c * kh * kw, fan_out = filters * kh * kw})
  local b = -1
  local params = {w}
  if opts.bias ~= false then
    local bias = g:param(name .. ".bias", {filters}, {init = opts.bias_init or "zeros"})
    b, params[2] = bias.id, bias
  end
  local y = node(g, g.c:conv2d(x.id, w.id, b, sh, sw, pads(x, opts.padding, kh, kw, sh, sw, "conv2d", name), name .. ".out", util.where()))
  y = activate(y, opts.activation)
  g:add_layer{name = name, kind = "Conv2D", output = y, params = params}
  return y
end

local function pool(max, kind, x, size, opts)
  check_node(x, kind)
  opts = opts_of(opts, kind, "name stride padding")
  local g = x.graph
  local name = opts.name or g:auto_name(kind)
  local kh, kw = pair(size or 2, kind, "size")
  local sh, sw = pair(opts.stride or {kh, kw}, kind, "stride")
  local y = node(g, g.c:pool2d(x.id, max, kh, kw, sh, sw, pads(x, opts.padding, kh, kw, sh, sw, kind, name), name, util.where()))
  g:add_layer{name = name, kind = max and "MaxPooling2D" or "AveragePooling2D", output = y, params = {}}
  return y
end
function M.max_pool2d(x, size, opts) return pool(true, "max_pool2d", x, size, opts) end
function M.avg_pool2d(x, size, opts) return pool(false, "avg_pool2d", x, size, opts) end

-- Global average pooling: (batch, c, h, w) -> (batch, c).
function M.global_avg_pool2d(x, opts)
  check_node(x, "global_avg_pool2d")
  local shape = x:info().shape
  if #shape ~= 4 then util.fail("global_avg_pool2d: input must be (batch, channels, height, width), got %s", x:shape_string()) end
  local y = M.avg_pool2d(x, {shape[3], shape[4]}, opts)
  return M.reshape(y, {shape[2]})
end

-- batchnorm(x, {name, momentum = 0.99, eps = 1e-3}): Keras's BatchNormalization (PyTorch's
-- BatchNorm1d/2d) over the channels of x (batch, c, h, w), or the features of x (batch, features).
-- Training normalises with the batch's mean and biased variance and updates the running ones,
-- running = momentum * running + (1 - momentum) * batch (Keras's momentum; PyTorch's is 1 - it);
-- evaluation (evaluate, predict, run) normalises with the running ones. gamma (ones) and beta
-- (zeros) are trained; running_mean (zeros) and running_var (ones) are non-trainable parameters.
function M.batchnorm(x, opts)
  check_node(x, "batchnorm")
  opts = opts_of(opts, "batchnorm", "name momentum eps")
  return build_layer(x.graph, "batch_normalization", function() return batchnorm_body(x, opts) end)
end
M.batch_norm = M.batchnorm

function batchnorm_body(x, opts)
  local g = x.graph
  local name = opts.name or g:auto_name("batch_normalization")
  local momentum, eps = opts.momentum or 0.99, opts.eps or 1e-3
  if type(momentum) ~= "number" or not (momentum >= 0 and momentum <= 1) then
    util.fail("batchnorm '%s': momentum must be a number in [0, 1] (the share of the running statistics kept at " ..
      "each step, 0.99 in Keras), got %s", name, type(momentum) == "number" and momentum or "a " .. type(momentum))
  end
  if type(eps) ~= "number" or not (eps > 0 and eps < math.huge) then
    util.fail("batchnorm '%s': eps must be a positive number, got %s", name,
      type(eps) == "number" and eps or "a " .. type(eps))
  end
  local info = x:info()
  if not info.batched or #info.shape < 2 then
    util.fail("batchnorm '%s': input must be (batch, features) or (batch, channels, ...), got %s%s", name,
      x:shape_string(), info.batched and "" or ", which has no batch dimension")
  end
  local c = info.shape[2]
  local gamma = g:param(name .. ".gamma", {c}, {init = "ones"})
  local beta = g:param(name .. ".beta", {c}, {init = "zeros"})
  local mean = g:param(name .. ".running_mean", {c}, {init = "zeros", trainable = false})
  local var = g:param(name .. ".running_var", {c}, {init = "ones", trainable = false})
  local y = node(g, g.c:batchnorm(x.id, gamma.id, beta.id, mean.id, var.id, eps, momentum, name .. ".out",
    util.where()))
  g:add_layer{name = name, kind = "BatchNormalization", output = y, params = {gamma, beta, mean, var}}
  return y
end

-- ---- models ----

-- g:model{inputs = {x, ...}, outputs = {name = node, ...}} (outputs may also be a list).
function Graph:model(spec)
  if type(spec) ~= "table" or type(spec.inputs) ~= "table" or type(spec.outputs) ~= "table" then
    util.fail("model: expected {inputs = {...}, outputs = {name = node, ...}}")
  end
  for i, x in ipairs(spec.inputs) do check_node(x, "model", "inputs[" .. i .. "]") end
  local outputs, names = {}, {}
  for k, v in pairs(spec.outputs) do
    local name = type(k) == "string" and k or ("output" .. k)
    check_node(v, "model", "output '" .. name .. "'")
    outputs[name] = v
    names[#names + 1] = name
  end
  table.sort(names)
  if #names == 0 then util.fail("model: no outputs") end
  return require("nn.train").model(self, spec.inputs, outputs, names)
end

return M
