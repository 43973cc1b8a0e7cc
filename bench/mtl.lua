-- Bench: one training epoch of the task-6 multi-task model (models/mtl.lua: the shared trunk and
-- both heads, 26,395,689 parameters, loss λ·loss_item + (1 − λ)·loss_group) on the selected
-- device (NN_DEVICE, NN_GEMM), then one pass of evaluation.
--
--   [NN_PROFILE=1] nnrun bench/mtl.lua [--samples N] [--batch B] [--lambda L]
--
-- --samples N times N Fashion-MNIST training images instead of all 60,000 and projects the time of
-- a full epoch from it (slow devices). One training step runs first, so building the plans and
-- kernels is not in the timings (nor is a first evaluation). Prints time per epoch and samples/s.
local nn = require "nn"
local core = require "nn._core"
local mtl = require "models.mtl"
local step_bench = require "bench.step_bench"

local args = nn.util.args(arg, {samples = "number", batch = "number", lambda = "number"})
local batch = args.batch or 128
local data = nn.data.fashion_mnist()
local groups = mtl.groups({
  {name = "shoes", classes = {"Sandal", "Sneaker", "Ankle boot"}},
  {name = "gendered", classes = {"Dress", "Shirt", "Bag"}},
  {name = "unisex", classes = {"T-shirt/top", "Trouser", "Pullover", "Coat"}},
}, data.classes)
local full = data.train.n
local n = math.min(args.samples or full, full)
local train = n < full and data.train:subset(n, 1) or data.train
local test = data.test:subset(math.min(data.test.n, math.max(n // 6, batch)), 1)
local warm = data.train:subset(batch, 2)
for _, ds in ipairs{train, test, warm} do mtl.add_groups(ds, groups) end

local model = mtl.build{lambda = args.lambda or 0.5}
local device = nn.device()
print(string.format("device: %s (%s), GEMM: %s", device.name, device.type or "?", device.gemm or "?"))
print(string.format("model: MTL, %s parameters; batch %d; Adam", nn.util.commas(model:param_count()), batch))

local t0 = nn.seconds()
model:fit(warm, mtl.fit_options(model, {epochs = 1, batch = batch, verbose = false}))
model:evaluate(warm, mtl.fit_options(model, {batch = batch}))
print(string.format("warm-up (plans, kernels, first step): %.2f s", nn.seconds() - t0))

core.profile(true)
local launches0 = core.stats().launches
local h = model:fit(train, mtl.fit_options(model, {epochs = 1, batch = batch, seed = 1, label = "bench"}))[1]
local steps = (train.n + batch - 1) // batch
local profile = core.profile(true)
print(string.format("launches per step: %.0f (kernels and GEMMs)", (core.stats().launches - launches0) / steps))
if #profile > 0 then step_bench.print_profile(profile, steps) end
local seconds = h.train_seconds
local rate = train.n / seconds
if n < full then
  print(string.format("train: %d samples in %.2f s, %.1f samples/s; one epoch of %d: %s (projected)", train.n, seconds,
    rate, full, nn.util.duration(full / rate)))
else
  print(string.format("train: one epoch of %d samples in %.2f s, %.1f samples/s", train.n, seconds, rate))
end

t0 = nn.seconds()
model:evaluate(test, mtl.fit_options(model, {batch = batch}))
t0 = nn.seconds() - t0
print(string.format("evaluate: %d samples in %.2f s, %.1f samples/s", test.n, t0, test.n / t0))
