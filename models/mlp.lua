-- The report's MLPs (task 3): dense ReLU layers on the 784 pixels, then Dense(10) logits.
-- Parameter counts match the report exactly (seed-notes.md).
local nn = require "nn"

local mlp = {}

mlp.sweep = {
  {name = "MLP-1", hidden = {1000, 1000}, params = 1796010},
  {name = "MLP-2", hidden = {1000, 1000, 1000}, params = 2797010},
  {name = "MLP-3", hidden = {1000, 1000, 1000, 1000, 1000}, params = 4799010},
  {name = "MLP-4", hidden = {500, 500, 500, 500, 500, 500, 500}, params = 1900510},
  {name = "MLP-5", hidden = {500, 500, 500, 500, 500, 500, 500, 500, 500}, params = 2401510},
}

-- A model with the given hidden layer widths.
function mlp.build(hidden, classes)
  local g = nn.graph()
  local x = g:input("x", {784})
  local h = x
  for _, n in ipairs(hidden) do h = nn.linear(h, n, {activation = "relu"}) end
  return g:model{inputs = {x}, outputs = {logits = nn.linear(h, classes or 10)}}
end

return mlp
