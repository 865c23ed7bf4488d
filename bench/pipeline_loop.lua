-- bench/pipeline_loop.lua: N calls of client.account:balance() through the whole
-- Lua pipeline (argument checks, headers, retries bookkeeping, decode, meta) with
-- the transfer replaced by a canned reply: no I/O, so callgrind counts (run by
-- bench/instructions.lua) vary by about 0.1 k between runs, where a real request's
-- vary by ±2 k. Measures the client's own Lua before and after a change.
--
--   lua bench/pipeline_loop.lua N
package.path = "bench/lib/?.lua;" .. package.path
local F = require("fixtures")
local n = assert(tonumber(arg[1]), "usage: pipeline_loop.lua N")
local core = require("aurous.core")
local loop = require("aurous.loop")

local raw_headers = "HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Mon, 23 Nov 2026 00:16:01 GMT\r\n"
  .. "Content-Type: application/json\r\nContent-Length: " .. #F.BALANCE .. "\r\nConnection: keep-alive\r\n"
local canned = setmetatable({}, { __index = {
  close = function() end,
  reply = function() return 200, F.BALANCE, raw_headers, nil, nil, nil end,
} })
assert(core.transfer) -- loads the HTTP half first: loading it later would copy the real one back
local made = 0
core.transfer = function() made = made + 1 return canned end
loop.perform = function() return true end

local aurous = require("aurous")
local client = aurous.new{ api_key = F.API_KEY, base_url = "http://127.0.0.1:9", max_retries = 0 }
for _ = 1, n do
  local balance = client.account:balance()
  assert(balance and balance.object == "balance")
end
assert(made == n, "the canned transfer was not the one used")
