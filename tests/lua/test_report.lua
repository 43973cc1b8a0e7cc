-- nn.report: README.md with metadata, tables (and their CSV), seed-report columns, figures by
-- relative path; a re-run replaces the report whole and leaves no temp files.
local check = require "check"
local report = require "nn.report"
local plot = require "nn.plot"
local core = require "nn._core"

local tmp = os.tmpname()
local base = tmp .. "_report"
local dir = base .. "/results/unit"

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function contains(text, piece, message)
  return check.ok(text ~= nil and text:find(piece, 1, true) ~= nil,
    (message or "text") .. ": missing '" .. piece .. "'")
end

local function listing(folder)
  local p = io.popen("ls -A '" .. folder .. "'")
  local names = {}
  for name in p:lines() do names[#names + 1] = name end
  p:close()
  table.sort(names)
  return table.concat(names, " ")
end

do
  local r = report.new{name = "unit", title = "A unit test", seed = 7, dir = dir,
    device = "Test Device"}
  r:text("Some *Markdown* the script wrote.")
  r:table{name = "mlp", caption = "Our numbers beside the seed report's.",
    columns = {"Model", "Parameters", {name = "Test accuracy", format = "%.4f"}, "Time (s)"},
    rows = {{"MLP-1", 1796010, 0.95612, 41.5}, {"MLP-2", 2797010, 0.9514, 63.25},
      {"MLP-9", 10, 0.5}},
    seed = {["MLP-1"] = {["Test accuracy"] = 0.9544}, ["MLP-2"] = {["Test accuracy"] = 0.9514}}}
  r:table{name = "notes", columns = {"what", "value"},
    rows = {{'a "quoted", text', 1.5}, {"pipe | here", 1e-7}}}
  local fig = plot.line{series = {{y = {1, 2, 3}}}}
  r:figure(fig, "Learning curves")
  local elsewhere = plot.line{series = {{y = {3, 2, 1}}}}
  elsewhere:save(base .. "/figures/other.png")
  r:figure(elsewhere, "Saved elsewhere")
  local path = r:write()
  check.eq(path, dir .. "/README.md", "write() returns the README's path")
  local md = read(path)
  contains(md, "# A unit test\n", "title")
  contains(md, "| experiment | unit |", "metadata")
  contains(md, "| device | Test Device |", "metadata")
  contains(md, "| seed | 7 |", "metadata")
  contains(md, "| nnrun version | " .. core.version() .. " |", "metadata")
  contains(md, "| git commit | " .. core.git_commit() .. " |", "metadata")
  contains(md, "| date | " .. os.date("!%Y-%m-%d"), "metadata")
  check.ok(md:find("| wall time | %d+%.%d s |") ~= nil, "wall time in seconds")
  contains(md, "Some *Markdown* the script wrote.", "free text")
  contains(md, "### mlp\n\nOur numbers beside the seed report's.", "table heading and caption")
  contains(md, "| Model | Parameters | Test accuracy | Test accuracy (seed report) | Time (s) |",
    "seed column beside ours")
  contains(md, "|---|---:|---:|---:|---:|", "numbers align right")
  contains(md, "| MLP-1 | 1,796,010 | 0.9561 | 0.9544 | 41.5 |", "formatted row")
  contains(md, "| MLP-9 | 10 | 0.5000 |  |  |", "missing values stay empty")
  contains(md, "[mlp.csv](mlp.csv)", "link to the CSV")
  contains(md, "| pipe \\| here | 1.00e-07 |", "pipes are escaped")
  contains(md, "![Learning curves](figure-1.png)", "unsaved figure saved in the report folder")
  contains(md, "![Saved elsewhere](../../figures/other.png)",
    "saved figure linked by relative path")
  check.ok(read(dir .. "/figure-1.png") ~= nil, "figure-1.png exists")
  check.eq(read(dir .. "/mlp.csv"),
    "Model,Parameters,Test accuracy,Test accuracy (seed report),Time (s)\n" ..
    "MLP-1,1796010,0.95612,0.9544,41.5\nMLP-2,2797010,0.9514,0.9514,63.25\nMLP-9,10,0.5,,\n",
    "CSV keeps full precision")
  check.eq(read(dir .. "/notes.csv"), 'what,value\n"a ""quoted"", text",1.5\npipe | here,1e-07\n',
    "CSV quotes what needs it")
  check.eq(listing(dir), "README.md figure-1.png mlp.csv notes.csv", "no temp files are left")
  local abs = plot.line{series = {{y = {1, 2}}}}
  abs:save(base .. "/abs.png")
  local from_cwd = report.new{name = "cwd", dir = "results/cwd", device = "x"}
  from_cwd:figure(abs)
  contains(from_cwd:markdown(), "](" .. base .. "/abs.png)",
    "an absolute figure path from a relative folder stays absolute")
  check.eq(tostring(r), "nn.report 'unit' (5 blocks, in " .. dir .. ")", "tostring")
end

-- A re-run replaces the README whole.
do
  local r = report.new{name = "unit", title = "Second run", dir = dir, device = "Test Device"}
  r:text("Only this.")
  r:write()
  local md = read(dir .. "/README.md")
  contains(md, "# Second run", "new title")
  contains(md, "| seed | none given |", "no seed")
  check.ok(not md:find("Some *Markdown*", 1, true), "old text is gone")
  check.ok(not md:find("mlp.csv", 1, true), "old tables are gone from the README")
end

-- The default folder is results/<name>, and the default title the name.
do
  local r = report.new{name = "defaults", device = "x"}
  check.eq(r.dir, "results/defaults", "default folder")
  check.eq(r.title, "defaults", "default title")
end

-- Mistakes are reported at the calling line.
do
  local r = report.new{name = "errors", dir = base .. "/errors", device = "x"}
  check.fails(function() report.new{name = "a/b"} end, "name must be letters")
  check.fails(function() r:table{name = "t", columns = {"a", "b"}, rows = {{1, 2}, {1, 2, 3}}} end,
    "row 2 has 3 values for 2 columns")
  check.fails(function() r:table{name = "t", columns = {}, rows = {}} end, "columns is empty")
  check.fails(function()
    r:table{name = "t", columns = {"a"}, rows = {{1}}, seed = {x = {b = 1}}}
  end, "seed names column 'b'")
  check.fails(function() r:table{name = "t", columns = {"a"}, rows = {{1}}, key = "z"} end,
    "key column 'z'")
  r:table{name = "t", columns = {"a"}, rows = {{1}}}
  check.fails(function() r:table{name = "t", columns = {"a"}, rows = {{1}}} end,
    "already a table 't'")
  check.fails(function() r:text(3) end, "expected a string")
  check.fails(function() r:figure(42) end, "expected an nn.plot figure or a file path")
  check.fails(function() r:text(3) end, "test_report.lua:")
end

os.execute("rm -r '" .. base .. "'")
os.remove(tmp)
check.done()
