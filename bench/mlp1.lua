-- Training-step benchmark of MLP-1 ([1000, 1000], 1,796,010 parameters) at batch 128 on the
-- selected device (NN_DEVICE): epoch time, samples/s, GFLOP/s and the GEMMs' share of a step.
--
--   nnrun bench/mlp1.lua [--steps N] [--batch B] [--repeats R] [--no-gemm]
--
-- See bench/step_bench.lua for the method and bench/README.md for figures measured so far.
local mlp = require "models.mlp"
local step_bench = require "bench.step_bench"

step_bench.run{name = "MLP-1", model = mlp.build(mlp.sweep[1].hidden), argv = arg, default_steps = 50}
