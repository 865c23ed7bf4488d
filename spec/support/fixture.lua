--- Starts and stops spec/support/http_fixture.py for the HTTP specs.
-- Works on Lua 5.1-5.4 and LuaJIT: the server's stdin is our io.popen pipe
-- (closing it stops the server, also if we die), its stdout goes to a temp file
-- from which the port is read.
--
--   local fixture = require("support.fixture")
--   local srv = fixture.start()   -- srv.port, srv.closed_port, srv:url("/echo")
--   srv:stop()
local M = {}

local function here()
  local src = debug.getinfo(1, "S").source
  local dir = src:match("^@(.*)[/\\][^/\\]*$")
  return dir or "spec/support"
end

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local sleep
do
  local ok, core = pcall(require, "aurous.core")
  if ok and type(core) == "table" and core.sleep then
    sleep = core.sleep
  else
    sleep = function(s) os.execute("sleep " .. tostring(s)) end
  end
end

local Server = {}
Server.__index = Server

function Server:url(path)
  return ("http://127.0.0.1:%d"):format(self.port) .. (path or "/")
end

function Server:stop()
  if self.pipe then
    self.pipe:close() -- EOF on the server's stdin; waits for it to exit
    self.pipe = nil
  end
  if self.outfile then
    os.remove(self.outfile)
    self.outfile = nil
  end
end

--- Starts the fixture; raises if it does not report a port within `timeout` s.
function M.start(timeout)
  local outfile = os.tmpname()
  local script = here() .. "/http_fixture.py"
  local cmd = "exec python3 " .. shell_quote(script) .. " > " .. shell_quote(outfile)
  local pipe = assert(io.popen(cmd, "w"))
  local srv = setmetatable({ pipe = pipe, outfile = outfile }, Server)
  local deadline = os.time() + (timeout or 10)
  while true do
    local f = io.open(outfile, "r")
    if f then
      local port = f:read("*l")
      local closed = f:read("*l")
      f:close()
      if port and closed then
        srv.port = assert(tonumber(port), "fixture: bad port line")
        srv.closed_port = assert(tonumber(closed), "fixture: bad closed-port line")
        return srv
      end
    end
    if os.time() > deadline then
      srv:stop()
      error("fixture: the HTTP server did not start")
    end
    sleep(0.02)
  end
end

--- The deterministic body of /bytes?n=N.
function M.pattern(n)
  local alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
  return string.rep(alphabet, math.floor(n / #alphabet) + 1):sub(1, n)
end

function M.hex(s)
  return (s:gsub(".", function(c) return ("%02x"):format(c:byte()) end))
end

-- A minimal JSON decoder for the fixture's answers (independent of aurous.json).
local decode_value

local function skip(s, i)
  return s:find("[^ \t\r\n]", i) or #s + 1
end

local function utf8_char(cp)
  if cp < 0x80 then return string.char(cp) end
  if cp < 0x800 then return string.char(0xC0 + math.floor(cp / 0x40), 0x80 + cp % 0x40) end
  if cp < 0x10000 then
    return string.char(0xE0 + math.floor(cp / 0x1000), 0x80 + math.floor(cp / 0x40) % 0x40, 0x80 + cp % 0x40)
  end
  return string.char(0xF0 + math.floor(cp / 0x40000), 0x80 + math.floor(cp / 0x1000) % 0x40,
    0x80 + math.floor(cp / 0x40) % 0x40, 0x80 + cp % 0x40)
end

local escapes = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }

local function decode_string(s, i)
  local out, j = {}, i + 1
  while true do
    local c = s:sub(j, j)
    if c == "" then error("json: unterminated string") end
    if c == '"' then return table.concat(out), j + 1 end
    if c == "\\" then
      local e = s:sub(j + 1, j + 1)
      if e == "u" then
        local cp = tonumber(s:sub(j + 2, j + 5), 16)
        j = j + 6
        if cp >= 0xD800 and cp < 0xDC00 and s:sub(j, j + 1) == "\\u" then
          local lo = tonumber(s:sub(j + 2, j + 5), 16)
          cp = 0x10000 + (cp - 0xD800) * 0x400 + (lo - 0xDC00)
          j = j + 6
        end
        out[#out + 1] = utf8_char(cp)
      else
        out[#out + 1] = assert(escapes[e], "json: bad escape")
        j = j + 2
      end
    else
      out[#out + 1] = c
      j = j + 1
    end
  end
end

function decode_value(s, i)
  i = skip(s, i)
  local c = s:sub(i, i)
  if c == "{" then
    local t = {}
    i = skip(s, i + 1)
    if s:sub(i, i) == "}" then return t, i + 1 end
    while true do
      local k
      k, i = decode_string(s, skip(s, i))
      i = skip(s, i)
      assert(s:sub(i, i) == ":", "json: ':' expected")
      t[k], i = decode_value(s, i + 1)
      i = skip(s, i)
      local d = s:sub(i, i)
      if d == "}" then return t, i + 1 end
      assert(d == ",", "json: ',' expected")
      i = i + 1
    end
  elseif c == "[" then
    local t, n = {}, 0
    i = skip(s, i + 1)
    if s:sub(i, i) == "]" then return t, i + 1 end
    while true do
      n = n + 1
      t[n], i = decode_value(s, i)
      i = skip(s, i)
      local d = s:sub(i, i)
      if d == "]" then return t, i + 1 end
      assert(d == ",", "json: ',' expected")
      i = i + 1
    end
  elseif c == '"' then
    return decode_string(s, i)
  elseif s:sub(i, i + 3) == "true" then
    return true, i + 4
  elseif s:sub(i, i + 4) == "false" then
    return false, i + 5
  elseif s:sub(i, i + 3) == "null" then
    return nil, i + 4
  else
    local num = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", i)
    assert(num and #num > 0, "json: unexpected character at " .. i)
    return tonumber(num), i + #num
  end
end

function M.json(s)
  local v = decode_value(s, 1)
  return v
end

return M
