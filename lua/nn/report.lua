-- nn.report: an experiment's results as results/<name>/README.md, with each table also as CSV
-- beside it and figures embedded by relative path.
--
--   local r = nn.report.new{name = "mlp_sweep", title = "MLP architectures", seed = 1}
--   r:text("Five MLPs trained for 20 epochs ...")
--   r:table{name = "results",
--     columns = {"Model", "Parameters", {name = "Test accuracy", format = "%.4f"}},
--     rows = {{"MLP-1", 1796010, 0.9561}, ...},
--     seed = {["MLP-1"] = {["Test accuracy"] = 0.9544}}}  -- the seed report's numbers, beside ours
--   r:figure(fig, "Learning curves")                       -- an nn.plot figure, or a PNG path
--   r:write()
--
-- Nothing is written until r:write(), which writes every CSV and then README.md, each atomically
-- (temp file, fsync, rename): a reader sees the old report or the new one, and a re-run replaces
-- the README whole. r:write() may be called more than once (after each model of a sweep, say);
-- each call writes the whole report as it stands.
local core = require "nn._core"
local util = require "nn.util"

local report = {}

local Report = {}
Report.__index = Report

-- Mistakes are raised at the user's script line.
local function check(cond, fmt, ...)
  if not cond then util.fail(fmt, ...) end
end

-- new{name, title, seed, dir = "results/<name>", device} -> report. device overrides the name
-- nnrun's device gives (tests, or reports written without opening one). The wall time in the
-- report is measured from this call.
function report.new(opts)
  check(type(opts) == "table", "report.new: expected a table of options")
  local name = opts.name
  check(type(name) == "string" and name:match("^[%w_%-%.]+$"),
    "report.new: name must be letters, digits, '_', '-' or '.' (got %s)", tostring(name))
  return setmetatable({
    name = name,
    title = opts.title or name,
    seed = opts.seed,
    dir = opts.dir or ("results/" .. name),
    device = opts.device,
    started = core.seconds(),
    blocks = {},       -- in order: {kind = "text" | "table" | "figure", ...}
    table_names = {},  -- table name -> true, so two tables cannot share a CSV
  }, Report)
end

