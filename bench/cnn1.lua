-- Training-step benchmark of CNN-1 ([32, 64, 128], 227,306 parameters) at batch 128 on the
-- selected device (NN_DEVICE): epoch time, samples/s, GFLOP/s and the GEMMs' share of a step.
--
--   nnrun bench/cnn1.lua [--steps N] [--batch B] [--repeats R] [--no-gemm]
--
-- See bench/step_bench.lua for the method and bench/README.md for figures measured so far.
local cnn = require "models.cnn"
local step_bench = require "bench.step_bench"

step_bench.run{name = "CNN-1", model = cnn.build(cnn.find("CNN-1").filters), argv = arg, default_steps = 10}
