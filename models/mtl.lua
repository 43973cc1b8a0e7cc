-- The report's multi-task models (task 6): a shared convolutional trunk with one head per task,
-- and the single-task models made of the same trunk and one of the same heads. Parameter counts
-- match the report exactly (seed-notes.md).
--
--   local mtl = require "models.mtl"
--   local groups = mtl.groups(GROUPS, data.classes)       -- checks the table, returns the mapping
--   local m = mtl.build{classes = {item = 10, group = 3}}  -- m.lambda is a scalar node
--   mtl.set_lambda(m, 0.25)                                 -- loss = λ·item + (1 − λ)·group
--   m:fit(train, mtl.fit_options(m, {epochs = 10}))
--   local single = mtl.build_single("item", 10)            -- the same trunk and item head
local nn = require "nn"

local mtl = {}

-- The report's trunk: three 3x3 'same' ReLU convolutions, 2x2 max pooling after the first two,
-- then Flatten (7·7·128 = 6272) and Dense(3136, ReLU). 19,764,800 parameters.
mtl.TRUNK = {input = {1, 28, 28}, filters = {32, 64, 128}, kernel = 3, pool = {true, true, false}, dense = {3136}}
-- Each head: Dense(1024, ReLU) → Dense(100, ReLU) → Dense(K) logits.
mtl.HEAD = {1024, 100}

-- The report's parameter counts.
mtl.PARAMS = {trunk = 19764800, item = 23080598, group = 23079891, singles = 46160489, mtl = 26395689}

-- The tasks: output name, what it predicts, the data set field that holds its labels.
mtl.TASKS = {
  {output = "item", title = "Task 1 (item)", field = "labels"},
  {output = "group", title = "Task 2 (group)", field = "group"},
}

-- Errors name the line of the script that called into this file: level 2 is the caller of the
-- function that calls fail, level 3 its caller.
local function fail(level, fmt, ...) error(string.format(fmt, ...), level + 1) end

-- Adds the trunk to input x; layers are named <prefix>conv1, <prefix>pool1, ..., <prefix>dense1.
function mtl.trunk(x, spec, prefix)
  spec, prefix = spec or mtl.TRUNK, prefix or "trunk_"
  local h = x
  for i, f in ipairs(spec.filters) do
    h = nn.conv2d(h, f, spec.kernel, {padding = "same", activation = "relu", name = prefix .. "conv" .. i})
    if spec.pool[i] then h = nn.max_pool2d(h, 2, {name = prefix .. "pool" .. i}) end
  end
  h = nn.flatten(h, {name = prefix .. "flatten"})
  for i, n in ipairs(spec.dense) do h = nn.linear(h, n, {activation = "relu", name = prefix .. "dense" .. i}) end
  return h
end

-- Adds a head named `name` on features h: hidden ReLU layers, then `classes` logits named `name`.
function mtl.head(h, name, classes, hidden)
  for i, n in ipairs(hidden or mtl.HEAD) do h = nn.linear(h, n, {activation = "relu", name = name .. "_dense" .. i}) end
  return nn.linear(h, classes, {name = name})
end

local function check_lambda(v)
  if type(v) ~= "number" or v ~= v or v < 0 or v > 1 then
    fail(3, "lambda must be a number in [0, 1] (the weight of task 1's loss), got %s", tostring(v))
  end
  return v
end

-- The multi-task model: build{classes = {item = 10, group = 3}, trunk, head, lambda = 0.5}.
-- Outputs are named after the tasks. m.lambda is the scalar λ and m.rest the node 1 − λ: setting
-- λ changes both, without building or compiling anything again.
function mtl.build(opts)
  opts = opts or {}
  local classes = opts.classes or {item = 10, group = 3}
  local spec = opts.trunk or mtl.TRUNK
  local g = nn.graph()
  local x = g:input("x", spec.input)
  local h = mtl.trunk(x, spec)
  local outputs = {}
  for _, t in ipairs(mtl.TASKS) do outputs[t.output] = mtl.head(h, t.output, classes[t.output], opts.head) end
  local m = g:model{inputs = {x}, outputs = outputs}
  m.lambda = g:scalar("lambda", check_lambda(opts.lambda or 0.5))
  m.rest = 1 - m.lambda
  return m
