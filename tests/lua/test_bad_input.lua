-- Bad input from scripts: wrong types and counts, nil where a node is expected, zero, negative and
-- overflowing sizes, mismatched data. None may crash nnrun: each is a Lua error that names this
-- script and the line of the offending call, then says what is wrong. Under the sanitizer build
-- (build-asan) the same script also checks that no path reads or writes out of bounds.
local check = require "check"
local nn = require "nn"
local T = require "nn._tensor"

-- fails(want, fn): fn, written on one line, raises an error holding `want` that starts with
-- "test_bad_input.lua:<that line>: ". (A `return f()` inside fn would be a tail call and lose the
-- line, so none is written.)
local function fails(want, fn)
  local line = debug.getinfo(2, "l").currentline
  local got
  check.fails(function()
    local ok, err = pcall(fn)
    got = err
    if not ok then error(err, 0) end
  end, want, "line " .. line)
  local at = string.format("test_bad_input.lua:%d: ", line)
  check.ok(type(got) == "string" and got:find(at, 1, true) ~= nil,
    string.format("line %d: the error does not start with '%s': %s", line, at, tostring(got)))
end

local HUGE = 1 << 40 -- 2^40: a size whose products overflow 32-bit counts and whose bytes no host has

-- Graphs and layers. A cycle cannot be written: a node's inputs must exist when it is made, so
-- node ids are a topological order by construction (nn_graph.h) and no script can build one.
local g = nn.graph()
local x = g:input("x", {4})
local img = g:input("img", {1, 6, 6})
fails("linear: input must be a graph node, got nil", function() nn.linear(nil, 3) end)
fails("relu: input must be a graph node, got number", function() nn.relu(3) end)
fails("units must be a positive integer, got 0", function() nn.linear(x, 0) end)
fails("units must be a positive integer, got -5", function() nn.linear(x, -5) end)
fails("units must be a positive integer, got 2.5", function() nn.linear(x, 2.5) end)
fails("units must be a positive integer, got 3", function() nn.linear(x, "3") end)
fails("the shape has more than 2^31 elements", function() nn.linear(x, HUGE) end)
fails("linear: options must be a table, got string", function() nn.linear(x, 3, "relu") end)
fails("input must be (batch, features), got (?, 1, 6, 6); flatten it first", function() nn.linear(img, 3) end)
fails("input must be (batch, channels, height, width), got (?, 4)", function() nn.conv2d(x, 4, 3) end)
fails("filters must be a positive integer", function() nn.conv2d(img, 0, 3) end)
fails("kernel 0x0 must be at least 1x1", function() nn.conv2d(img, 2, 0) end)
fails("9x9 window is larger than the padded 6x6 input", function() nn.conv2d(img, 2, 9) end)
fails("the shape has more than 2^31 elements", function() nn.conv2d(img, 2, HUGE) end)
fails("stride 0x0 must be at least 1", function() nn.conv2d(img, 2, 3, {stride = 0}) end)
fails("negative padding (top -5", function() nn.conv2d(img, 2, 3, {padding = {-5, 0, 0, 0}}) end)
fails("a padding entry is 2147483648, outside", function() nn.conv2d(img, 2, 3, {padding = {1 << 31, 0, 0, 0}}) end)
fails("a padding entry must be a whole number, got string", function() nn.conv2d(img, 2, 3, {padding = {"a", 0, 0, 0}}) end)
fails("is 8589934592, outside", function() nn.max_pool2d(img, 1 << 33) end)
fails("reshape: (?, 4) has 4 elements per sample; (?, 3) does not", function() nn.reshape(x, {3}) end)
fails("reshape: dimension 1 is 0", function() nn.reshape(x, {0}) end)
fails("reshape: dimension 1 is -2", function() nn.reshape(x, {-2, -2}) end)
fails("reshape: shape entry 1 is a, not a whole number", function() nn.reshape(x, {"a"}) end)
fails("reshape: the shape has 5 dimensions (at most 4)", function() nn.reshape(x, {1, 1, 1, 1, 4}) end)
fails("does not", function() nn.reshape(x, {HUGE, HUGE}) end)
fails("input: the first argument is the input's name", function() g:input(nil, {3}) end)
fails("input 'y': shape must be a table like {784}", function() g:input("y", nil) end)
fails("input 'y': dimension 1 is -3; sizes must be positive", function() g:input("y", {-3}) end)
fails("input 'y': the shape has more than 2^31 elements", function() g:input("y", {1 << 31, 1 << 31}) end)
fails("input 'y': shape entry 1 is 2.5, not a whole number", function() g:input("y", {2.5}) end)
fails("input 'y': dtype float64 is not \"float32\" or \"int32\"", function() g:input("y", {2}, "float64") end)
fails("input 'x': the name is already used by the node made at", function() g:input("x", {4}) end)
fails("param: the name must be a string, got nil", function() g:param(nil, {2}) end)
fails("param 'p': dimension 1 is -1; sizes must be positive", function() g:param("p", {-1}) end)
fails("param 'p': unknown init magic (zeros, ones", function() g:param("p", {2}, {init = "magic"}) end)
fails("param: fan_in must be a whole number, got string", function() g:param("p", {2}, {fan_in = "a"}) end)
fails("add: right operand must be a graph node, got nil", function() local _ = x + nil end)
fails("add: shapes (?, 4) and (?, 1, 6, 6) do not broadcast", function() local _ = x + img end)
fails("add: the operands belong to different graphs", function() local _ = x + nn.graph():input("z", {4}) end)
fails("dropout: rate 1 is outside [0, 1)", function() nn.dropout(x, 1) end)
fails("model: no outputs", function() g:model{inputs = {x}, outputs = {}} end)
fails("model: inputs[1] must be a graph node, got number", function() g:model{inputs = {3}, outputs = {y = x}} end)

