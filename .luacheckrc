-- luacheck config for aurous-lua: code must run on Lua 5.1, 5.3, 5.4 and LuaJIT,
-- so the base is "min" (the globals every version has) plus the few guarded
-- version-specific ones the code checks for before use.
std = "min"
read_globals = {
  "jit",                    -- LuaJIT's module: read to tell the interpreter apart
  "unpack",                 -- 5.1 / LuaJIT, always as `table.unpack or unpack`
  table = { fields = { "unpack", "pack" } },
  math = { fields = { "type", "tointeger", "maxinteger", "mininteger", "ult" } },
  coroutine = { fields = { "close" } },
  "setfenv", "loadstring",  -- 5.1 fallbacks, guarded
}
max_line_length = false
codes = true
exclude_files = { "build/", "doc/", "luarocks/", "spec/mock/" }

files["spec/"] = { std = "+busted" }
files["spec/nvim/"] = { globals = { "vim" } }  -- the test stubs vim.notify
files["spec/oom/"] = { std = "+busted", read_globals = { "oom" } } -- spec/oom/host.c's allocator
files["examples/nvim/"] = { read_globals = { "vim" } }
files["examples/love/"] = { globals = { "love" } }
