-- bench/lib/bench.lua: shared plumbing of the benchmarks (statistics, shell,
-- temp dirs, nginx under the bench's control, result rows).
--
-- Every figure the benches report is a ratio of two things measured side by
-- side in the same run (these machines are noisy); absolute numbers are shown
-- for orientation only.
local B = {}

local core_ok, core = pcall(require, "aurous.core")

------------------------------------------------------------------ clock
function B.now()
  if core_ok and core.now then return core.now() end
  local ok, socket = pcall(require, "socket")
  if ok then return socket.gettime() end
  return os.time()
end

function B.sleep(s)
  if core_ok and core.sleep then return core.sleep(s) end
  os.execute("sleep " .. s)
end

------------------------------------------------------------- statistics
function B.sorted(t)
  local c = {}
  for i = 1, #t do c[i] = t[i] end
  table.sort(c)
  return c
end

-- Nearest-rank percentile (p in 0..100).
function B.percentile(t, p)
  local c = B.sorted(t)
  if #c == 0 then return nil end
  local k = math.max(1, math.min(#c, math.ceil(p / 100 * #c)))
  return c[k]
end

function B.median(t)
  local c = B.sorted(t)
  local n = #c
  if n == 0 then return nil end
  if n % 2 == 1 then return c[(n + 1) / 2] end
  return (c[n / 2] + c[n / 2 + 1]) / 2
end

function B.max(t)
  local m
  for i = 1, #t do if m == nil or t[i] > m then m = t[i] end end
  return m
end

function B.min(t)
  local m
  for i = 1, #t do if m == nil or t[i] < m then m = t[i] end end
  return m
end

------------------------------------------------------------------ shell
function B.shq(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- Runs a shell command, returns its stdout (all of it) and whether it succeeded.
function B.capture(cmd)
  local p = assert(io.popen(cmd, "r"))
  local out = p:read("a")
  local ok = p:close()
  return out, ok
end

function B.write_file(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

function B.read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

function B.tmpdir(tag)
  local out = B.capture("mktemp -d /tmp/aurous-bench-" .. (tag or "x") .. ".XXXXXX")
  local dir = out:match("(%S+)")
  assert(dir, "mktemp failed")
  return dir
end

function B.rmtree(dir)
  if dir and dir:match("^/tmp/aurous%-bench%-") then os.execute("rm -rf " .. B.shq(dir)) end
end

-- The repository root (bench/lib/../..).
function B.root()
  local src = debug.getinfo(1, "S").source
  local dir = src:sub(2):match("^(.*)/bench/lib/[^/]*$")
  if dir == nil or dir == "" then return "." end
  return dir
end

-- A free loopback TCP port (asks the kernel via python3, which the tests need anyway).
function B.free_port()
  local out = B.capture([[python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()']])
  return assert(tonumber(out:match("%d+")), "cannot find a free port")
end

-- The Lua interpreter running this script (for child processes).
function B.interpreter()
  local i = -1
  while arg and arg[i - 1] do i = i - 1 end
  return arg and arg[i] or "lua5.4"
end

--------------------------------------------------------------- /proc
-- VmRSS / VmHWM of a process, in KiB.
function B.proc_status(pid)
  local s = B.read_file("/proc/" .. (pid or "self") .. "/status") or ""
  return { rss = tonumber(s:match("VmRSS:%s*(%d+)")), hwm = tonumber(s:match("VmHWM:%s*(%d+)")) }
end

------------------------------------------------------------------ CPU
-- The command prefix that runs a process on one CPU (the last one), or "" when
-- taskset is missing or AUROUS_BENCH_PIN=0. The request bench runs nginx and every
-- contender there: on these 2-core VMs a request whose client and server sit on
-- different CPUs waits for the other CPU to wake up, which added 40-60 us to a
-- 35 us request at random, depending on where the scheduler put the two
-- processes (an A/A test of the floor against itself spread 0.78-1.28x unpinned,
-- 0.82-1.08x pinned). On one CPU each request costs the work it does.
function B.pin()
  if os.getenv("AUROUS_BENCH_PIN") == "0" then return "" end
  if not B.capture("command -v taskset"):match("%S") then return "" end
  local n = tonumber(B.capture("nproc"):match("%d+")) or 1
  return "taskset -c " .. (n - 1) .. " "
end

------------------------------------------------------------------ nginx
-- Starts nginx (daemon off, one worker) on a free loopback port with a config
-- generated in a temp dir. `locations` is the text of the server block's
-- location directives; `%ROOT%` in it is replaced by the temp dir, where
-- `files` ({name = content}) are written under www/.
-- `prefix`: a command prefix for nginx (B.pin()), or nil.
-- Returns { url, dir, port, pid, stop = fn }.
function B.nginx(files, locations, prefix)
  local bin = os.getenv("NGINX") or "/usr/sbin/nginx"
  local dir = B.tmpdir("nginx")
  os.execute("mkdir -p " .. B.shq(dir .. "/www") .. " " .. B.shq(dir .. "/tmp"))
  for name, content in pairs(files or {}) do
    B.write_file(dir .. "/www/" .. name, content)
  end
  local port = B.free_port()
  local conf = ([[
daemon off;
master_process off;
worker_processes 1;
pid %ROOT%/nginx.pid;
error_log %ROOT%/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path %ROOT%/tmp/body;
  proxy_temp_path %ROOT%/tmp/proxy;
  fastcgi_temp_path %ROOT%/tmp/fastcgi;
  uwsgi_temp_path %ROOT%/tmp/uwsgi;
  scgi_temp_path %ROOT%/tmp/scgi;
  default_type application/json;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  sendfile on;
  tcp_nodelay on;
  etag off;
  server_tokens off;
  absolute_redirect off;
  server {
    listen 127.0.0.1:%PORT%;
    root %ROOT%/www;
]] .. (locations or "") .. [[
  }
}
]]):gsub("%%ROOT%%", dir):gsub("%%PORT%%", tostring(port))
  B.write_file(dir .. "/nginx.conf", conf)
  local cmd = string.format("sh -c 'echo $$ > %s/sh.pid; exec %s%s -p %s -c %s' > %s/stdout 2>&1 &",
    dir, prefix or "", bin, B.shq(dir), B.shq(dir .. "/nginx.conf"), dir)
  os.execute(cmd)
  local pid
  local url = "http://127.0.0.1:" .. port
  for _ = 1, 200 do
    pid = (B.read_file(dir .. "/sh.pid") or ""):match("%d+")
    if pid then
      local out = B.capture("curl -s -o /dev/null -w '%{http_code}' " .. url .. "/__ping 2>/dev/null")
      if out:match("^%d%d%d$") and out ~= "000" then break end
    end
    B.sleep(0.02)
  end
  assert(pid, "nginx did not start: " .. (B.read_file(dir .. "/stdout") or "") .. (B.read_file(dir .. "/error.log") or ""))
  local self = { url = url, dir = dir, port = port, pid = pid }
  function self.stop()
    if self.stopped then return end
    self.stopped = true
    os.execute("kill " .. pid .. " 2>/dev/null")
    B.sleep(0.05)
    B.rmtree(dir)
  end
  return self
end

------------------------------------------------------------- result rows
-- Each bench writes bench/out/<name>.tsv: section, metric, value, target, verdict
-- (run-bench joins them into one table and bench/out/results.md).
local Rows = {}
Rows.__index = Rows

function B.rows(name)
  local self = setmetatable({ name = name, list = {} }, Rows)
  return self
end

-- verdict: true (met), false (missed), nil (no target)
function Rows:add(section, metric, value, target, verdict)
  local v = verdict == nil and "" or (verdict and "met" or "MISSED")
  self.list[#self.list + 1] = { section, metric, value, target or "", v }
  io.write(string.format("  %-58s %-22s %-16s %s\n", metric, value, target or "", v))
  io.stdout:flush()
end

function Rows:note(text)
  self.list[#self.list + 1] = { "note", text, "", "", "" }
  io.write("  note: ", text, "\n")
end

function Rows:save()
  local dir = (os.getenv("AUROUS_BENCH_OUT") or (B.root() .. "/bench/out"))
  os.execute("mkdir -p " .. B.shq(dir))
  local f = assert(io.open(dir .. "/" .. self.name .. ".tsv", "w"))
  for _, r in ipairs(self.list) do
    for i = 1, 5 do r[i] = tostring(r[i]):gsub("[\t\n]", " ") end
    f:write(table.concat(r, "\t"), "\n")
  end
  f:close()
end

function B.fmt(x, digits)
  if x == nil then return "n/a" end
  return string.format("%." .. (digits or 2) .. "f", x)
end

-- "1.23x"
function B.ratio(x)
  if x == nil or x ~= x then return "n/a" end
  return string.format("%.2fx", x)
end

return B
