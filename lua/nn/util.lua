-- nn.util: small helpers shared by the library: the user's script position for errors, number
-- formatting, and a serialiser for the training state stored in checkpoints.
local core = require "nn._core"

local util = {}

local LIBRARY = core.source_root .. "/lua/nn/"

-- "experiments/mlp.lua:7": the first stack frame outside the nn library, so that errors and
-- graph nodes name the user's line (nngraph's habit), not ours.
function util.where()
  for level = 2, 50 do
    local info = debug.getinfo(level, "Sl")
    if not info then break end
    local src = info.source
    if src:sub(1, 1) == "@" and src:sub(2, #LIBRARY + 1) ~= LIBRARY and info.currentline > 0 then
      return info.short_src .. ":" .. info.currentline
    end
  end
  return "?"
end

-- Raises message at the user's script line.
function util.fail(fmt, ...)
  error(util.where() .. ": " .. string.format(fmt, ...), 0)
end

-- 1796010 -> "1,796,010"
function util.commas(n)
  local s = string.format("%d", math.floor(n + 0.5))
  local sign, digits = s:match("^(-?)(%d+)$")
  digits = digits:reverse():gsub("(%d%d%d)", "%1,"):reverse():gsub("^,", "")
  return sign .. digits
end

-- Human sizes: 12345678 -> "12.3 MB"
function util.bytes(n)
  local units = {"B", "KB", "MB", "GB", "TB"}
  local u = 1
  while n >= 1000 and u < #units do n, u = n / 1000, u + 1 end
  return u == 1 and string.format("%d B", n) or string.format("%.1f %s", n, units[u])
end

-- Seconds as "1m05s" or "3.2s".
function util.duration(s)
  if s >= 3600 then return string.format("%dh%02dm", s // 3600, (s % 3600) // 60) end
  if s >= 60 then return string.format("%dm%02ds", s // 60, math.floor(s % 60)) end
  return string.format("%.1fs", s)
end

-- Serialises numbers, strings, booleans and nested tables of them as a Lua expression.
function util.serialize(v)
  local t = type(v)
  if t == "number" then
    if v ~= v or v == math.huge or v == -math.huge then return string.format("(%s)", v ~= v and "0/0" or (v > 0 and "1/0" or "-1/0")) end
    return math.type(v) == "integer" and string.format("%d", v) or string.format("%.17g", v)
  elseif t == "string" then return string.format("%q", v)
  elseif t == "boolean" then return tostring(v)
  elseif t == "table" then
    local parts = {}
    for k, x in pairs(v) do parts[#parts + 1] = "[" .. util.serialize(k) .. "]=" .. util.serialize(x) end
    table.sort(parts)
    return "{" .. table.concat(parts, ",") .. "}"
  end
  error("cannot serialise a " .. t)
end

-- The value serialize wrote, read by a strict parser in C (src/lua/nn_lua_state.c) that runs
-- nothing: a damaged or hostile state file is an error naming the byte, never code.
util.deserialize = core.deserialize

-- Command-line options: parse{"--epochs", "3", "--quick"} -> {epochs = 3, quick = true}.
-- spec lists the accepted options with their kind ("number", "string" or "flag") so a typo is
-- an error that lists what exists.
function util.args(argv, spec)
  local out, i = {}, 1
  while i <= #argv do
    local a = argv[i]
    local key = a:match("^%-%-([%w_-]+)$")
    if not key then error(string.format("unexpected argument '%s' (options: %s)", a, util.option_list(spec)), 0) end
    key = key:gsub("-", "_")
    local kind = spec[key]
    if not kind then error(string.format("unknown option --%s (options: %s)", key:gsub("_", "-"), util.option_list(spec)), 0) end
    if kind == "flag" then
      out[key] = true
    else
      local v = argv[i + 1]
      if v == nil then error(string.format("option --%s needs a value", key), 0) end
      if kind == "number" then
        local n = tonumber(v)
        if not n then error(string.format("option --%s needs a number, got '%s'", key, v), 0) end
        v = n
      end
      out[key] = v
      i = i + 1
    end
    i = i + 1
  end
  return out
end

function util.option_list(spec)
  local names = {}
  for k, kind in pairs(spec) do names[#names + 1] = "--" .. k:gsub("_", "-") .. (kind == "flag" and "" or " " .. kind:upper()) end
  table.sort(names)
  return table.concat(names, ", ")
end

return util
