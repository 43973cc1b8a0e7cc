-- Report task 3: the five MLPs on MNIST, 20 epochs each, with the report's numbers beside ours.
--
--   nnrun experiments/mlp_sweep.lua [--epochs N] [--subset N] [--batch B] [--seed S] [--fresh]
--
-- Writes results/mlp_sweep/: README.md (table, learning curves), results.csv, one history CSV per
-- model. Finished models are kept: a re-run after an interruption continues where it stopped.
local nn = require "nn"
local mlp = require "models.mlp"

local args = nn.util.args(arg, {epochs = "number", subset = "number", batch = "number", seed = "number",
  fresh = "flag", lr = "number"})
local epochs, batch, seed, lr = args.epochs or 20, args.batch or 128, args.seed or 1, args.lr or 1e-3

-- The seed report's table (task 3).
local SEED = {
  ["MLP-1"] = {["Train accuracy"] = 0.9919, ["Test accuracy"] = 0.9544, ["Train loss"] = 0.0383, ["Test loss"] = 0.2104, ["Training time (s)"] = 41.07},
  ["MLP-2"] = {["Train accuracy"] = 0.9838, ["Test accuracy"] = 0.9514, ["Train loss"] = 0.0565, ["Test loss"] = 0.2133, ["Training time (s)"] = 63.43},
  ["MLP-3"] = {["Train accuracy"] = 0.9911, ["Test accuracy"] = 0.9614, ["Train loss"] = 0.0864, ["Test loss"] = 0.2222, ["Training time (s)"] = 100.95},
  ["MLP-4"] = {["Train accuracy"] = 0.9856, ["Test accuracy"] = 0.9533, ["Train loss"] = 0.0878, ["Test loss"] = 0.2233, ["Training time (s)"] = 86.08},
  ["MLP-5"] = {["Train accuracy"] = 0.9538, ["Test accuracy"] = 0.9274, ["Train loss"] = 0.0856, ["Test loss"] = 0.3235, ["Training time (s)"] = 103.04},
}

local train, test = nn.experiment.subsets(nn.data.mnist(), args.subset, seed)
local dir = "results/mlp_sweep"
local report = nn.report.new{name = "mlp_sweep", title = "Task 3: multi-layer perceptrons on MNIST", seed = seed, dir = dir}

local members = {}
for i, m in ipairs(mlp.sweep) do
  members[i] = {name = m.name, hidden = m.hidden, epochs = epochs, batch = batch, seed = seed, lr = lr,
    train = train.name, test = test.name}
end

local results = nn.sweep.run{name = "mlp_sweep", dir = dir, members = members, fresh = args.fresh,
  run = function(member, ctx)
    local model = mlp.build(member.hidden)
    if ctx.index == 1 then model:summary{batch = batch} end
    return nn.experiment.train_classifier(model, member, ctx, train, test)
  end}

-- ---- report ----

local names = {}
for i, m in ipairs(mlp.sweep) do names[i] = m.name end
report:text(string.format([[
Five fully connected networks (ReLU hidden layers, Dense(10) logits, Keras's Glorot-uniform
initialisation) trained on the %s training images with Adam (lr %g), batch %d, %d epochs, and
evaluated on %s test images. Pixels are scaled to [0, 1]. Train and test accuracy and loss are
measured after training, over the whole sets, in evaluation mode. Training time is the sum of the
epochs' training time (validation excluded), on %s; the seed report's times are Keras on a Colab GPU.]],
  nn.util.commas(train.n), lr, batch, epochs, nn.util.commas(test.n), nn.experiment.machines(results, names)))

local rows = {}
for i, r in ipairs(results) do
  local m = mlp.sweep[i]
  local arch = "[" .. table.concat(m.hidden, ", ") .. "]"
  rows[i] = {m.name, arch, #m.hidden, r.params, r.train_accuracy, r.test_accuracy, r.train_loss, r.test_loss, r.seconds}
  if r.params ~= m.params then
    error(string.format("%s has %d parameters; the report's architecture has %d", m.name, r.params, m.params))
  end
end
report:table{name = "results", key = "MLP",
  columns = {"MLP", "Architecture", "Hidden layers", "Parameters",
    {name = "Train accuracy", format = "%.4f"}, {name = "Test accuracy", format = "%.4f"},
    {name = "Train loss", format = "%.4f"}, {name = "Test loss", format = "%.4f"},
    {name = "Training time (s)", format = "%.2f"}},
  rows = rows, seed = SEED}

local models = {}
for i, m in ipairs(mlp.sweep) do models[i] = {name = m.name, title = m.name .. " [" .. table.concat(m.hidden, ", ") .. "]"} end
nn.experiment.curves(report, dir, models, results, "MLP")
report:write()
print("wrote " .. dir .. "/README.md")