function Report:__tostring()
  return string.format("nn.report '%s' (%d blocks, in %s)", self.name, #self.blocks, self.dir)
end

-- r:text(markdown): a paragraph (or any Markdown) added as it is.
function Report:text(md)
  check(type(md) == "string", "report:text: expected a string, got %s", type(md))
  self.blocks[#self.blocks + 1] = {kind = "text", text = md}
  return self
end

---------------------------------------------------------------------------------------------------
-- Tables.

-- How a cell reads in Markdown when its column gives no format: whole numbers as they are (with
-- thousands separators from 10,000), others to four significant digits, or two decimals from 1,000.
local function format_cell(v, format)
  if v == nil then return "" end
  if type(v) ~= "number" then return tostring(v) end
  if v ~= v then return "NaN" end
  if type(format) == "function" then return tostring(format(v)) end
  if format then return string.format(format, v) end
  if v == math.floor(v) and math.abs(v) < 2 ^ 53 then
    return math.abs(v) >= 10000 and util.commas(v) or string.format("%d", v)
  end
  if math.abs(v) >= 1000 then
    local whole, frac = string.format("%.2f", v):match("^(%-?%d+)(%.%d+)$")
    return util.commas(tonumber(whole)) .. frac
  end
  if math.abs(v) < 1e-4 then return string.format("%.2e", v) end
  return string.format("%.4g", v)
end

-- CSV keeps full precision: the shortest decimal that reads back as the same number.
local function csv_number(v)
  if math.type(v) == "integer" then return string.format("%d", v) end
  if v ~= v then return "NaN" end
  for digits = 1, 17 do
    local s = string.format("%." .. digits .. "g", v)
    if tonumber(s) == v then return s end
  end
end

local function csv_field(v)
  if v == nil then return "" end
  if type(v) == "number" then return csv_number(v) end
  local s = tostring(v)
  if s:find('[,"\r\n]') then s = '"' .. s:gsub('"', '""') .. '"' end
  return s
end

local function md_cell(s) return (s:gsub("|", "\\|"):gsub("[\r\n]+", " ")) end

-- r:table{name, columns, rows, seed, key, caption, csv_only}: csv_only links the CSV instead of
-- showing the table (per-epoch histories).
--   columns: names, or {name =, format =} (a string.format pattern or a function of the value).
--   rows: arrays of values in column order (numbers, strings, booleans; nil for none).
--   seed: the seed report's numbers, {[row key] = {[column name] = value}}: every column named
--     there gets a "<column> (seed report)" column beside it. A row's key is its value in the
--     column `key` (default the first).
--   caption: a line of text shown above the table (default none; the name heads it).
-- The table is written to <dir>/<name>.csv by r:write(), and shown in README.md.
function Report:table(t)
  check(type(t) == "table", "report:table: expected a table of options")
  local name = t.name
  check(type(name) == "string" and name:match("^[%w_%-%.]+$"),
    "report:table: name must be letters, digits, '_', '-' or '.' (got %s)", tostring(name))
  check(not self.table_names[name], "report:table: there is already a table '%s'", name)
  check(type(t.columns) == "table" and #t.columns > 0, "report:table '%s': columns is empty",
    name)
  local columns = {}
  for i, c in ipairs(t.columns) do
    if type(c) == "string" then c = {name = c} end
    check(type(c) == "table" and type(c.name) == "string",
      "report:table '%s': column %d must be a name or {name =, format =}", name, i)
    columns[i] = {name = c.name, format = c.format}
  end
  check(type(t.rows) == "table", "report:table '%s': rows is missing", name)
  local rows = {}
  for r, row in ipairs(t.rows) do
    check(type(row) == "table", "report:table '%s': row %d is a %s, not a table", name, r,
      type(row))
    local n = 0
    for k in pairs(row) do n = math.max(n, math.type(k) == "integer" and k or 0) end
    check(n <= #columns, "report:table '%s': row %d has %d values for %d columns", name, r, n,
      #columns)
    rows[r] = row
  end
  local key = 1
  if t.key then
    key = nil
    for i, c in ipairs(columns) do if c.name == t.key then key = i end end
    check(key, "report:table '%s': key column '%s' is not one of the columns", name,
      tostring(t.key))
  end
  -- Seed-report columns: after each of our columns the seed gives numbers for.
  if t.seed then
    check(type(t.seed) == "table",
      "report:table '%s': seed must be {[row key] = {[column] = value}}", name)
    local wanted = {}
    for _, by_column in pairs(t.seed) do
      check(type(by_column) == "table", "report:table '%s': seed rows must be tables", name)
      for col in pairs(by_column) do wanted[col] = true end
    end
    for col in pairs(wanted) do
      local found = false
      for _, c in ipairs(columns) do found = found or c.name == col end
      check(found, "report:table '%s': seed names column '%s', which the table does not have",
        name, tostring(col))
    end
    local merged_cols, merged_rows = {}, {}
    for r = 1, #rows do merged_rows[r] = {} end
    for i, c in ipairs(columns) do
      merged_cols[#merged_cols + 1] = c
      for r, row in ipairs(rows) do merged_rows[r][#merged_cols] = row[i] end
      if wanted[c.name] then
        merged_cols[#merged_cols + 1] = {name = c.name .. " (seed report)", format = c.format}
        for r, row in ipairs(rows) do
          local k = row[key]
          local s = t.seed[k] or t.seed[tostring(k)]
          merged_rows[r][#merged_cols] = s and s[c.name]
        end
      end
    end
    columns, rows = merged_cols, merged_rows
  end
  self.table_names[name] = true
  self.blocks[#self.blocks + 1] = {kind = "table", name = name, caption = t.caption,
    columns = columns, rows = rows, csv_only = t.csv_only}
  return self
end

local function table_csv(b)
  local lines, head = {}, {}
  for i, c in ipairs(b.columns) do head[i] = csv_field(c.name) end
  lines[1] = table.concat(head, ",")
  for _, row in ipairs(b.rows) do
    local cells = {}
    for i = 1, #b.columns do cells[i] = csv_field(row[i]) end
    lines[#lines + 1] = table.concat(cells, ",")
  end
  return table.concat(lines, "\n") .. "\n"
end

local function table_markdown(b)
  local head, rule = {}, {}
  for i, c in ipairs(b.columns) do
    head[i] = md_cell(c.name)
    -- Numbers line up on the right, text on the left, judged by the first row that has a value.
    local numeric = false
    for _, row in ipairs(b.rows) do
      if row[i] ~= nil then
        numeric = type(row[i]) == "number"
        break
      end
    end
    rule[i] = numeric and "---:" or "---"
  end
  local lines = {"| " .. table.concat(head, " | ") .. " |", "|" .. table.concat(rule, "|") .. "|"}
  for _, row in ipairs(b.rows) do
    local cells = {}
    for i, c in ipairs(b.columns) do cells[i] = md_cell(format_cell(row[i], c.format)) end
    lines[#lines + 1] = "| " .. table.concat(cells, " | ") .. " |"
  end
  return table.concat(lines, "\n")
end

---------------------------------------------------------------------------------------------------
-- Figures.

local function split_path(p)
  local parts = {}
  for part in p:gmatch("[^/]+") do
    if part == ".." and #parts > 0 and parts[#parts] ~= ".." then
      parts[#parts] = nil
    elseif part ~= "." then
      parts[#parts + 1] = part
    end
  end
  return parts
end

-- Path of `target` as seen from folder `from`, when both are relative (to the current folder) or
-- both absolute. Otherwise target is returned as it is: Lua cannot ask for the current folder
-- ($PWD may be stale), so an absolute path is the one link that is sure to be right.
local function relative(target, from)
  local ta, fa = target:sub(1, 1) == "/", from:sub(1, 1) == "/"
  if ta ~= fa then return target end
  local t, f = split_path(target), split_path(from)
  local common = 0
  while common < #t - 1 and common < #f and t[common + 1] == f[common + 1] do
    common = common + 1
  end
  local out = {}
  for _ = common + 1, #f do out[#out + 1] = ".." end
  for i = common + 1, #t do out[#out + 1] = t[i] end
  return table.concat(out, "/")
end

-- r:figure(fig_or_path, caption): embeds a PNG. An nn.plot figure not yet saved is saved into the
-- report's folder now, as figure-<n>.png; a saved one, or a path, is linked where it is.
function Report:figure(fig, caption)
  local path = fig
  if type(fig) == "table" and type(fig.save) == "function" then
    if not fig.file then
      local n = 1
      for _, b in ipairs(self.blocks) do n = n + (b.kind == "figure" and 1 or 0) end
      fig:save(string.format("%s/figure-%d.png", self.dir, n))
    end
    path = fig.file
  end
  check(type(path) == "string" and path ~= "",
    "report:figure: expected an nn.plot figure or a file path, got %s", type(fig))
  check(caption == nil or type(caption) == "string", "report:figure: caption must be a string")
  self.blocks[#self.blocks + 1] = {kind = "figure", path = path, caption = caption}
  return self
end

---------------------------------------------------------------------------------------------------
-- Writing.

local function device_name(self)
  if self.device then return self.device end
  local ok, d = pcall(core.device)
  if not ok then return "unknown (" .. tostring(d) .. ")" end
  return string.format("%s (%s, %s)", d.name, d.type or "?", d.platform or "?")
end

local function metadata(self)
  local rows = {
    {"experiment", self.name},
    {"date", os.date("!%Y-%m-%d %H:%M:%S UTC")},
    {"device", device_name(self)},
    {"git commit", core.git_commit()},
    {"nnrun version", core.version()},
    {"seed", self.seed ~= nil and tostring(self.seed) or "none given"},
    {"wall time", string.format("%.1f s", core.seconds() - self.started)},
  }
  local lines = {"| run | |", "|---|---|"}
  for _, r in ipairs(rows) do lines[#lines + 1] = "| " .. r[1] .. " | " .. md_cell(r[2]) .. " |" end
  return table.concat(lines, "\n")
end

-- The README's text (also what r:write() writes).
function Report:markdown()
  local out = {"# " .. self.title, "", metadata(self)}
  for _, b in ipairs(self.blocks) do
    out[#out + 1] = ""
    if b.kind == "text" then
      out[#out + 1] = b.text
    elseif b.kind == "table" and b.csv_only then
      -- Long tables (per-epoch histories) are linked, not shown.
      out[#out + 1] = string.format("- [%s.csv](%s.csv)%s", b.name, b.name, b.caption and (": " .. b.caption) or "")
    elseif b.kind == "table" then
      out[#out + 1] = "### " .. b.name
      out[#out + 1] = ""
      if b.caption then
        out[#out + 1] = b.caption
        out[#out + 1] = ""
      end
      out[#out + 1] = table_markdown(b)
      out[#out + 1] = ""
      out[#out + 1] = string.format("[%s.csv](%s.csv)", b.name, b.name)
    else
      local rel = relative(b.path, self.dir)
      out[#out + 1] = string.format("![%s](%s)", md_cell(b.caption or ""), rel)
      if b.caption then
        out[#out + 1] = ""
        out[#out + 1] = "*" .. b.caption .. "*"
      end
    end
  end
  return table.concat(out, "\n") .. "\n"
end

-- r:write() -> the README's path. Writes <dir>/<table>.csv for every table, then README.md.
-- Reports written in this process, latest write last: experiments/report.lua gathers the tasks'
-- tables from here into one page.
report.written = {}

function Report:write()
  -- When processes share a sweep (several devices, mpirun), the first writes the reports.
  if not require("nn.sweep").is_leader() then return self.dir .. "/README.md" end
  for i, r in ipairs(report.written) do
    if r == self then table.remove(report.written, i) break end
  end
  report.written[#report.written + 1] = self
  core.mkdirs(self.dir)
  for _, b in ipairs(self.blocks) do
    if b.kind == "table" then core.write_file(self.dir .. "/" .. b.name .. ".csv", table_csv(b)) end
  end
  local path = self.dir .. "/README.md"
  core.write_file(path, self:markdown())
  return path
end

return report
