-- The report's CNNs (task 4): 4x4 convolutions with Keras 'same' padding and ReLU, stride 1 in the
-- first and stride 2 in every later one, no pooling; then Flatten and Dense(10) logits. The report
-- gives only the filter counts; this choice reproduces every parameter count it gives exactly
-- (seed-notes.md), e.g. CNN-1: (4*4*1+1)*32 + (4*4*32+1)*64 + (4*4*64+1)*128 + (7*7*128+1)*10.
local nn = require "nn"

local cnn = {}

cnn.kernel = 4

-- features: the feature map (channels x height x width) that Flatten sees.
cnn.sweep = {
  {name = "CNN-1", filters = {32, 64, 128}, params = 227306, features = "128x7x7"},
  {name = "CNN-2", filters = {64, 128}, params = 383178, features = "128x14x14"},
  {name = "CNN-3", filters = {128, 128, 128}, params = 589450, features = "128x7x7"},
  {name = "CNN-4", filters = {16, 32}, params = 71226, features = "32x14x14"},
  {name = "CNN-5", filters = {32, 64, 128, 256, 512}, params = 2807274, features = "512x2x2"},
}

-- The member of cnn.sweep called name ("CNN-1"), or nil.
function cnn.find(name)
  for _, m in ipairs(cnn.sweep) do
    if m.name == name then return m end
  end
  return nil
end

-- "[32, 64, 128]"
function cnn.architecture(filters) return "[" .. table.concat(filters, ", ") .. "]" end

-- A model with one conv per entry of filters, on (1, 28, 28) images (784 values per sample).
function cnn.build(filters, classes)
  local g = nn.graph()
  local x = g:input("x", {1, 28, 28})
  local h = x
  for i, f in ipairs(filters) do
    h = nn.conv2d(h, f, cnn.kernel, {stride = i == 1 and 1 or 2, padding = "same", activation = "relu"})
  end
  return g:model{inputs = {x}, outputs = {logits = nn.linear(nn.flatten(h), classes or 10)}}
end

return cnn
