--- Runs Lua source in a child interpreter: the one the specs run on
-- (AUROUS_TEST_LUA, else this one's name), with this process's environment
-- (LUA_PATH, LUA_CPATH). For what a fresh Lua state must show, or a crash must
-- not take down busted.
--
--   local child = require("helpers.child")
--   local out, rc = child.run(code)   -- stdout and stderr together, exit status
local child = {}

function child.interpreter()
  local chosen = os.getenv("AUROUS_TEST_LUA")
  if chosen and chosen ~= "" then return chosen end
  if rawget(_G, "jit") then return "luajit" end
  return "lua" .. _VERSION:match("%d+%.%d+")
end

function child.run(code)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(code)
  f:close()
  local p = assert(io.popen(child.interpreter() .. " " .. path .. " 2>&1; echo \"rc=$?\""))
  local out = p:read("*a")
  p:close()
  os.remove(path)
  local printed, rc = out:match("^(.*)rc=(%d+)\n$")
  return printed or out, tonumber(rc)
end

return child
