-- A small training run that checkpoints every epoch, for test_kill.sh: killed at random moments
-- and restarted, it must end with the same weights as a run never interrupted.
-- Usage: nnrun kill_job.lua CHECKPOINT WEIGHTS_OUT [EPOCHS]
local nn = require "nn"
local checkpoint, out, epochs = arg[1], arg[2], tonumber(arg[3] or "500")

-- Random but fixed data: 16 samples of 16 features, 4 classes; one step per epoch.
local images, labels = nn.zeros({16, 16}), nn.zeros({16}, "int32")
local state = 12345
local function rand()
  state = (state * 1103515245 + 12345) % 2147483648
  return state / 2147483648
end
for i = 1, 16 do
  for j = 1, 16 do images:set(rand() * 2 - 1, i, j) end
  labels:set(math.floor(rand() * 4), i)
end
local ds = nn.data.dataset("kill", images, labels, {"a", "b", "c", "d"})

-- The wide hidden layer makes each checkpoint 3 MB (weights and Adam's two moments) while a step
-- on 16 samples is quick, so that a fair share of the kills land while one is being written.
local g = nn.graph()
local x = g:input("x", {16})
local h = nn.dropout(nn.relu(nn.linear(x, 16384)), 0.25)
local model = g:model{inputs = {x}, outputs = {y = nn.linear(h, 4)}}
model:fit(ds, {epochs = epochs, batch = 16, seed = 3, checkpoint = checkpoint, verbose = false,
  optimizer = nn.optim.adam{lr = 1e-3}})

-- Every parameter's bytes, in creation order.
local f = assert(io.open(out, "wb"))
for _, p in ipairs(model:params()) do
  for _, v in ipairs(model:param(p):flat()) do f:write(string.pack("<f", v)) end
end
f:close()
