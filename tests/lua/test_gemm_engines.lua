-- The GEMM and convolution engines train alike: the same MLP and CNN, seed and data, trained with
-- the device's own engines (on a CPU device oneDNN in the queue, its direct convolutions included),
-- with oneDNN's GEMMs but convolutions as im2col (NN_CONV=im2col), with OpenBLAS in the queue
-- (NN_GEMM=openblas, on devices that run host functions) and with CLBlast forced (NN_GEMM=clblast),
-- in one nnrun process each since the GEMM engine is chosen when the device opens. Their products
-- differ in summation order only, so the test accuracies agree within noise.
--
--   nnrun tests/lua/test_gemm_engines.lua            the test: runs itself twice, compares
--   nnrun tests/lua/test_gemm_engines.lua --train    one training run; prints "accuracy <mlp> <cnn>"
local nn = require "nn"

local function train_and_print()
  local data = nn.data.mnist()
  local train, test = data.train:subset(3000, 21), data.test:subset(1000, 22)
  local g = nn.graph()
  local x = g:input("x", {784})
  local mlp = g:model{inputs = {x}, outputs = {logits = nn.linear(nn.linear(x, 96, {activation = "relu"}), 10)}}
  mlp:fit(train, {optimizer = nn.optim.adam{lr = 2e-3}, epochs = 3, batch = 64, seed = 3, verbose = false})
  local c = nn.graph()
  local img = c:input("x", {1, 28, 28})
  local h = nn.conv2d(img, 8, 4, {stride = 2, padding = "same", activation = "relu"})
  h = nn.conv2d(h, 16, 4, {stride = 2, padding = "same", activation = "relu"})
  local cnn = c:model{inputs = {img}, outputs = {logits = nn.linear(nn.flatten(h), 10)}}
  cnn:fit(train, {optimizer = nn.optim.adam{lr = 2e-3}, epochs = 2, batch = 64, seed = 3, verbose = false})
  print(string.format("engine %s accuracy %.4f %.4f", nn.device().gemm, mlp:evaluate(test).accuracy,
    cnn:evaluate(test).accuracy))
end

if arg[1] == "--train" then return train_and_print() end

local check = require "check"
local function run(env)
  local cmd = string.format("env %s '%s' '%s' --train 2>&1", env, arg[-1], arg[0])
  local pipe = assert(io.popen(cmd))
  local out = pipe:read("a")
  local ok = pipe:close()
  check.ok(ok, env .. ": the training run exits 0\n" .. out)
  local engine, a, b = out:match("engine (.-) accuracy ([%d.]+) ([%d.]+)")
  return engine, tonumber(a), tonumber(b), out
end

local runs = {{env = "-u NN_GEMM"}, {env = "NN_GEMM=clblast", engine = "CLBlast"}}
local first = runs[1]
first.engine_got, first.mlp, first.cnn, first.out = run(first.env)
if first.engine_got and first.engine_got ~= "CLBlast" then
  runs[3] = {env = "NN_GEMM=openblas", engine = "OpenBLAS (native kernel)"}
  runs[4] = {env = "-u NN_GEMM NN_CONV=im2col", engine = first.engine_got}
end
for i = 2, #runs do
  local r = runs[i]
  r.engine_got, r.mlp, r.cnn, r.out = run(r.env)
end
for _, r in ipairs(runs) do
  check.ok(r.engine_got, r.env .. ": the run prints its accuracies:\n" .. r.out)
  if r.engine and r.engine_got then check.eq(r.engine_got, r.engine, r.env .. " trains with " .. r.engine) end
end
for _, r in ipairs(runs) do
  if r.engine_got and first.engine_got then
    print(string.format("%s (%s): MLP %.4f, CNN %.4f", r.engine_got, r.env, r.mlp, r.cnn))
    -- 3000 images: all reach ~0.90 (measured 0.903 and 0.894 on OpenBLAS and CLBlast); the engines
    -- agree to a few test images.
    check.ok(r.mlp > 0.85 and r.cnn > 0.85, r.engine_got .. ": the MLP and the CNN learn")
    check.near(r.mlp, first.mlp, 0.01, r.engine_got .. ": MLP test accuracy within 1% of " .. first.engine_got)
    check.near(r.cnn, first.cnn, 0.01, r.env .. ": CNN test accuracy within 1% of " .. first.engine_got)
  end
end
check.done()
