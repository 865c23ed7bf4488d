-- bench/requests/contender.lua: one contender of the request benchmark, run in
-- its own interpreter by bench/requests/run.lua.
--
--   lua contender.lua KIND WORKLOAD BASE_URL N WARMUP
--   KIND: aurous | socket_dkjson | socket_cjson | curl_popen
--   WORKLOAD: balance (GET /v1/balance) | list (GET /v1/images?limit=20, 20 items)
--
-- Prints "seconds <wall> cpu <cpu> checked <n>" for the N timed requests
-- (after WARMUP untimed ones). Every contender sends the same headers, checks
-- the status and decodes the body into Lua tables.
local kind, workload, base, n, warmup = arg[1], arg[2], arg[3], tonumber(arg[4]), tonumber(arg[5])
assert(kind and workload and base and n and warmup, "usage: contender.lua KIND WORKLOAD BASE_URL N WARMUP")

local API_KEY = "al_live_benchkey_0123456789abcdef"
local VERSION = "2026-05-15"
-- the workloads' paths, shared with the benches that start this contender
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local url = base .. assert(require("server").PATHS[workload], "unknown workload " .. tostring(workload))

local request -- () → decoded table
local clock

if kind == "aurous" then
  local aurous = require("aurous")
  local core = require("aurous.core")
  clock = core.now
  local client = aurous.new{ api_key = API_KEY, base_url = base, max_retries = 0 }
  if workload == "list" then
    request = function()
      local page = assert(client.images:list{ limit = 20 })
      return page.data[20] and page
    end
  else
    request = function() return assert(client.account:balance()) end
  end
else
  local socket = require("socket")
  clock = socket.gettime
  local headers = { ["X-Api-Key"] = API_KEY, ["Aurous-Version"] = VERSION, ["Accept"] = "application/json" }
  local decode
  if kind == "socket_dkjson" or kind == "curl_popen_dkjson" then
    local dkjson = require("dkjson")
    decode = function(s) return (dkjson.decode(s)) end
  else
    local cjson = require("cjson")
    decode = cjson.decode
  end
  if kind == "socket_dkjson" or kind == "socket_cjson" then
    local http = require("socket.http")
    local ltn12 = require("ltn12")
    request = function()
      local chunks = {}
      local ok, status = http.request{ url = url, headers = headers, sink = ltn12.sink.table(chunks) }
      assert(ok and status == 200, "HTTP " .. tostring(status))
      return decode(table.concat(chunks))
    end
  elseif kind == "curl_popen" then
    -- what editor plugins do today: one `curl` process per request
    local cmd = string.format("curl -sS --fail -H 'X-Api-Key: %s' -H 'Aurous-Version: %s' -H 'Accept: application/json' '%s'",
      API_KEY, VERSION, url)
    request = function()
      local p = assert(io.popen(cmd, "r"))
      local body = p:read("a")
      assert(p:close(), "curl failed")
      return decode(body)
    end
  else
    error("unknown contender " .. kind)
  end
end

local function check(v)
  if type(v) ~= "table" then error("bad response") end
  if workload == "list" then return #v.data == 20 and 1 or 0 end
  return v.object == "balance" and 1 or 0
end

for _ = 1, warmup do check(request()) end
collectgarbage()
local checked = 0
local c0, w0 = os.clock(), clock()
for _ = 1, n do checked = checked + check(request()) end
local w1, c1 = clock(), os.clock()
io.write(string.format("seconds %.6f cpu %.6f checked %d\n", w1 - w0, c1 - c0, checked))
