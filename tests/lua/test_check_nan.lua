-- NN_CHECK=nan (run with it set, see tests/lua/meson.build): every node's value is checked after
-- its launch. A CNN (oneDNN's convolutions on CPU devices, whose prepared inputs are not in the
-- node's shape; bias gradients made by the weight gradients' launches) trains without a false
-- alarm, and the first node that produces an infinity is named with its script line.
local check = require "check"
local nn = require "nn"
local core = require "nn._core"

check.eq(core.env("NN_CHECK"), "nan", "this test runs with NN_CHECK=nan")

local data = nn.data.mnist()
local g = nn.graph()
local x = g:input("x", {1, 28, 28})
local h = nn.conv2d(x, 16, 4, {padding = "same", activation = "relu"})
h = nn.conv2d(h, 32, 4, {stride = 2, padding = "same", activation = "relu"})
local model = g:model{inputs = {x}, outputs = {logits = nn.linear(nn.flatten(h), 10)}}
local history = model:fit(data.train:subset(256, 1), {epochs = 1, batch = 64, seed = 1, verbose = false,
  optimizer = nn.optim.adam{lr = 1e-3}})
check.ok(history[1].loss == history[1].loss and history[1].loss < 3, "a CNN trains under NN_CHECK=nan: loss " .. history[1].loss)

local gi = nn.graph()
local xi = gi:input("x", {784})
local big = gi:scalar("big", 1e38)
local line = debug.getinfo(1, "l").currentline + 1
local scaled = nn.linear(xi, 10, {name = "scaled"}) * big * big  -- 1e76 times anything but 0
local mi = gi:model{inputs = {xi}, outputs = {y = scaled}}
mi:init(1)
local ok, err = pcall(function() return mi:predict(nn.zeros({8, 784}):fill(1)) end)
err = tostring(err)
check.ok(not ok, "an infinity stops the run")
check.ok(err:find("NN_CHECK=nan: ", 1, true) and err:find("produced infinity", 1, true) ~= nil, "names what it found: " .. err)
check.ok(err:find("test_check_nan.lua:" .. line, 1, true) ~= nil, "names the line that made the node: " .. err)

check.done()
