-- A small sweep for tests/cli/test_sweep.sh: four MLPs on 1000 MNIST images, each result holding
-- its final loss and a checksum of its weights, so runs can be compared exactly.
local nn = require "nn"
local dir = arg[1]
local data = nn.data.mnist()
local train = data.train:subset(1000, 3)
local members = {}
for i, width in ipairs{8, 12, 16, 20} do members[i] = {name = "m" .. i, width = width, epochs = 4} end
local results = nn.sweep.run{name = "test_sweep", dir = dir, members = members,
  run = function(member, ctx)
    io.stderr:write(string.format("RUN %s\n", member.name))
    local g = nn.graph()
    local x = g:input("x", {784})
    local model = g:model{inputs = {x}, outputs = {logits = nn.linear(nn.relu(nn.linear(x, member.width)), 10)}}
    local history = model:fit(train, {epochs = member.epochs, batch = 50, seed = 7, checkpoint = ctx.checkpoint, verbose = false,
      on_epoch = function(h)
        io.stderr:write(string.format("EPOCH %s %d\n", member.name, h.epoch))
        -- test_sweep.sh kills the run here; the pause keeps a fast device from finishing the member
        -- before the kill lands.
        if os.getenv("SWEEP_PAUSE_AT") == member.name .. " " .. h.epoch then os.execute("sleep 60") end
      end})
    local sum = 0
    for k, v in ipairs(model:param("dense_1.weight"):flat()) do sum = sum + v * (k % 7 + 1) end
    return {loss = history[#history].loss, checksum = sum}
  end}
if nn.sweep.is_leader() then
  for i, r in ipairs(results) do
    print(string.format("%s %s", members[i].name, r.failed and ("failed " .. r.failed) or string.format("%.9g %.9g", r.loss, r.checksum)))
  end
end
