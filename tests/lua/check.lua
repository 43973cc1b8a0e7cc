-- check: assertions for Lua tests run by nnrun. Each test file ends with check.done(), which prints
-- "N passed, N failed" and exits non-zero on any failure.
local check = {passed = 0, failed = 0}

local function where()
  local info = debug.getinfo(3, "Sl")
  return info.short_src .. ":" .. info.currentline
end

local function result(ok, message)
  if ok then
    check.passed = check.passed + 1
  else
    check.failed = check.failed + 1
    io.stderr:write(where(), ": ", message, "\n")
  end
  return ok
end

function check.ok(cond, message) return result(cond, message or "expected a true value") end

function check.eq(got, want, message)
  return result(got == want, (message or "values differ") ..
    ": got " .. tostring(got) .. ", want " .. tostring(want))
end

-- |got - want| <= tol (absolute) or relative to |want| when rel is true.
function check.near(got, want, tol, message)
  local ok = type(got) == "number" and math.abs(got - want) <= tol
  return result(ok, (message or "not near") .. ": got " .. tostring(got) .. ", want " ..
    tostring(want) .. " +- " .. tostring(tol))
end

-- fn must raise an error whose message contains `pattern` (plain text).
function check.fails(fn, pattern, message)
  local ok, err = pcall(fn)
  if ok then return result(false, (message or "expected an error") .. " containing '" .. pattern .. "'") end
  return result(tostring(err):find(pattern, 1, true) ~= nil,
    (message or "wrong error") .. ": got '" .. tostring(err) .. "', want it to contain '" .. pattern .. "'")
end

function check.done()
  print(string.format("%d passed, %d failed", check.passed, check.failed))
  os.exit(check.failed == 0 and 0 or 1)
end

return check
