-- bench/requests/server.lua: what the request benches share: nginx on loopback
-- serving the canned balance and list page, and the C floor built next to it.
--
--   local server = require("requests.server")   (package.path has bench/?.lua)
--   local ngx, floor_bin = server.start(B, F[, prefix])   -- then ngx.url, ngx.stop()
--   (prefix: a command prefix for nginx, B.pin())
--   server.floor_cmd(B, F, floor_bin, url, n, warmup)    -- the floor's command line
local M = {}

M.PATHS = { balance = "/v1/balance", list = "/v1/images?limit=20" }

function M.start(B, F, prefix)
  local ngx = B.nginx({ ["balance.json"] = F.BALANCE, ["list20.json"] = F.page(20, true) }, [[
    location = /v1/balance { alias %ROOT%/www/balance.json; }
    location = /v1/images  { alias %ROOT%/www/list20.json; }
]], prefix)
  local floor_bin = ngx.dir .. "/floor"
  local out, built = B.capture(string.format("cc -O2 -o %s %s $(pkg-config --cflags --libs libcurl libcjson) 2>&1",
    B.shq(floor_bin), B.shq(B.root() .. "/bench/requests/floor.c")))
  if not built then
    ngx.stop()
    error("cannot build floor.c: " .. out)
  end
  return ngx, floor_bin
end

-- The floor's command: the API key and the client's own User-Agent, so that both
-- programs send the same header bytes.
function M.floor_cmd(B, F, floor_bin, url, n, warmup)
  local agent = require("aurous.client").user_agent()
  return string.format("%s %s %d %d %s %s", B.shq(floor_bin), B.shq(url), n, warmup, F.API_KEY, B.shq(agent))
end

return M
