-- nn.sweep: runs the members of a sweep (the five MLPs, the λ values) so that an interrupted
-- sweep loses nothing. Each finished member's result is stored in <dir>/<member>.result with the
-- settings that define it; a re-run skips members whose stored settings match, and hands the
-- others a checkpoint path so an interrupted one resumes from its last epoch.
--
--   local results = nn.sweep.run{name = "mlp_sweep", dir = "results/mlp_sweep",
--     members = {{name = "MLP-1", hidden = {1000, 1000}, epochs = 20}, ...},
--     run = function(member, ctx) ... model:fit(..., {checkpoint = ctx.checkpoint}) ... return result end}
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

-- run{name, dir, members, run, fresh} -> {results in member order}
function sweep.run(opts)
  local dir = opts.dir or ("results/" .. opts.name)
  core.mkdirs(dir)
  local results = {}
  for i, member in ipairs(opts.members) do
    if type(member.name) ~= "string" then util.fail("sweep '%s': member %d has no name", opts.name, i) end
    local settings = util.serialize(member)
    local state_path = string.format("%s/%s.result", dir, member.name)
    local ckpt = string.format("%s/%s.ckpt", dir, member.name)
    local stored = not opts.fresh and read_file(state_path)
    local result
    if stored then
      local ok, state = pcall(util.deserialize, stored)
      if not ok or type(state) ~= "table" then
        io.stderr:write(string.format("nnrun: %s is damaged; running %s again\n", state_path, member.name))
      elseif state.settings == settings then
        result = state.result
        io.stderr:write(string.format("nnrun: %s [%d/%d] done earlier (%s)\n", member.name, i, #opts.members, state_path))
      end
    end
    if opts.fresh then os.remove(ckpt) end
    if not result then
      io.stderr:write(string.format("nnrun: %s [%d/%d]\n", member.name, i, #opts.members))
      result = opts.run(member, {checkpoint = ckpt, index = i, count = #opts.members, dir = dir})
      core.write_file(state_path, util.serialize{settings = settings, result = result})
      os.remove(ckpt)
    end
    results[i] = result
  end
  return results
end

-- The stored result of one member (another experiment reading this one's numbers), or nil.
function sweep.load(dir, name)
  local stored = read_file(string.format("%s/%s.result", dir, name))
  if not stored then return nil end
  local ok, state = pcall(util.deserialize, stored)
  return ok and type(state) == "table" and state.result or nil
end

return sweep
