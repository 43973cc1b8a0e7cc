-- nn.experiment: what the report's classifier sweeps (MLPs, CNNs) share: the data subsets for
-- quick runs, training one member and measuring it, and drawing its learning curves.
local nn = require "nn"

local experiment = {}

-- train, test of a data set pair; with --subset N a seeded N training images and N/6 (at least
-- 100) test images, so quick runs keep the usual train:test proportion.
function experiment.subsets(data, subset, seed)
  local train, test = data.train, data.test
  if subset then
    train = train:subset(subset, seed)
    test = test:subset(math.min(test.n, math.max(subset // 6, 100)), seed)
  end
  return train, test
end

-- Trains a sweep member's model with Adam (and the member's lr_schedule, if any) and measures it,
-- as the report's tables need. The final weights are kept as <dir>/<member>.weights (task 5 reads
-- CNN-1's).
function experiment.train_classifier(model, member, ctx, train, test)
  local device = nn.device()
  local history = model:fit(train, {loss = nn.loss.cross_entropy, optimizer = nn.optim.adam{lr = member.lr},
    lr_schedule = member.lr_schedule, epochs = member.epochs, batch = member.batch, validation = test, seed = member.seed,
    checkpoint = ctx.checkpoint, label = member.name})
  local seconds = 0
  for _, h in ipairs(history) do seconds = seconds + h.train_seconds end
  model:save(string.format("%s/%s.weights", ctx.dir, member.name))
  -- Final numbers on the whole training and test sets, in evaluation mode.
  local tr, te = model:evaluate(train), model:evaluate(test)
  return {params = model:param_count(), train_accuracy = tr.accuracy, train_loss = tr.loss,
    test_accuracy = te.accuracy, test_loss = te.loss, seconds = seconds, epochs = member.epochs,
    train_images = train.n, device = device.name, gemm = device.gemm, history = history}
end

-- Per model, a figure of accuracy and loss (train and test) per epoch and its history as CSV;
-- then every model's test accuracy in one figure. models[i] = {name =, title =}.
function experiment.curves(report, dir, models, results, what)
  local overlay = {}
  for i, r in ipairs(results) do
    local m = models[i]
    if r.history then
      local epochs, acc, val_acc, loss, val_loss, rows = {}, {}, {}, {}, {}, {}
      for e, h in ipairs(r.history) do
        epochs[e], acc[e], val_acc[e], loss[e], val_loss[e] = h.epoch, h.accuracy, h.val_accuracy, h.loss, h.val_loss
        rows[e] = {h.epoch, h.loss, h.accuracy, h.val_loss, h.val_accuracy, h.train_seconds}
      end
      local fig = nn.plot.figure{cols = 2, title = m.title}
      fig:panel(1):line{series = {{name = "train", x = epochs, y = acc}, {name = "test", x = epochs, y = val_acc}},
        xlabel = "epoch", ylabel = "accuracy", title = "Accuracy"}
      fig:panel(2):line{series = {{name = "train", x = epochs, y = loss}, {name = "test", x = epochs, y = val_loss}},
        xlabel = "epoch", ylabel = "loss", title = "Loss"}
      report:figure(fig:save(dir .. "/" .. m.name .. "_curves.png"), m.name .. " learning curves")
      overlay[#overlay + 1] = {name = m.name, x = epochs, y = val_acc}
      report:table{name = m.name .. "_history", columns = {"epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds"},
        rows = rows, csv_only = true, caption = m.name .. " per-epoch history"}
    end
  end
  if #overlay > 0 then
    local fig = nn.plot.figure{title = "Test accuracy of every " .. what}
    fig:panel(1):line{series = overlay, xlabel = "epoch", ylabel = "test accuracy"}
    report:figure(fig:save(dir .. "/test_accuracy.png"), "Test accuracy per epoch, all models")
  end
end

-- "device X with GEMM engine Y", or per model when stored results came from several machines.
function experiment.machines(results, names)
  local order, models = {}, {}
  for i, r in ipairs(results) do
    local where = r.device and string.format("%s with GEMM engine '%s'", r.device, r.gemm or "?") or "an unrecorded device"
    if not models[where] then
      models[where] = {}
      order[#order + 1] = where
    end
    table.insert(models[where], names[i])
  end
  if #order == 1 then return order[1] end
  local parts = {}
  for _, where in ipairs(order) do parts[#parts + 1] = where .. " (" .. table.concat(models[where], ", ") .. ")" end
  return table.concat(parts, "; ")
end

return experiment
