-- Launch accounting (run with NN_PROFILE=1 and with NN_PROFILE=queue, see tests/lua/meson.build):
-- every kernel and GEMM is counted, and the profile names each with its launches and a time.
local nn = require "nn"
local core = require "nn._core"
local check = require "check"

local g = nn.graph()
local x = g:input("x", {7})
local model = g:model{inputs = {x}, outputs = {y = nn.linear(x, 5, {activation = "relu"})}}
model:init(3)
local input = nn.zeros({9, 7})
model:predict(input) -- builds the plan and its kernels outside the counted run

core.profile(true)
local before, t0 = core.stats().launches, nn.seconds()
model:predict(input) -- returns the output, so the queue is done when it returns
local wall = nn.seconds() - t0
local launches = core.stats().launches - before
check.eq(launches, 2, "a dense layer with ReLU is 2 launches: the GEMM, then the bias add and the ReLU in one kernel")

local queue = core.env("NN_PROFILE") == "queue"
local by_name = {}
for _, e in ipairs(core.profile(true)) do by_name[e.name] = e end
-- In the queue the device's time is charged once: from one launch's end to the next one's.
local host_wait = by_name["(device idle, waiting for the host)"]
check.ok(not host_wait or queue, "only NN_PROFILE=queue has an entry for the host's time")
by_name["(device idle, waiting for the host)"] = nil
local gemm = by_name["gemm 9x5x7"]
check.eq(gemm and gemm.count, 1, "the profile counts one GEMM, named by its shape M x N x K")
check.eq(by_name.add_relu_bcast and by_name.add_relu_bcast.count, 1, "the profile counts one bias-add-and-ReLU kernel, by its name")
local total = 0
for _, e in pairs(by_name) do
  check.ok(e.seconds > 0, e.name .. " has a time")
  total = total + e.count
end
check.eq(total, launches, "the profile's launches add up to the counter's")
if queue then
  local seconds = 0
  for _, e in pairs(by_name) do seconds = seconds + e.seconds end
  check.ok(seconds <= wall, string.format("the queue's charges (%.6f s) fit in the run's wall time (%.6f s)", seconds, wall))
end
check.eq(#core.profile(), 0, "profile(true) starts the table again")

-- More launches than NN_PROFILE=queue holds pending (1024): the oldest are read on the way, and
-- every launch is still counted and charged once.
local t1 = nn.seconds()
for _ = 1, 600 do model:predict(input) end
local wall_many = nn.seconds() - t1
local count, seconds = 0, 0
for _, e in ipairs(core.profile(true)) do
  if e.name ~= "(device idle, waiting for the host)" then count, seconds = count + e.count, seconds + e.seconds end
end
check.eq(count, 1200, "600 runs of 2 launches are all counted")
check.ok(seconds > 0 and seconds <= wall_many, string.format("their charges (%.4f s) fit in the runs' wall time (%.4f s)", seconds, wall_many))
check.done()