end

-- Sets λ of a model from mtl.build; a value outside [0, 1] is an error.
function mtl.set_lambda(m, v)
  if not m.lambda then fail(2, "set_lambda: this model has no λ (it is not from mtl.build)") end
  m.lambda:set(check_lambda(v))
end

-- A single-task model: the same trunk, and the head of output `task` ("item" or "group").
function mtl.build_single(task, classes, opts)
  opts = opts or {}
  local spec = opts.trunk or mtl.TRUNK
  local g = nn.graph()
  local x = g:input("x", spec.input)
  return g:model{inputs = {x}, outputs = {[task] = mtl.head(mtl.trunk(x, spec), task, classes, opts.head)}}
end

-- The options model:fit and model:evaluate need for a model from build or build_single (losses,
-- their weights and label fields), merged into `extra`.
function mtl.fit_options(m, extra)
  local o = {}
  for k, v in pairs(extra or {}) do o[k] = v end
  o.loss, o.labels, o.loss_weights = {}, {}, {}
  for _, t in ipairs(mtl.TASKS) do
    if m.outputs[t.output] then
      o.loss[t.output] = nn.loss.cross_entropy
      o.labels[t.output] = t.field
    end
  end
  if m.lambda then o.loss_weights = {item = m.lambda, group = m.rest} end
  return o
end

-- Checks a group table and returns {mapping = {[item] = group}, names = {group names, label 0
-- first}, members = {{item names}, ...}}. groups = {{name = "shoes", classes = {"Sandal", ...}},
-- ...}; classes are given by name or by label (0-based). Every one of the dataset's classes must
-- be in exactly one group.
function mtl.groups(groups, classes)
  if type(groups) ~= "table" or #groups < 2 then fail(2, "groups: expected a list of at least two groups {name =, classes = {...}}") end
  local label_of = {}
  for i, c in ipairs(classes) do label_of[c] = i - 1 end
  local mapping, names, members = {}, {}, {}
  for gi, grp in ipairs(groups) do
    if type(grp) ~= "table" or type(grp.name) ~= "string" or type(grp.classes) ~= "table" or #grp.classes == 0 then
      fail(2, "groups[%d]: expected {name = \"...\", classes = {class names or labels}}", gi)
    end
    names[gi], members[gi] = grp.name, {}
    for _, c in ipairs(grp.classes) do
      local label = label_of[c]
      if math.type(c) == "integer" and c >= 0 and c < #classes then label = c end
      if label == nil then
        fail(2, "groups: '%s' in group '%s' is not a class (classes: %s)", tostring(c), grp.name, table.concat(classes, ", "))
      end
      if mapping[label] then
        fail(2, "groups: class '%s' is in group '%s' and in group '%s'; each class must be in exactly one group",
          classes[label + 1], names[mapping[label] + 1], grp.name)
      end
      mapping[label] = gi - 1
      members[gi][#members[gi] + 1] = classes[label + 1]
    end
  end
  local missing = {}
  for label = 0, #classes - 1 do
    if mapping[label] == nil then missing[#missing + 1] = "'" .. classes[label + 1] .. "'" end
  end
  if #missing > 0 then fail(2, "groups: %s %s in no group; each class must be in exactly one group", table.concat(missing, ", "), #missing == 1 and "is" or "are") end
  return {mapping = mapping, names = names, members = members}
end

-- Adds the field `group` (the group label of each image) to a data set, in place; returns it.
function mtl.add_groups(ds, groups)
  ds.group = ds:map_labels(groups.mapping, groups.names).labels
  return ds
end

return mtl
