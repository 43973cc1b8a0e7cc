-- bench.step_bench: times training steps of a model on MNIST, as bench/cnn1.lua and bench/mlp1.lua
-- run it. A step is what model:fit does per batch: gather the batch on the device, forward,
-- backward, Adam update, accumulate loss and accuracy.
--
--   nnrun bench/cnn1.lua [--steps N] [--batch B] [--repeats R] [--no-gemm] [--optimizer adam|sgd]
--
-- --optimizer sgd (plain SGD, lr 1e-3) in place of Adam (lr 1e-3): the difference between the two
-- step times is what Adam's extra state (two moments read and written) costs inside a step, where
-- NN_PROFILE=1 times each launch alone.
--
-- Method: one epoch of N steps warms up (kernel builds, the plan, the data upload, the host GEMM
-- library's threads), then R more epochs of the same N steps are timed; fit's epoch time (train_seconds)
-- ends with a read of the device's accumulators, so it covers all the queued work. The best
-- epoch gives the figures, the spread shows how much else the machine was doing.
--
-- FLOPs count the GEMMs' multiply-adds (2 FLOPs each) of every Conv2D and Dense layer: forward
-- (2 * MACs), weight gradient (2 * MACs) and input gradient (2 * MACs, except the first layer,
-- whose input needs none). Convolutions count the MACs their im2col GEMM does, padding included.
-- Bias adds, ReLU, loss, im2col and Adam are work too, but not FLOPs here.
--
-- GEMM share: the same GEMMs (M, N, K of each layer's forward, input- and weight-gradient
-- products) are run alone, as matmul nodes of a graph through the same GEMM engine, and timed.
-- Their time over the step time is the share of a step the GEMMs take when run on their own.
-- Convolutions split their GEMMs into chunks of images (src/ops/nn_ops_conv.c); here each is one
-- GEMM over the whole batch, and the GEMMs' operand layouts are transposed: close, not identical.
-- Where oneDNN runs the convolutions directly (src/ops/nn_ops_onednn.c), these GEMMs are what
-- im2col would run: a yardstick for the device's rate, not parts of the step.
local nn = require "nn"
local core = require "nn._core"

local M = {}

M.options = {steps = "number", batch = "number", repeats = "number", seed = "number", no_gemm = "flag",
  optimizer = "string"}
local optimizers = {adam = nn.optim.adam, sgd = nn.optim.sgd}

-- Layer shapes of a model's GEMMs at batch b: {name, kind, rows, inner, cols} per layer, where
-- the forward product is (rows, inner) x (inner, cols).
function M.gemm_shapes(model, b)
  local out = {}
  for _, l in ipairs(model.graph.layers) do
    local w = l.params[1] and l.params[1]:info().shape
    if l.kind == "Conv2D" then
      local y = l.output:info().shape -- (?, oc, oh, ow)
      out[#out + 1] = {name = l.name, kind = l.kind, rows = b * y[3] * y[4], inner = w[2] * w[3] * w[4], cols = w[1]}
    elseif l.kind == "Dense" then
      out[#out + 1] = {name = l.name, kind = l.kind, rows = b, inner = w[1], cols = w[2]}
    end
  end
  return out
end

-- FLOPs of one training step and of one forward pass at batch b.
function M.flops(model, b)
  local train, forward = 0, 0
  for i, s in ipairs(M.gemm_shapes(model, b)) do
    local f = 2 * s.rows * s.inner * s.cols
    forward = forward + f
    train = train + (i == 1 and 2 or 3) * f
  end
  return train, forward
end

local function median(xs)
  local t = {table.unpack(xs)}
  table.sort(t)
  local n = #t
  return n % 2 == 1 and t[(n + 1) // 2] or (t[n // 2] + t[n // 2 + 1]) / 2
end

-- Seconds the GEMMs of one training step take when run alone (see the header): per layer, the
-- best of 3 trials of `runs` runs. Also returns their CPU time (see run).
local function gemm_seconds(model, b, runs)
  local total, total_cpu = 0, 0
  for i, s in ipairs(M.gemm_shapes(model, b)) do
    local g = nn.graph()
    local a = g:input("a", {s.inner})
    local d = g:input("d", {s.cols})
    local nodes = {nn.matmul(a, g:param("w", {s.inner, s.cols})),        -- forward
      nn.matmul(a, d, {transpose_a = true})}                                -- weight gradient
    if i > 1 then nodes[3] = nn.matmul(d, g:param("wt", {s.cols, s.inner})) end -- input gradient
    local m = g:model{inputs = {a, d}, outputs = {y = nodes[1]}}
    m:init(1)
    local ids = {}
    for k, nd in ipairs(nodes) do ids[k] = nd.id end
    local p = m.c:plan(ids, s.rows, false)
    p:write(a.id, nn.zeros({s.rows, s.inner}))
    p:write(d.id, nn.zeros({s.rows, s.cols}))
    p:run(s.rows)
    p:read(nodes[2].id) -- waits for the warm-up run
    local best, best_cpu
    for _ = 1, 3 do
      local t0, c0 = nn.seconds(), os.clock()
      for _ = 1, runs do p:run(s.rows) end
      p:read(nodes[2].id)
      local dt = (nn.seconds() - t0) / runs
      if not best or dt < best then best, best_cpu = dt, (os.clock() - c0) / runs end
    end
    total, total_cpu = total + best, total_cpu + best_cpu
  end
  return total, total_cpu
end

-- The per-kernel table NN_PROFILE records: each kernel's launches and time per step, largest
-- first. NN_PROFILE=1 waits for every launch, so its total is above the step time measured
-- without it; NN_PROFILE=queue charges each launch its share of the running queue, so the total
-- is the step's device time.
function M.print_profile(profile, steps)
  table.sort(profile, function(a, b) return a.seconds > b.seconds end)
  local total = 0
  for _, e in ipairs(profile) do total = total + e.seconds end
  local how = core.env("NN_PROFILE") == "queue" and "NN_PROFILE=queue: each launch timed in the running queue, from the end of the one before"
    or "NN_PROFILE=1: each launch timed alone"
  print(string.format("  per kernel (%s; %.1f ms per step in all)", how, total / steps * 1e3))
  print("    | kernel | launches per step | ms per step | share |")
  print("    |---|---:|---:|---:|")
  local gemm = 0
  for _, e in ipairs(profile) do
    print(string.format("    | %s | %.0f | %.3f | %.1f%% |", e.name, e.count / steps, e.seconds / steps * 1e3,
      100 * e.seconds / total))
    -- The products: GEMMs, and the convolutions oneDNN runs directly (not its layout conversions).
    if e.name:find("^gemm ") or e.name:find("^onednn conv ") then gemm = gemm + e.seconds end
  end
  if core.env("NN_PROFILE") == "queue" then
    -- The share issue 10 asks about, from the step itself rather than from GEMMs run alone.
    print(string.format("  in the queue         GEMMs and direct convolutions %.1f ms per step (%.0f%%), the rest %.1f ms (%.0f%%)", gemm / steps * 1e3,
      100 * gemm / total, (total - gemm) / steps * 1e3, 100 * (total - gemm) / total))
  end
end

-- run{name, model, argv, default_steps} -> figures (also printed).
function M.run(opts)
  local args = nn.util.args(opts.argv or {}, M.options)
  local steps, b, repeats = args.steps or opts.default_steps or 10, args.batch or 128, args.repeats or 2
  if steps < 1 or repeats < 1 or b < 1 then error("--steps, --batch and --repeats must be at least 1", 0) end
  local optimizer = args.optimizer or "adam"
  if not optimizers[optimizer] then error(string.format("--optimizer %s: use adam or sgd", optimizer), 0) end
  local model = opts.model
  local device = nn.device()
  local data = nn.data.mnist()
  local epoch_images = data.train.n
  local ds = data.train:subset(math.min(steps * b, data.train.n), args.seed or 1)
  steps = (ds.n + b - 1) // b
  io.stderr:write(string.format("%s: %d parameters, batch %d, %s, %d steps: 1 warm-up epoch, %d timed\n", opts.name,
    model:param_count(), b, optimizer, steps, repeats))
  -- os.clock() is the process's CPU time, every thread included: on a CPU device it shows how
  -- much of the machine the run had (the rest went to other processes).
  local cpu, last = {}, os.clock()
  local launches0
  local history = model:fit(ds, {epochs = 1 + repeats, batch = b, seed = args.seed or 1, verbose = false,
    optimizer = optimizers[optimizer]{lr = 1e-3}, on_epoch = function(h)
      local now = os.clock()
      cpu[h.epoch], last = now - last, now
      -- Launches and kernel times are counted over the timed epochs only.
      if h.epoch == 1 then
        launches0 = core.stats().launches
        core.profile(true)
      end
    end})
  local launches = (core.stats().launches - launches0) / (steps * repeats)
  local profile = core.profile(true)
  local times, best = {}, 2
  for e = 2, #history do
    times[#times + 1] = history[e].train_seconds / steps
    if history[e].train_seconds < history[best].train_seconds then best = e end
  end
  local step_s = history[best].train_seconds / steps
  local train_flops, forward_flops = M.flops(model, b)
  local r = {name = opts.name, params = model:param_count(), batch = b, optimizer = optimizer, steps = steps, repeats = repeats,
    device = device.name, gemm = device.gemm, step_s = step_s, step_median_s = median(times),
    epoch_s = step_s * ((epoch_images + b - 1) // b), samples_per_s = b / step_s,
    step_cpu_s = cpu[best] / steps, step_gflop = train_flops / 1e9, forward_gflop = forward_flops / 1e9, gflops = train_flops / step_s / 1e9}
  if not args.no_gemm then
    r.gemm_s, r.gemm_cpu_s = gemm_seconds(model, b, steps)
    r.gemm_share = r.gemm_s / step_s
    r.gemm_gflops = train_flops / r.gemm_s / 1e9
  end
  print(string.format("%s on %s (GEMM engine %s), %s", opts.name, r.device, r.gemm or "?", os.date("!%Y-%m-%d %H:%M UTC")))
  print(string.format("  parameters           %s", nn.util.commas(r.params)))
  print(string.format("  step (batch %d)     %.1f ms best, %.1f ms median of %d epochs of %d steps (%s)", b,
    step_s * 1e3, r.step_median_s * 1e3, repeats, steps, optimizer))
  print(string.format("  CPU time per step    %.1f ms (process, all threads): %.2f cores busy on average",
    r.step_cpu_s * 1e3, r.step_cpu_s / step_s))
  if device.type == "CPU" then
    -- The time the step would take if the run had every core to itself, on a shared machine.
    r.idle_step_s = r.step_cpu_s / device.compute_units
    r.idle_epoch_s = r.idle_step_s * ((epoch_images + b - 1) // b)
    print(string.format("  CPU rate             %.1f GFLOP per CPU second; with all %d cores: ~%.0f ms per step, ~%.0f s per epoch (estimate)",
      train_flops / 1e9 / r.step_cpu_s, device.compute_units, r.idle_step_s * 1e3, r.idle_epoch_s))
  end
  print(string.format("  epoch (%d images) %.1f s, extrapolated from the best", epoch_images, r.epoch_s))
  print(string.format("  throughput           %.0f samples/s", r.samples_per_s))
  print(string.format("  FLOPs per step       %.2f GFLOP (forward %.2f GFLOP)", r.step_gflop, r.forward_gflop))
  print(string.format("  compute rate         %.1f GFLOP/s", r.gflops))
  r.launches = launches
  print(string.format("  launches per step    %.0f (kernels and GEMMs; %.1f us of step time each)", launches,
    step_s / launches * 1e6))
  if #profile > 0 then M.print_profile(profile, steps * repeats) end
  if r.gemm_s then
    print(string.format("  GEMMs alone          %.1f ms per step (%.1f GFLOP/s): %.0f%% of the step; the rest %.1f ms",
      r.gemm_s * 1e3, r.gemm_gflops, 100 * r.gemm_share, (step_s - r.gemm_s) * 1e3))
    print(string.format("  GEMMs alone, CPU     %.1f ms per step: %.0f%% of the step's CPU time", r.gemm_cpu_s * 1e3,
      100 * r.gemm_cpu_s / r.step_cpu_s))
  end
  return r
end

return M