-- Models: fit, evaluate, predict, run.
local m = g:model{inputs = {x}, outputs = {y = nn.linear(x, 2, {name = "out"})}}
local ds = nn.data.dataset("d", nn.zeros({3, 4}), nn.zeros({3}, "int32"), {"a", "b"})
fails("fit: expected a data set (from nn.data), got nil", function() m:fit(nil) end)
fails("fit: epochs must be an integer >= 0", function() m:fit(ds, {epochs = -1}) end)
fails("fit: batch must be a positive integer", function() m:fit(ds, {batch = 0}) end)
fails("fit: batch must be a positive integer", function() m:fit(ds, {batch = 2.5}) end)
fails("batch size is 1099511627776, outside", function() m:fit(ds, {batch = HUGE, epochs = 1}) end)
fails("fit: the loss for 'y' must be one of nn.loss", function() m:fit(ds, {loss = "mse"}) end)
local wide = nn.data.dataset("wide", nn.zeros({3, 5}), nn.zeros({3}, "int32"), {"a", "b"})
fails("input 'x' (?, 4) takes 4 values per sample; data set 'wide' has 5", function() m:fit(wide, {epochs = 1}) end)
local bad_labels = nn.data.dataset("bad", nn.zeros({3, 4}), T.from_table({5, 0, -1}, "int32"), {"a", "b"})
fails("of 'labels' is outside output 'y''s 2 classes (0..1)", function() m:fit(bad_labels, {epochs = 1}) end)
fails("evaluate: expected a data set (from nn.data), got string", function() m:evaluate("test") end)
fails("run: expected a data set (from nn.data), got nil", function() m:predict(nil) end)
fails("input 'x' (?, 4) takes 4 values per sample; the tensor nn.Tensor float32 (1, 3) has 3", function() m:predict(nn.tensor{{1, 2, 3}}) end)
fails("no node named 'nope' (layers: out)", function() m:run(nn.zeros({1, 4}), {"nope"}) end)
-- An input that no output uses is allowed: it is simply never fed.
local g2 = nn.graph()
local used, unused = g2:input("used", {4}), g2:input("unused", {3})
local m2 = g2:model{inputs = {used, unused}, outputs = {y = nn.linear(used, 2)}}
check.eq(tostring(m2:predict(nn.zeros({2, 4}))), "nn.Tensor float32 (2, 2)", "a graph with an unused input predicts")

