-- The whole seed report in one command: tasks 1-6, then results/REPORT.md with every table, the
-- seed report's numbers beside ours and the difference, and every figure.
--
--   nnrun experiments/report.lua            full size (hours on a CPU)
--   nnrun experiments/report.lua --quick    every task small: a few minutes on a CPU
--   nnrun experiments/report.lua --only 3,6 some tasks
--
-- Each task is its own script (experiments/*.lua), run here in this process. Sweeps keep finished
-- members under results/<task>/, so an interrupted report resumes where it stopped; --fresh
-- starts every sweep over.
local nn = require "nn"
local core = require "nn._core"
local train = require "nn.train"

local args = nn.util.args(arg, {quick = "flag", only = "string", fresh = "flag"})

-- Per task: the script, and the arguments of a quick run.
local TASKS = {
  {n = 1, title = "PCA and linear separability", script = "experiments/task1_pca.lua", quick = {"--subset", "3000"}},
  {n = 2, title = "Perceptrons", script = "experiments/task2_perceptron.lua", quick = {"--max-epochs", "30"}},
  {n = 3, title = "MLP sweep", script = "experiments/mlp_sweep.lua", quick = {"--epochs", "2", "--subset", "3000"}, sweep = true},
  {n = 4, title = "CNN sweep", script = "experiments/cnn_sweep.lua", quick = {"--epochs", "1", "--subset", "2000"}, sweep = true},
  {n = 5, title = "CNN visualisation", script = "experiments/task5_visualise.lua", quick = {"--epochs", "1", "--subset", "3000"},
    weights = "results/cnn_sweep/CNN-1.weights"},
  {n = 6, title = "Multi-task learning", script = "experiments/task6.lua", quick = {"--epochs", "1", "--subset", "2000"}, sweep = true},
}

local selected = {}
if args.only then
  for n in args.only:gmatch("%d+") do selected[tonumber(n)] = true end
else
  for _, t in ipairs(TASKS) do selected[t.n] = true end
end

-- Runs one task's script with its own `arg`, as `nnrun script args` would.
local function run_task(task)
  local script_args = {}
  if args.quick then for i, a in ipairs(task.quick) do script_args[i] = a end end
  if args.fresh and task.sweep then script_args[#script_args + 1] = "--fresh" end
  -- Task 5 looks inside the CNN-1 that task 4 trained, when there is one.
  if task.weights and io.open(task.weights, "rb") then
    script_args[#script_args + 1] = "--checkpoint"
    script_args[#script_args + 1] = task.weights
  end
  local chunk, err = loadfile(core.source_root .. "/" .. task.script)
  if not chunk then error(err, 0) end
  local saved = arg
  arg = {[0] = task.script}
  for i, a in ipairs(script_args) do arg[i] = a end
  local ok, failure = pcall(chunk, table.unpack(script_args))
  arg = saved
  return ok, failure
end

-- Higher is better for accuracies; lower for losses and times; other columns only get a difference.
local function direction(column)
  local c = column:lower()
  if c:find("accuracy") or c:find("acc") then return 1 end
  if c:find("loss") or c:find("time") then return -1 end
  return 0
end

-- The tolerance within which a number "matches" the seed's: half a point of accuracy, 10% of a
-- loss or time.
local function matches(column, ours, seed)
  local d = direction(column)
  if d == 1 then return math.abs(ours - seed) <= 0.005 end
  return math.abs(ours - seed) <= 0.1 * math.abs(seed)
end

-- A table of a task's report with "(seed report)" columns, turned into ours / seed / difference
-- columns, and a verdict: how many numbers match, beat or fall short of the seed's.
local function compare(block)
  local out_cols, pairs_at = {}, {}
  for i, c in ipairs(block.columns) do
    local base = c.name:match("^(.*) %(seed report%)$")
    if base then
      pairs_at[#pairs_at + 1] = {ours = i - 1, seed = i, name = base}
      out_cols[#out_cols + 1] = c
      out_cols[#out_cols + 1] = {name = "difference", format = c.format}
    else
      out_cols[#out_cols + 1] = c
    end
  end
  if #pairs_at == 0 then return nil end
  local rows, tally = {}, {match = 0, beat = 0, short = 0}
  for r, row in ipairs(block.rows) do
    local new, j = {}, 0
    for i = 1, #block.columns do
      j = j + 1
      new[j] = row[i]
      for _, p in ipairs(pairs_at) do
        if p.seed == i then
          j = j + 1
          local ours, seed = row[p.ours], row[p.seed]
          if type(ours) == "number" and type(seed) == "number" then
            new[j] = ours - seed
            local d = direction(p.name)
            if matches(p.name, ours, seed) then tally.match = tally.match + 1
            elseif d ~= 0 and (ours - seed) * d > 0 then tally.beat = tally.beat + 1
            elseif d ~= 0 then tally.short = tally.short + 1 end
          end
        end
      end
    end
    rows[r] = new
  end
  return out_cols, rows, tally
end

local function format_cell(v, format)
  if v == nil then return "" end
  if type(v) ~= "number" then return tostring(v) end
  if type(format) == "function" then return tostring(format(v)) end
  if format then return string.format(format, v) end
  if math.type(v) == "integer" or v == math.floor(v) then return nn.util.commas(v) end
  return string.format("%.4g", v)
end

local function markdown_table(columns, rows)
  local lines = {}
  local names = {}
  for i, c in ipairs(columns) do names[i] = c.name end
  lines[1] = "| " .. table.concat(names, " | ") .. " |"
  lines[2] = "|" .. string.rep("---|", #columns)
  for _, row in ipairs(rows) do
    local cells = {}
    for i, c in ipairs(columns) do cells[i] = format_cell(row[i], c.format) end
    lines[#lines + 1] = "| " .. table.concat(cells, " | ") .. " |"
  end
  return table.concat(lines, "\n")
end

local device = nn.device()
local started = nn.seconds()
local sections, summary = {}, {}
local count = 0
for _ in pairs(selected) do count = count + 1 end
local index = 0
for _, task in ipairs(TASKS) do
  -- Tasks without a sweep run on the first process only when several share the work.
  if selected[task.n] and (task.sweep or nn.sweep.is_leader()) then
    index = index + 1
    train.progress_prefix = string.format("[task %d, %d of %d] ", task.n, index, count)
    io.stderr:write(string.format("nnrun: ==== task %d (%d of %d): %s ====\n", task.n, index, count, task.title))
    local before = #nn.report.written
    local t0 = nn.seconds()
    local ok, failure = run_task(task)
    local seconds = nn.seconds() - t0
    local lines = {string.format("## Task %d: %s", task.n, task.title), ""}
    if not ok then
      io.stderr:write(string.format("nnrun: task %d failed: %s\n", task.n, tostring(failure)))
      lines[#lines + 1] = string.format("**This task failed:** `%s`", tostring(failure))
      summary[#summary + 1] = {task = task.n, table = "(task failed)", verdict = "failed"}
    end
    lines[#lines + 1] = string.format("Device %s, %s, nnrun %s.", device.name, nn.util.duration(seconds), nn.version)
    for w = before + 1, #nn.report.written do
      local r = nn.report.written[w]
      local rel = r.dir:gsub("^results/", "")
      lines[#lines + 1] = ""
      lines[#lines + 1] = string.format("Full report: [%s/README.md](%s/README.md)", rel, rel)
      for _, b in ipairs(r.blocks) do
        if b.kind == "table" and not b.csv_only then
          local cols, rows, tally = compare(b)
          lines[#lines + 1] = ""
          lines[#lines + 1] = "### " .. b.name
          lines[#lines + 1] = ""
          lines[#lines + 1] = markdown_table(cols or b.columns, rows or b.rows)
          if tally then
            local total = tally.match + tally.beat + tally.short
            local verdict = tally.short == 0 and (tally.beat > 0 and "matches or beats the seed" or "matches the seed")
              or string.format("falls short on %d of %d numbers", tally.short, total)
            summary[#summary + 1] = {task = task.n, table = b.name, verdict = verdict, tally = tally}
          end
        elseif b.kind == "figure" then
          local path = b.path:gsub("^results/", "")
          lines[#lines + 1] = ""
          lines[#lines + 1] = string.format("![%s](%s)", b.caption or "", path)
        end
      end
    end
    sections[#sections + 1] = table.concat(lines, "\n")
  end
end
train.progress_prefix = ""

local head = {"# The seed report, reproduced by nnrun", "",
  string.format("Device: %s (%s). nnrun %s (%s). %s run, %s in all, finished %s.", device.name, device.type, nn.version,
    nn.git_commit, args.quick and "Quick (small)" or "Full-size", nn.util.duration(nn.seconds() - started), os.date("!%Y-%m-%d %H:%M UTC")),
  "", "## Summary", "",
  "Per table: how our numbers compare with the seed report's (accuracy within 0.005, loss and time within 10% count as a match).", "",
  "| task | table | verdict | match | beat | short |", "|---|---|---|---:|---:|---:|"}
for _, s in ipairs(summary) do
  local t = s.tally or {}
  head[#head + 1] = string.format("| %d | %s | %s | %s | %s | %s |", s.task, s.table, s.verdict, t.match or "", t.beat or "", t.short or "")
end
if args.quick then
  head[#head + 1] = ""
  head[#head + 1] = "*Quick run: every task on a small subset for few epochs, so the numbers fall short of the seed's by design.*"
end
if not nn.sweep.is_leader() then return end
core.mkdirs("results")
core.write_file("results/REPORT.md", table.concat(head, "\n") .. "\n\n" .. table.concat(sections, "\n\n") .. "\n")
print("wrote results/REPORT.md")
