-- nn.optim: optimisers for model:fit. Each is a table of hyperparameters; the update is one fused
-- kernel per parameter tensor (cl/optim.cl). Values can change between epochs (opt.lr = ...)
-- without recompiling anything.
local util = require "nn.util"

local optim = {}

-- The options table of an optimiser, with every given hyperparameter a number (nesterov a boolean).
local function options(o, name)
  if o == nil then return {} end
  if type(o) ~= "table" then util.fail("optim.%s: expected a table of hyperparameters, got %s", name, type(o)) end
  for k, v in pairs(o) do
    if k == "nesterov" then
      if type(v) ~= "boolean" then util.fail("optim.%s: nesterov must be true or false, got %s", name, tostring(v)) end
    elseif type(v) ~= "number" or v ~= v then
      util.fail("optim.%s: %s must be a number, got %s", name, tostring(k), tostring(v))
    end
  end
  if o.lr and o.lr <= 0 then util.fail("optim.%s: lr must be positive, got %g", name, o.lr) end
  return o
end

-- Adam with Keras's defaults (eps 1e-7; PyTorch uses 1e-8).
function optim.adam(o)
  o = options(o, "adam")
  return {kind = "adam", lr = o.lr or 1e-3, beta1 = o.beta1 or 0.9, beta2 = o.beta2 or 0.999,
    eps = o.eps or 1e-7, weight_decay = o.weight_decay or 0}
end

-- SGD with optional momentum, Nesterov momentum and L2 weight decay.
function optim.sgd(o)
  o = options(o, "sgd")
  return {kind = "sgd", lr = o.lr or 0.01, momentum = o.momentum or 0, nesterov = o.nesterov or false,
    weight_decay = o.weight_decay or 0}
end

function optim.describe(o)
  if o.kind == "adam" then
    return string.format("Adam (lr %g, beta1 %g, beta2 %g, eps %g)", o.lr, o.beta1, o.beta2, o.eps)
  end
  return string.format("SGD (lr %g, momentum %g%s)", o.lr, o.momentum, o.nesterov and ", Nesterov" or "")
end

return optim