-- Tensors.
fails("bad argument #1 to 'tensor' (table expected, got nil)", function() nn.tensor(nil) end)
fails("tensor from table: rows of different lengths at level 2", function() nn.tensor{{1, 2}, {3}} end)
fails("tensor from table: element 1 is a string, not a number", function() nn.tensor{"a"} end)
fails("tensor from table: more than 4 levels of nesting", function() nn.tensor{{{{{1}}}}} end)
fails("shape entries must be integers >= 0", function() nn.zeros({-1}) end)
fails("overflows", function() nn.zeros({HUGE, HUGE}) end)
fails("out of host memory allocating", function() nn.zeros({1 << 20, 1 << 20, 1 << 10}) end)
local t = nn.tensor{{1, 2}, {3, 4}}
fails("tensor index 1: 3 is outside 1..2", function() t:get(3, 1) end)
fails("tensor index: 1 indices given for a 2-d tensor", function() t:get(1) end)
fails("reshape: (2, 2) has 4 elements, (3,) has 3", function() t:reshape{3} end)
fails("reshape: (2, 2) has 4 elements", function() t:reshape{1 << 32, 1 << 32, 1 << 32, 1 << 32} end)
fails("select: 0 is outside 1..2", function() t:select(0) end)
fails("statistics of an empty tensor", function() nn.zeros({0}):stats() end)
fails("bad argument #1 to 'get' (nn.Tensor expected, got table)", function() t.get({}, 1) end)
-- Values an integer tensor cannot hold saturate; NaN is 0 (a C cast would be undefined).
local ints = nn.zeros({3}, "int32")
ints:set(0 / 0, 1)
ints:set(1e20, 2)
ints:set(-1e20, 3)
check.eq(table.concat(ints:flat(), ","), "0,2147483647,-2147483648", "int32 set saturates")
check.eq(table.concat(nn.tensor{0 / 0, 300, -4}:astype("uint8"):flat(), ","), "0,255,0", "uint8 astype saturates")

-- Data sets.
fails("dataset 'd': 3 images but 2 labels", function() nn.data.dataset("d", nn.zeros({3, 4}), nn.zeros({2}, "int32"), {"a"}) end)
fails("dataset 'd': labels must be a 1-d tensor, got nil", function() nn.data.dataset("d", nn.zeros({3, 4}), nil, {"a"}) end)
fails("dataset 'd': classes must be a list of names, got nil", function() nn.data.dataset("d", nn.zeros({3, 4}), nn.zeros({3}, "int32")) end)
fails("subset of 10 asked from 'd' which has 3 images", function() ds:subset(10, 1) end)
fails("subset of 1.5 asked from 'd'", function() ds:subset(1.5, 1) end)
fails("split of 'd': fraction 2 is not between 0 and 1", function() ds:split(2, 1) end)
fails("filter: label 1 is a, not a whole number", function() ds:filter{"a"} end)
fails("map_labels: label 0 (row 0) is not in the table", function() ds:map_labels({[1] = 0}) end)
fails("no such file (run ./setup.sh to fetch the data sets)", function() nn.data.mnist{dir = "/nonexistent"} end)

-- Plots and reports.
fails("figure: rows and cols must be whole numbers >= 1", function() nn.plot.figure{rows = 0} end)
fails("at most 32767 pixels a side", function() nn.plot.figure{width = 1e9, height = 1e9} end)
fails("figure has 1 panels (1 x 1); there is no panel 5", function() nn.plot.figure{}:panel(5) end)
fails("line: series 'series 1' y[1] is NaN", function() nn.plot.figure{}:panel(1):line{series = {{y = {0 / 0, 1}}}} end)
fails("hist: bins must be a whole number from 1 to 100000", function() nn.plot.figure{}:panel(1):hist{values = {1, 2}, bins = HUGE} end)
fails("figure:save: a file name is needed", function() nn.plot.figure{}:save(nil) end)
fails("report.new: expected a table of options", function() nn.report.new(nil) end)
fails("report.new: name must be letters, digits", function() nn.report.new{name = "../x"} end)
fails("report:table 't': row 1 has 2 values for 1 columns", function() nn.report.new{name = "r"}:table{name = "t", columns = {"a"}, rows = {{1, 2}}} end)

-- The rest of the library.
fails("pca: float32 (samples, features) tensor expected, got nil", function() nn.ml.pca(nil) end)
fails("perceptron: expected a list of problems", function() nn.ml.perceptron(nil) end)
fails("optim.adam: lr must be a number, got a", function() nn.optim.adam{lr = "a"} end)
fails("optim.sgd: expected a table of hyperparameters, got number", function() nn.optim.sgd(5) end)
fails("sweep.run: expected {name = string, members = {...}", function() nn.sweep.run{name = "s"} end)

-- State files are data, never code (the reader is strict, src/lua/nn_lua_state.c).
for _, text in ipairs{"os.exit(3)", "(function() end)()", "while true do end", "{[1]=print(1)}", '("x"):rep(1e9)'} do
  check.fails(function() nn.util.deserialize(text) end, "damaged training state: byte ", text)
end

check.done()
