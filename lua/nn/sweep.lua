-- nn.sweep: runs the members of a sweep (the five MLPs, the λ values) so that an interrupted
-- sweep loses nothing, and so that several devices or machines share the work.
--
--   local results = nn.sweep.run{name = "mlp_sweep", dir = "results/mlp_sweep",
--     members = {{name = "MLP-1", hidden = {1000, 1000}, epochs = 20}, ...},
--     run = function(member, ctx) ... model:fit(..., {checkpoint = ctx.checkpoint}) ... return result end}
--
-- Resuming: each finished member's result is stored in <dir>/<member>.result with the settings
-- that define it; a re-run skips members whose stored settings match, and hands the others a
-- checkpoint path so an interrupted one resumes from its last epoch.
--
-- Sharing: with N processes (NN_DEVICE naming N devices, or `mpirun -n N`), process k runs
-- members k+1, k+1+N, ... and waits for the others' result files; process 0 writes the reports.
-- The processes share the results folder (on several machines: a shared file system). A member
-- that fails leaves <member>.failed and the others go on: a re-run retries only that member.
local core = require "nn._core"
local util = require "nn.util"

local sweep = {}

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- This process's shard: k (0-based) of N.
function sweep.shard() return core.shard() end

-- Whether this process writes the reports (shard 0, the only one without sharing).
function sweep.is_leader() return (core.shard()) == 0 end

-- The stored result of a member whose settings match, or nil (a damaged file counts as none).
local function stored_result(path, settings)
  local stored = read_file(path)
  if not stored then return nil end
  local ok, state = pcall(util.deserialize, stored)
  if not ok or type(state) ~= "table" then
    io.stderr:write(string.format("nnrun: %s is damaged (%s); its member runs again\n", path, ok and "not a table" or tostring(state)))
    return nil
  end
  if state.settings == settings then return state.result end
  return nil
end

-- Waits until another process has finished `member` (its result file), failed it, or died.
local function wait_for(paths, settings, member)
  local warned = false
  while true do
    local result = stored_result(paths.result, settings)
    if result then return result end
    local failed = read_file(paths.failed)
    if failed then return nil, failed end
    local owner = tonumber(read_file(paths.running) or "")
    if owner and not core.alive(owner) then
      return nil, string.format("the process running %s (pid %d) is gone", member.name, owner)
    end
    if not warned then
      io.stderr:write(string.format("nnrun: waiting for %s (another process runs it)\n", member.name))
      warned = true
    end
    core.sleep(1)
  end
end

-- run{name, dir, members, run, fresh} -> {results in member order; a failed member's is
-- {failed = message}}
function sweep.run(opts)
  if type(opts) ~= "table" or type(opts.name) ~= "string" or type(opts.members) ~= "table" or
      type(opts.run) ~= "function" then
    util.fail("sweep.run: expected {name = string, members = {...}, run = function(member, ctx) ... end}")
  end
  local dir = opts.dir or ("results/" .. opts.name)
  core.mkdirs(dir)
  local shard, shards = core.shard()
  local results, pending = {}, {}
  -- First this process's own members (so no process waits while it could work), then the others'.
  for i, member in ipairs(opts.members) do
    if type(member.name) ~= "string" then util.fail("sweep '%s': member %d has no name", opts.name, i) end
    local settings = util.serialize(member)
    local base = string.format("%s/%s", dir, member.name)
    local paths = {result = base .. ".result", failed = base .. ".failed", running = base .. ".running",
      checkpoint = base .. ".ckpt"}
    local result = not opts.fresh and stored_result(paths.result, settings)
    if result then
      io.stderr:write(string.format("nnrun: %s [%d/%d] done earlier (%s)\n", member.name, i, #opts.members, paths.result))
    elseif (i - 1) % shards == shard then
      if opts.fresh then os.remove(paths.checkpoint) end
      os.remove(paths.failed)
      core.write_file(paths.running, tostring(core.pid()))
      io.stderr:write(string.format("nnrun: %s [%d/%d]%s\n", member.name, i, #opts.members,
        shards > 1 and string.format(" on shard %d of %d", shard, shards) or ""))
      local ok, value = pcall(opts.run, member, {checkpoint = paths.checkpoint, index = i, count = #opts.members, dir = dir})
      os.remove(paths.running)
      if ok then
        result = value
        core.write_file(paths.result, util.serialize{settings = settings, result = result})
        os.remove(paths.checkpoint)
      elseif shards == 1 then
        error(value, 0)
      else
        -- Sharing the work: this member is lost for now, the others go on.
        core.write_file(paths.failed, tostring(value))
        io.stderr:write(string.format("nnrun: %s failed: %s\n", member.name, tostring(value)))
        result = {failed = tostring(value)}
      end
    else
      pending[#pending + 1] = {i = i, member = member, paths = paths, settings = settings}
    end
    results[i] = result
  end
  for _, p in ipairs(pending) do
    local result, failure = wait_for(p.paths, p.settings, p.member)
    results[p.i] = result or {failed = failure}
  end
  return results
end

-- The stored result of one member (another experiment reading this one's numbers) and the
-- settings it was made with, or nil.
function sweep.load(dir, name)
  local stored = read_file(string.format("%s/%s.result", dir, name))
  if not stored then return nil end
  local ok, state = pcall(util.deserialize, stored)
  if not ok or type(state) ~= "table" then return nil end
  local ok2, settings = pcall(util.deserialize, state.settings or "")
  return state.result, ok2 and settings or nil
end

return sweep
