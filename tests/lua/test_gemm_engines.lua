-- The two GEMM engines train alike: the same MLP and CNN, seed and data, trained once with the
-- device's own engine (OpenBLAS in the queue on a CPU device) and once with CLBlast forced
-- (NN_GEMM=clblast), in two nnrun processes since the engine is chosen when the device opens.
-- Their products differ in summation order only, so the test accuracies agree within noise.
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

local e1, mlp1, cnn1, out1 = run("-u NN_GEMM")
local e2, mlp2, cnn2, out2 = run("NN_GEMM=clblast")
check.ok(e1 and e2, "both runs print their accuracies:\n" .. out1 .. "\n" .. out2)
if e1 and e2 then
  print(string.format("%s: MLP %.4f, CNN %.4f; %s: MLP %.4f, CNN %.4f", e1, mlp1, cnn1, e2, mlp2, cnn2))
  check.eq(e2, "CLBlast", "NN_GEMM=clblast trains with CLBlast")
  -- 3000 images: both reach ~0.90 (measured 0.903 and 0.894 on each engine); the engines agree to a
  -- few test images.
  check.ok(mlp1 > 0.85 and mlp2 > 0.85, "both MLPs learn")
  check.ok(cnn1 > 0.85 and cnn2 > 0.85, "both CNNs learn")
  check.near(mlp1, mlp2, 0.01, "MLP test accuracy within 1% on either engine")
  check.near(cnn1, cnn2, 0.01, "CNN test accuracy within 1% on either engine")
end
check.done()
