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

-- ---- learning-rate schedules (fit{lr_schedule = ...}) ----
-- A schedule is a table of numbers, so a checkpoint can tell whether a resumed run has the same
-- one. The lr of an epoch is the optimiser's lr times the schedule's factor for that epoch.

-- Cosine decay over the run (Keras's CosineDecay, taken at the start of each epoch): the factor
-- is 1 in the first epoch and follows half a cosine towards alpha, reached where the run ends.
function optim.cosine(o)
  o = options(o, "cosine")
  local alpha = o.alpha or 0
  if alpha < 0 or alpha > 1 then util.fail("optim.cosine: alpha must be in [0, 1], got %g", alpha) end
  return {kind = "cosine", alpha = alpha}
end

-- Step decay (PyTorch's StepLR): the factor is multiplied by gamma every `every` epochs.
function optim.step_decay(o)
  o = options(o, "step_decay")
  local every, gamma = o.every, o.gamma or 0.1
  if math.type(every) ~= "integer" or every < 1 then util.fail("optim.step_decay: every must be a positive integer") end
  if gamma <= 0 or gamma > 1 then util.fail("optim.step_decay: gamma must be in (0, 1], got %g", gamma) end
  return {kind = "step_decay", every = every, gamma = gamma}
end

-- The lr factor of epoch (1-based) of epochs under schedule (nil: constant 1).
function optim.lr_factor(schedule, epoch, epochs)
  if schedule == nil then return 1 end
  if schedule.kind == "cosine" then
    local progress = (epoch - 1) / epochs
    return schedule.alpha + (1 - schedule.alpha) * 0.5 * (1 + math.cos(math.pi * progress))
  elseif schedule.kind == "step_decay" then
    return schedule.gamma ^ ((epoch - 1) // schedule.every)
  end
  util.fail("lr_schedule must be nn.optim.cosine{...} or nn.optim.step_decay{...}, got %s", tostring(schedule.kind or schedule))
end

function optim.describe_schedule(s)
  if s == nil then return "constant learning rate" end
  if s.kind == "cosine" then return string.format("the learning rate decayed per epoch along half a cosine towards %g of it at the end", s.alpha) end
  return string.format("learning rate times %g every %d epochs", s.gamma, s.every)
end

function optim.describe(o)
  if o.kind == "adam" then
    return string.format("Adam (lr %g, beta1 %g, beta2 %g, eps %g)", o.lr, o.beta1, o.beta2, o.eps)
  end
  return string.format("SGD (lr %g, momentum %g%s)", o.lr, o.momentum, o.nesterov and ", Nesterov" or "")
end

return optim
