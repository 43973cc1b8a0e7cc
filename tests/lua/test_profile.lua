-- Launch accounting (run with NN_PROFILE=1, see tests/lua/meson.build): every kernel and GEMM is
-- counted, and the profile names each with its launches and a time.
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
local before = core.stats().launches
model:predict(input)
local launches = core.stats().launches - before
check.eq(launches, 3, "a dense layer with ReLU is 3 launches: the GEMM, the bias add, the ReLU")

local by_name = {}
for _, e in ipairs(core.profile(true)) do by_name[e.name] = e end
local gemm = by_name["gemm 9x5x7"]
check.eq(gemm and gemm.count, 1, "the profile counts one GEMM, named by its shape M x N x K")
check.eq(by_name.unary_relu and by_name.unary_relu.count, 1, "the profile counts one ReLU kernel, by its name")
local total = 0
for _, e in pairs(by_name) do
  check.ok(e.seconds > 0, e.name .. " has a time")
  total = total + e.count
end
check.eq(total, launches, "the profile's launches add up to the counter's")
check.eq(#core.profile(), 0, "profile(true) starts the table again")
check.done()
