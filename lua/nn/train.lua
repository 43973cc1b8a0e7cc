-- nn.train: models made from graphs, and how they train (fit), evaluate, predict and show their
-- insides (activations, input gradients).
--
-- A training step is enqueued without waiting for the device: gather the batch from the data set
-- held on the device, run forward and backward, update every parameter with one fused kernel
-- each, and add the batch's loss and correct count to accumulators on the device. The host reads
-- the accumulators only to draw progress (twice a second on a terminal) and at the end of an epoch.
local C = require "nn._graph"
local core = require "nn._core"
local data_c = require "nn._data"
local tensor = require "nn._tensor"
local graph = require "nn.graph"
local loss_lib = require "nn.loss"
local optim_lib = require "nn.optim"
local util = require "nn.util"

local M = {}

-- Put before every progress line: experiments/report.lua sets "[task 3/6] " so one display
-- covers the whole run.
M.progress_prefix = ""

local Model = {}
Model.__index = Model

function M.model(g, inputs, outputs, names)
  local m = setmetatable({graph = g, c = C.model(g.c), inputs = inputs, outputs = outputs, output_names = names,
    plans = {}, trainers = {}, labels = {}, initialized = false}, Model)
  return m
end

-- ---- parameters ----

-- Trainable parameter nodes, in creation order (not running statistics, which are saved with them).
function Model:params()
  local out = {}
  for id = 0, self.graph.c:count() - 1 do
    local info = self.graph.c:node(id)
    if info.op == "param" and info.trainable then out[#out + 1] = graph.node_of(self.graph, id) end
  end
  return out
end

function Model:param_count() return self.graph:param_count() end

-- Draws every parameter from its initialiser (Keras defaults), seeded.
function Model:init(seed)
  self.c:init(seed or 0)
  self.initialized = true
end

local function ensure_init(m)
  if not m.initialized then m:init(0) end
end

-- Host copy of a parameter (node or name).
function Model:param(p)
  ensure_init(self)
  if type(p) == "string" then
    local found = self.graph:find(p)
    if not found then util.fail("no parameter named '%s'", p) end
    p = found
  end
  return self.c:read_param(p.id)
end

function Model:set_param(p, values)
  ensure_init(self)
  self.c:write_param(p.id, values)
end

-- ---- data on the device ----

-- Data sets are uploaded once (images as bytes) and kept while the dataset object lives.
local uploaded = setmetatable({}, {__mode = "k"})

local function device_data(ds)
  local d = uploaded[ds]
  if not d then
    d = {columns = {}}
    uploaded[ds] = d
  end
  return d
end

local function column(ds, field)
  local d = device_data(ds)
  if not d.columns[field] then
    local t = ds[field]
    if not tensor.is(t) then util.fail("data set '%s' has no field '%s' (a tensor with one row per sample)", tostring(ds.name), field) end
    if #t ~= ds.n then util.fail("data set '%s': field '%s' has %d rows, the data set %d", tostring(ds.name), field, #t, ds.n) end
    d.columns[field] = C.upload(t, string.format("%s %s", ds.name or "data", field))
  end
  return d.columns[field]
end

-- 0, 1, ..., n-1 on the device: evaluation goes through the data in order.
local function identity_index(ds)
  local d = device_data(ds)
  if not d.identity then
    local t = tensor.new({ds.n}, "int32")
    for i = 1, ds.n do t:set(i - 1, i) end
    d.identity = C.upload(t, "index")
  end
  return d.identity
end

local function check_dataset(ds, what)
  if type(ds) ~= "table" or not tensor.is(ds.images) or type(ds.n) ~= "number" then
    util.fail("%s: expected a data set (from nn.data), got %s", what, type(ds))
  end
end

-- ---- losses and plans ----

-- Normalises fit's loss options into a list of {output, fn, weight, label_field}.
local function loss_terms(m, opts)
  local spec, terms = opts.loss or loss_lib.cross_entropy, {}
  local weights = opts.loss_weights or {}
  local labels = opts.labels or {}
  local function add(name, fn)
    if not m.outputs[name] then util.fail("fit: loss for '%s', but the model's outputs are %s", name, table.concat(m.output_names, ", ")) end
    if type(fn) ~= "table" or not getmetatable(fn) or fn.name == nil then
      util.fail("fit: the loss for '%s' must be one of nn.loss (cross_entropy, mse)", name)
    end
    local w = weights[name]
    if w == nil then w = 1 end
    if type(w) ~= "number" and not graph.is_node(w) then util.fail("fit: loss weight of '%s' must be a number or a scalar node", name) end
    terms[#terms + 1] = {output = name, fn = fn, weight = w, field = labels[name] or (#m.output_names == 1 and "labels" or name)}
  end
  if getmetatable(spec) then
    if #m.output_names ~= 1 then util.fail("fit: this model has %d outputs; give loss = {name = nn.loss..., ...}", #m.output_names) end
    add(m.output_names[1], spec)
  else
    for _, name in ipairs(m.output_names) do
      if spec[name] then add(name, spec[name]) end
    end
    for name in pairs(spec) do
      if not m.outputs[name] then util.fail("fit: loss for '%s', but the model's outputs are %s", name, table.concat(m.output_names, ", ")) end
    end
  end
  return terms
end

local function weight_key(w) return graph.is_node(w) and ("node" .. w.id) or tostring(w) end

-- The label (or target) input of an output, made once per model.
local function label_input(m, name, fn)
  local key = name .. ":" .. fn.name
  if not m.labels[key] then
    local out = m.outputs[name]
    if fn.classification then
      m.labels[key] = m.graph:input("labels:" .. name, {}, "int32")
    else
      local shape = out:info().shape
      local per = {}
      for i = 2, #shape do per[#per + 1] = shape[i] end
      m.labels[key] = m.graph:input("targets:" .. name, per, "float32")
    end
  end
  return m.labels[key]
end

-- The nodes training needs for a set of loss terms: built once per loss configuration, so a
-- sweep that only changes scalar values (a loss weight) or reinitialises never builds again.
local function trainer(m, terms)
  local parts = {}
  for _, t in ipairs(terms) do parts[#parts + 1] = t.output .. "=" .. t.fn.name .. "*" .. weight_key(t.weight) end
  local key = table.concat(parts, ";")
  if m.trainers[key] then return m.trainers[key] end
  local g = m.graph
  local tr = {key = key, terms = terms, losses = {}, accuracies = {}, label_nodes = {}}
  local total
  for i, t in ipairs(terms) do
    local label = label_input(m, t.output, t.fn)
    tr.label_nodes[i] = label
    local l = t.fn(m.outputs[t.output], label)
    tr.losses[i] = l
    if t.fn.classification then
      tr.accuracies[i] = graph.node_of(g, g.c:accuracy(m.outputs[t.output].id, label.id, nil, util.where()))
    end
    local weighted = l
    if graph.is_node(t.weight) then weighted = t.weight * l
    elseif t.weight ~= 1 then weighted = l * t.weight end
    total = total and (total + weighted) or weighted
  end
  tr.total = total
  tr.params = m:params()
  local ids = {}
  for i, p in ipairs(tr.params) do ids[i] = p.id end
  local grads = g.c:backward(total.id, ids)
  tr.update_params, tr.update_grads = {}, {}
  for i, gid in ipairs(grads) do
    if gid then
      tr.update_params[#tr.update_params + 1] = ids[i]
      tr.update_grads[#tr.update_grads + 1] = gid
    end
  end
  m.trainers[key] = tr
  return tr
end

-- Targets read after a run: total loss, each loss, each accuracy (slots of the accumulators).
local function metric_nodes(tr)
  local nodes = {tr.total}
  for i = 1, #tr.terms do
    nodes[#nodes + 1] = tr.losses[i]
    if tr.accuracies[i] then nodes[#nodes + 1] = tr.accuracies[i] end
  end
  return nodes
end

local function plan(m, key, targets, batch, training)
  local full = string.format("%s|%d|%s", key, batch, training and "train" or "eval")
  if not m.plans[full] then
    ensure_init(m)
    local ids = {}
    for i, t in ipairs(targets) do ids[i] = type(t) == "table" and t.id or t end
    m.plans[full] = m.c:plan(ids, batch, training)
  end
  return m.plans[full]
end

local function train_plan(m, tr, batch)
  local targets = metric_nodes(tr)
  for _, gid in ipairs(tr.update_grads) do targets[#targets + 1] = gid end
  return plan(m, tr.key, targets, batch, true)
end

local function eval_plan(m, tr, batch) return plan(m, tr.key, metric_nodes(tr), batch, false) end

-- ---- feeding ----

local function input_scale(ds, opts)
  if opts.scale then return opts.scale end
  return ds.images:dtype() == "uint8" and 1 / 255 or 1
end

local function check_input_shape(m, ds)
  local x = m.inputs[1]
  local per = x:info().numel
  local got = ds.images:numel() // math.max(ds.n, 1)
  if per ~= got then
    util.fail("input '%s' %s takes %d values per sample; data set '%s' has %d", x:name(), x:shape_string(), per, tostring(ds.name), got)
  end
end

-- Checks labels before they reach the device: a label outside an output's classes is an error
-- here, not a silent wrong loss there.
local function check_labels(m, ds, tr)
  for _, t in ipairs(tr.terms) do
    if t.fn.classification then
      local labels = ds[t.field]
      if not tensor.is(labels) then util.fail("data set '%s' has no labels '%s' for output '%s'", tostring(ds.name), t.field, t.output) end
      local classes = m.outputs[t.output]:info().shape[2]
      local s = labels:stats()
      if s.min < 0 or s.max >= classes then
        util.fail("data set '%s': label %d of '%s' is outside output '%s''s %d classes (0..%d)", tostring(ds.name),
          s.min < 0 and s.min or s.max, t.field, t.output, classes, classes - 1)
      end
    end
  end
end

local function feed(m, p, tr, ds, index, start, n, scale)
  p:feed(m.inputs[1].id, column(ds, "images"), index, start, n, scale)
  for i, t in ipairs(tr.terms) do p:feed(tr.label_nodes[i].id, column(ds, t.field), index, start, n, 1) end
end

-- Accumulator slots: 0 total loss, then per term its loss and (classification) its correct count.
local function accumulate(p, tr, acc, n)
  p:accumulate(tr.total.id, acc, 0, n)
  local slot = 1
  for i = 1, #tr.terms do
    p:accumulate(tr.losses[i].id, acc, slot, n)
    slot = slot + 1
    if tr.accuracies[i] then
      p:accumulate(tr.accuracies[i].id, acc, slot, 1)
      slot = slot + 1
    end
  end
end

-- Turns accumulated sums over `seen` samples into {loss, accuracy, outputs = {name = {...}}}.
local function summarize(tr, sums, seen)
  local r = {loss = sums[1] / seen, outputs = {}}
  local slot = 2
  for i, t in ipairs(tr.terms) do
    local o = {loss = sums[slot] / seen}
    slot = slot + 1
    if tr.accuracies[i] then
      o.accuracy = sums[slot] / seen
      slot = slot + 1
    end
    r.outputs[t.output] = o
  end
  if #tr.terms == 1 then r.accuracy = r.outputs[tr.terms[1].output].accuracy end
  return r
end

local function slots(tr)
  local n = 1
  for i = 1, #tr.terms do n = n + 1 + (tr.accuracies[i] and 1 or 0) end
  return n
end

-- ---- progress ----

local function metrics_text(r, prefix)
  local parts, names = {}, {}
  for name in pairs(r.outputs or {}) do names[#names + 1] = name end
  table.sort(names)
  if #names > 1 then
    parts[#parts + 1] = string.format("%sloss %.4f", prefix, r.loss)
    for _, name in ipairs(names) do
      local o = r.outputs[name]
      parts[#parts + 1] = string.format("%s%s_loss %.4f", prefix, name, o.loss)
      if o.accuracy then parts[#parts + 1] = string.format("%s%s_acc %.4f", prefix, name, o.accuracy) end
    end
  else
    parts[#parts + 1] = string.format("%sloss %.4f", prefix, r.loss)
    if r.accuracy then parts[#parts + 1] = string.format("%sacc %.4f", prefix, r.accuracy) end
  end
  return table.concat(parts, " ")
end

local function progress_bar(label, epoch, epochs, step, steps, rate, r, eta)
  local width = 24
  local done = math.floor(width * step / steps)
  io.stderr:write(string.format("\r\27[K%sepoch %d/%d [%s%s] %d/%d %6.0f samples/s %s ETA %s", label, epoch, epochs,
    string.rep("=", done), string.rep(" ", width - done), step, steps, rate, r and metrics_text(r, "") or "",
    util.duration(eta)))
  io.stderr:flush()
end

-- ---- fit ----

local SYNC_STEPS = 32

-- model:fit(train, {loss, loss_weights, labels, optimizer, lr_schedule, epochs, batch, validation,
--   seed, scale, checkpoint, resume, verbose, label, on_epoch}) -> history
-- history[e] = {epoch, lr, loss, accuracy, val_loss, val_accuracy, outputs, val_outputs, seconds}.
function Model:fit(ds, opts)
  opts = graph.check_options(opts, "fit", "loss loss_weights labels optimizer lr_schedule epochs batch validation seed scale " ..
    "validation_scale checkpoint resume verbose label on_epoch")
  check_dataset(ds, "fit")
  local epochs, batch, seed = opts.epochs or 1, opts.batch or 32, opts.seed or 0
  if math.type(epochs) ~= "integer" or epochs < 0 then util.fail("fit: epochs must be an integer >= 0") end
  if math.type(batch) ~= "integer" or batch < 1 then util.fail("fit: batch must be a positive integer") end
  if ds.n < 1 then util.fail("fit: data set '%s' is empty", tostring(ds.name)) end
  local optimizer = opts.optimizer or optim_lib.adam{}
  if type(optimizer) ~= "table" or (optimizer.kind ~= "adam" and optimizer.kind ~= "sgd") then
    util.fail("fit: optimizer must be nn.optim.adam{...} or nn.optim.sgd{...}, got %s", tostring(optimizer))
  end
  if opts.lr_schedule ~= nil and type(opts.lr_schedule) ~= "table" then
    util.fail("fit: lr_schedule must be nn.optim.cosine{...} or nn.optim.step_decay{...}, got %s", tostring(opts.lr_schedule))
  end
  optim_lib.lr_factor(opts.lr_schedule, 1, epochs)  -- a bad schedule fails before any work
  check_input_shape(self, ds)
  local tr = trainer(self, loss_terms(self, opts))
  check_labels(self, ds, tr)
  if opts.validation then
    check_dataset(opts.validation, "fit validation")
    check_input_shape(self, opts.validation)
    check_labels(self, opts.validation, tr)
  end
  local p = train_plan(self, tr, batch)
  local scale = input_scale(ds, opts)
  local steps = (ds.n + batch - 1) // batch
  local history, first = {}, 1
  -- Scalars (a loss weight λ, a dropout rate) are settings too: a checkpoint written with λ = 0.25
  -- must not resume a run with λ = 0.75.
  local scalars = {}
  for id = 0, self.graph.c:count() - 1 do
    local info = self.graph.c:node(id)
    if info.op == "scalar" then scalars[info.name] = self.graph.c:get_scalar(id) end
  end
  local config = util.serialize{tr.key, epochs, batch, seed, ds.n, ds.name, optimizer, opts.lr_schedule, scalars}
  local first_step, resume_acc = 1, nil

  if opts.checkpoint and opts.resume ~= false and io.open(opts.checkpoint, "rb") then
    local state = util.deserialize(self.c:load(opts.checkpoint))
    if state.config ~= config then
      util.fail("checkpoint '%s' was written by a run with other settings; delete it, or pass resume = false", opts.checkpoint)
    end
    history, first = state.history, state.epoch + 1
    -- A checkpoint written at Ctrl-C holds part of an epoch: the steps done and the metric sums.
    if state.step then first, first_step, resume_acc = state.epoch, state.step + 1, state.acc end
    self.initialized = true
    if first <= epochs then
      io.stderr:write(string.format("nnrun: resuming from '%s' %s\n", opts.checkpoint,
        state.step and string.format("in epoch %d after step %d", state.epoch, state.step) or ("after epoch " .. state.epoch)))
    end
  else
    self:init(seed)
  end

  local index = C.upload(tensor.new({ds.n}, "int32"), "shuffle order")
  local acc = C.zeros(slots(tr))
  local tty, verbose = core.is_tty(2), opts.verbose ~= false
  local label = M.progress_prefix .. (opts.label and (opts.label .. " ") or "")
  -- The first Ctrl-C ends the step, saves a checkpoint and stops; a second one kills at once.
  core.catch_interrupt()
  -- Whatever way the epochs end (finished, Ctrl-C, an error), Ctrl-C is given back afterwards.
  local ok, failure = pcall(function()
    for epoch = first, epochs do
      local t0 = core.seconds()
      -- The optimiser as given stays untouched (it is part of the checkpoint's settings).
      local epoch_optimizer = setmetatable({lr = optimizer.lr * optim_lib.lr_factor(opts.lr_schedule, epoch, epochs)},
        {__index = optimizer})
      index:write(data_c.permutation(ds.n, seed * 100003 + epoch))
      acc:zero()
      if resume_acc and epoch == first then acc:write(tensor.from_table(resume_acc)) end
      local last_draw, r = -math.huge, nil
      for step = epoch == first and first_step or 1, steps do
        local start = (step - 1) * batch
        local n = math.min(batch, ds.n - start)
        feed(self, p, tr, ds, index, start, n, scale)
        p:run(n)
        self.c:optimize(p, tr.update_params, tr.update_grads, epoch_optimizer)
        accumulate(p, tr, acc, n)
        -- Reading the accumulators waits for the device: done every SYNC_STEPS steps, it bounds
        -- the queue and lets the bar show what the device has done, not what the host enqueued.
        if step % SYNC_STEPS == 0 or step == steps then
          r = summarize(tr, acc:read():flat(), start + n)
          local now = core.seconds()
          if verbose and tty and (now - last_draw > 0.25 or step == steps) then
            local rate = (start + n) / math.max(now - t0, 1e-9)
            progress_bar(label, epoch, epochs, step, steps, rate, r, (ds.n - start - n) / rate)
            last_draw = now
          end
        end
        if core.interrupted() then
          if opts.checkpoint then
            self.c:save(opts.checkpoint, util.serialize{config = config, epoch = epoch, step = step,
              acc = acc:read():flat(), history = history})
          end
          util.fail("interrupted (Ctrl-C) in epoch %d after step %d of %d%s", epoch, step, steps,
            opts.checkpoint and string.format("; checkpoint '%s' saved: run again to resume", opts.checkpoint) or "")
        end
      end
      r = summarize(tr, acc:read():flat(), ds.n)
      -- A diverged epoch never replaces a good checkpoint.
      if r.loss ~= r.loss or r.loss == math.huge or r.loss == -math.huge then
        util.fail("fit: epoch %d: the training loss is %s; stopped without writing a checkpoint%s. " ..
          "NN_CHECK=nan names the first node that produces it", epoch, tostring(r.loss),
          opts.checkpoint and string.format(" ('%s' keeps epoch %d)", opts.checkpoint, epoch - 1) or "")
      end
      local h = {epoch = epoch, lr = epoch_optimizer.lr, loss = r.loss, accuracy = r.accuracy, outputs = r.outputs}
      h.train_seconds = core.seconds() - t0
      if opts.validation then
        local v = self:evaluate(opts.validation, {batch = batch, scale = opts.validation_scale or input_scale(opts.validation, opts), _trainer = tr})
        h.val_loss, h.val_accuracy, h.val_outputs = v.loss, v.accuracy, v.outputs
      end
      h.seconds = core.seconds() - t0
      history[#history + 1] = h
      if verbose then
        local line = string.format("%sepoch %d/%d: %s%s (%.1f s, %.0f samples/s)", label, epoch, epochs, metrics_text(r, ""),
          h.val_loss and (", " .. metrics_text({loss = h.val_loss, accuracy = h.val_accuracy, outputs = h.val_outputs}, "val_")) or "",
          h.seconds, ds.n / h.train_seconds)
        if tty then io.stderr:write("\r\27[K" .. line .. "\n") else print(line) end
      end
      if opts.checkpoint then
        self.c:save(opts.checkpoint, util.serialize{config = config, epoch = epoch, history = history})
      end
      if opts.on_epoch then opts.on_epoch(h, self) end
    end
  end)
  core.catch_interrupt(false)
  if not ok then error(failure, 0) end
  return history
end

-- ---- evaluate, predict, activations, gradients ----

-- model:evaluate(ds, {loss, loss_weights, labels, batch, scale}) -> {loss, accuracy, outputs = {name = {loss, accuracy}}}
-- With the loss options fit had, evaluate reuses fit's nodes and reports the same weighted total.
function Model:evaluate(ds, opts)
  opts = graph.check_options(opts, "evaluate", "loss loss_weights labels batch scale _trainer")
  check_dataset(ds, "evaluate")
  check_input_shape(self, ds)
  local tr = opts._trainer or trainer(self, loss_terms(self, opts))
  if not opts._trainer then check_labels(self, ds, tr) end
  local batch = opts.batch or 256
  if math.type(batch) ~= "integer" or batch < 1 then util.fail("evaluate: batch must be a positive integer") end
  if ds.n < 1 then util.fail("evaluate: data set '%s' is empty", tostring(ds.name)) end
  local p = eval_plan(self, tr, batch)
  local acc = C.zeros(slots(tr))
  local index = identity_index(ds)
  local scale = opts.scale or input_scale(ds, opts)
  for start = 0, ds.n - 1, batch do
    local n = math.min(batch, ds.n - start)
    feed(self, p, tr, ds, index, start, n, scale)
    p:run(n)
    accumulate(p, tr, acc, n)
  end
  return summarize(tr, acc:read():flat(), ds.n)
end

-- opts.feed = {[input node or name] = tensor of n rows}: values of inputs other than the first
-- (a one-hot class mask for nn.dream), written before the run.
local function write_feeds(m, p, feed, n)
  for k, v in pairs(feed or {}) do
    local nd = graph.is_node(k) and k or (type(k) == "string" and m.graph:find(k))
    if not nd or nd:info().op ~= "input" then util.fail("run: feed names '%s', which is not an input of the graph", tostring(k)) end
    if not tensor.is(v) or v:numel() ~= n * nd:info().numel then
      util.fail("run: feed '%s' %s takes %d values per sample for %d samples; got %s", nd:name(), nd:shape_string(),
        nd:info().numel, n, tostring(v))
    end
    p:write(nd.id, v:dtype() == nd:info().dtype and v or v:astype(nd:info().dtype))
  end
end

-- Runs the model on x (a float tensor (n, ...) shaped like the first input, or a data set) and
-- returns the values of `nodes` (a list of nodes, node names, layer names or output names) as
-- tensors of n rows. opts: batch and scale (data sets), feed (tensors; see write_feeds).
function Model:run(x, nodes, opts)
  opts = opts or {}
  ensure_init(self)
  if type(nodes) ~= "table" then util.fail("run: nodes must be a list of nodes or names, got %s", type(nodes)) end
  local ids, list = {}, {}
  for i, v in ipairs(nodes) do
    local nd = v
    if type(v) == "string" then
      -- A node's name ("conv2d_1.out"), else a layer's ("conv2d_1": its output) or an output's.
      nd = self.graph:find(v) or self.outputs[v]
      for _, l in ipairs(nd and {} or self.graph.layers) do
        if l.name == v then nd = l.output end
      end
      if not nd then
        local names = {}
        for _, l in ipairs(self.graph.layers) do names[#names + 1] = l.name end
        util.fail("no node named '%s' (layers: %s)", v, table.concat(names, ", "))
      end
    elseif not graph.is_node(v) then
      util.fail("run: nodes[%d] must be a node or a name", i)
    elseif v.graph ~= self.graph then
      util.fail("run: nodes[%d] ('%s') belongs to another graph", i, v:name())
    end
    ids[i], list[i] = nd.id, nd
  end
  local key = "run:" .. table.concat(ids, ",")
  local input = self.inputs[1]
  if tensor.is(x) then
    local per = input:info().numel
    local n = x:dim() > 0 and #x or 1
    if x:numel() ~= n * per then
      util.fail("input '%s' %s takes %d values per sample; the tensor %s has %d per row", input:name(),
        input:shape_string(), per, tostring(x), x:numel() // math.max(n, 1))
    end
    if n < 1 then util.fail("run: the input tensor %s has no rows", tostring(x)) end
    if x:dtype() ~= "float32" then x = x:astype("float32") end
    local batch = math.max(n, 1)
    local p = plan(self, key, ids, batch, false)
    p:write(input.id, x)
    write_feeds(self, p, opts.feed, n)
    p:run(n)
    local out = {}
    for i, id in ipairs(ids) do out[i] = p:read(id, n) end
    return out
  end
  check_dataset(x, "run")
  check_input_shape(self, x)
  if opts.feed then util.fail("run: feed (values of other inputs) goes with a tensor x, not a data set") end
  local batch = opts.batch or 256
  local p = plan(self, key, ids, batch, false)
  local index, scale = identity_index(x), opts.scale or input_scale(x, opts)
  local parts = {}
  for start = 0, x.n - 1, batch do
    local n = math.min(batch, x.n - start)
    p:feed(input.id, column(x, "images"), index, start, n, scale)
    p:run(n)
    for i, id in ipairs(ids) do
      parts[i] = parts[i] or {}
      parts[i][#parts[i] + 1] = p:read(id, n)
    end
  end
  local out = {}
  for i = 1, #ids do out[i] = tensor.concat(parts[i]) end
  return out
end

-- model:predict(x) -> the first output's values (n, ...); all outputs by name with {all = true}.
function Model:predict(x, opts)
  opts = opts or {}
  local nodes = {}
  for i, name in ipairs(self.output_names) do nodes[i] = self.outputs[name] end
  local values = self:run(x, nodes, opts)
  if not opts.all then return values[1] end
  local out = {}
  for i, name in ipairs(self.output_names) do out[name] = values[i] end
  return out
end

-- model:activations(node_or_name, x) -> its value for input x (n, ...).
function Model:activations(which, x, opts) return self:run(x, {which}, opts)[1] end

-- The gradient of a 1-element objective node with respect to a node (the first input unless
-- opts.wrt says), for input x: deep dream and saliency. Built once per (objective, wrt).
-- opts.feed gives other inputs' values, as in run. Returns the gradient and the objective's value.
function Model:gradient(x, objective, opts)
  opts = opts or {}
  ensure_init(self)
  if not graph.is_node(objective) or objective:info().numel ~= 1 or objective:info().batched then
    util.fail("gradient: the objective must be a node with one element (nn.sum of something), got %s", tostring(objective))
  end
  local wrt = opts.wrt or self.inputs[1]
  self.gradients = self.gradients or {}
  local key = objective.id .. "/" .. wrt.id
  if not self.gradients[key] then
    local grads = self.graph.c:backward(objective.id, {wrt.id})
    if not grads[1] then util.fail("gradient: '%s' does not depend on '%s'", objective:name(), wrt:name()) end
    self.gradients[key] = graph.node_of(self.graph, grads[1])
  end
  local values = self:run(x, {objective, self.gradients[key]}, opts)
  return values[2], values[1]
end

-- ---- checkpoints ----

function Model:save(path) self.c:save(path, util.serialize{kind = "model"}) end
function Model:load(path)
  self.c:load(path)
  self.initialized = true
end

-- ---- summary ----

local function pad(s, n) return s .. string.rep(" ", math.max(n - #s, 0)) end

-- Prints the layers, output shapes and parameter counts (as Keras does) and returns the text.
-- With {batch = B}: also the device memory a training step needs at that batch size.
function Model:summary(opts)
  opts = opts or {}
  local lines = {}
  local rows = {{"Layer (type)", "Output shape", "Params"}}
  for _, l in ipairs(self.graph.layers) do
    local count = 0
    for _, p in ipairs(l.params) do count = count + p:info().numel end
    rows[#rows + 1] = {string.format("%s (%s)", l.name, l.kind), l.output:shape_string(), util.commas(count)}
  end
  local w = {0, 0, 0}
  for _, r in ipairs(rows) do for i = 1, 3 do w[i] = math.max(w[i], #r[i]) end end
  local rule = string.rep("-", w[1] + w[2] + w[3] + 4)
  lines[#lines + 1] = rule
  for i, r in ipairs(rows) do
    lines[#lines + 1] = pad(r[1], w[1] + 2) .. pad(r[2], w[2] + 2) .. string.rep(" ", w[3] - #r[3]) .. r[3]
    if i == 1 then lines[#lines + 1] = rule end
  end
  lines[#lines + 1] = rule
  local frozen = self.graph:param_count(false)
  lines[#lines + 1] = "Total params: " .. util.commas(self:param_count() + frozen)
  if frozen > 0 then  -- running statistics, counted apart as Keras does
    lines[#lines + 1] = "Trainable params: " .. util.commas(self:param_count())
    lines[#lines + 1] = "Non-trainable params: " .. util.commas(frozen)
  end
  if opts.batch then
    local tr = trainer(self, loss_terms(self, opts))
    local info = train_plan(self, tr, opts.batch):info()
    lines[#lines + 1] = string.format("Training at batch %d: %s of activations and gradients, %s of parameters; %d nodes",
      opts.batch, util.bytes(info.arena_bytes), util.bytes(info.param_bytes), info.nodes)
  end
  local text = table.concat(lines, "\n")
  if opts.print ~= false then print(text) end
  return text
end

function Model:__tostring()
  return string.format("nn.Model (%d layers, %s params)", #self.graph.layers, util.commas(self:param_count()))
end

return M
