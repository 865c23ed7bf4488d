-- bin/aurous, the command line, run as a child process against the mock:
-- outputs, --json documents, exit codes (0 ok, 1 API/transport, 2 usage).
local api = require("helpers.api")
local mock = require("helpers.mock")

local LUA = os.getenv("AUROUS_TEST_LUA") or "lua5.4"

local function cwd()
  local p = io.popen("pwd")
  local d = p:read("*l")
  p:close()
  return d
end
local ROOT = cwd()
local CLI = ROOT .. "/bin/aurous"

local function shq(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function file_size(path)
  local s = api.read(path)
  return s and #s or nil
end

describe("bin/aurous", function()
  local m

  setup(function()
    m = mock.start{ latency = 0.2 }
  end)

  teardown(function()
    if m then m:stop() end
  end)

  -- Runs the CLI with `args` (a list); returns { code, out, err }.
  -- env: extra variables (false unsets one).
  local function run(args, env)
    local vars = {
      AUROUS_BASE_URL = m.url,
      AUROUS_API_KEY = m.api_key,
      LUA_PATH = ROOT .. "/lua/?.lua;" .. ROOT .. "/lua/?/init.lua;;",
      LUA_CPATH = ROOT .. "/build/" .. LUA .. "/?.so;;",
      TERM = "dumb",
    }
    for k, v in pairs(env or {}) do vars[k] = v end
    local parts = {}
    for k, v in pairs(vars) do -- env wants its -u options before the assignments
      if v == false then table.insert(parts, 1, "-u " .. k) else parts[#parts + 1] = k .. "=" .. shq(v) end
    end
    local quoted = {}
    for i, a in ipairs(args) do quoted[i] = shq(a) end
    local errfile = os.tmpname()
    -- from /tmp: the CLI must not depend on the working directory
    local cmd = string.format("cd /tmp && env %s %s %s %s 2>%s; echo \"__exit=$?\"",
      table.concat(parts, " "), LUA, shq(CLI), table.concat(quoted, " "), shq(errfile))
    local p = io.popen(cmd)
    local all = p:read("*a")
    p:close()
    local err = api.read(errfile) or ""
    os.remove(errfile)
    local out, code = all:match("^(.-)__exit=(%d+)%s*$")
    return { code = tonumber(code), out = out or all, err = err }
  end

  local function decode(s)
    local v, derr = mock.json_decode(s)
    assert(v ~= nil, "stdout is not one JSON document: " .. tostring(derr) .. "\n" .. s)
    return v
  end

  describe("usage", function()
    it("--help prints the commands and exits 0", function()
      local r = run{ "--help" }
      assert.equal(0, r.code)
      assert.matches("Usage: aurous", r.out, 1, true)
      assert.matches("images create", r.out, 1, true)
      assert.matches("balance", r.out, 1, true)
    end)

    it("prints per-command help", function()
      local r = run{ "images", "create", "--help" }
      assert.equal(0, r.code)
      assert.matches("Usage: aurous images create PROMPT", r.out, 1, true)
      assert.matches("--wait", r.out, 1, true)
      r = run{ "help", "images", "list" }
      assert.equal(0, r.code)
      assert.matches("--limit", r.out, 1, true)
      r = run{ "balance", "-h" }
      assert.equal(0, r.code)
      assert.matches("Usage: aurous balance", r.out, 1, true)
    end)

    it("exits 2 without a command", function()
      local r = run{}
      assert.equal(2, r.code)
      assert.matches("Usage: aurous", r.out, 1, true)
    end)

    it("exits 2 on an unknown command, naming it", function()
      local r = run{ "frobnicate" }
      assert.equal(2, r.code)
      assert.matches("unknown command 'frobnicate'", r.err, 1, true)
      assert.matches("--help", r.err, 1, true)
      assert.equal("", r.out)
    end)

    it("exits 2 on a missing prompt, an unknown option, a bad number", function()
      local r = run{ "images", "create" }
      assert.equal(2, r.code)
      assert.matches("PROMPT is required", r.err, 1, true)
      r = run{ "images", "list", "--frob" }
      assert.equal(2, r.code)
      assert.matches("unknown option --frob", r.err, 1, true)
      r = run{ "images", "list", "--limit", "many" }
      assert.equal(2, r.code)
      assert.matches("--limit needs a whole number", r.err, 1, true)
      r = run{ "images", "get" }
      assert.equal(2, r.code)
    end)

    it("exits 2 on an argument the library rejects before any I/O", function()
      local before = #m:requests()
      local r = run{ "images", "create", "a fox", "--size", "9k_1_1" }
      assert.equal(2, r.code)
      assert.matches("size", r.err, 1, true)
      assert.equal(before, #m:requests())
    end)

    it("exits 2 without an API key", function()
      local r = run({ "balance" }, { AUROUS_API_KEY = false })
      assert.equal(2, r.code)
      assert.matches("API key", r.err, 1, true)
    end)
  end)

  describe("commands", function()
    it("balance prints the credits; --json prints the balance object", function()
      local r = run{ "balance" }
      assert.equal(0, r.code, r.err)
      assert.matches("available:", r.out, 1, true)
      r = run{ "--json", "balance" }
      assert.equal(0, r.code, r.err)
      local b = decode(r.out)
      assert.equal("balance", b.object)
      assert.is_number(b.credits)
    end)

    it("images create prints the new generation; --json as one document", function()
      local r = run{ "images", "create", "a red fox" }
      assert.equal(0, r.code, r.err)
      assert.matches("^created img_", r.out)
      r = run{ "images", "create", "a red fox", "--json", "--size", "2k_16_9" }
      assert.equal(0, r.code, r.err)
      local g = decode(r.out)
      assert.equal("generation", g.object)
      assert.is_string(g.id)
      assert.equal("2k_16_9", g.size_preset)
    end)

    it("images create --wait --out waits, downloads and keeps stdout pure JSON", function()
      local path = api.tmpname(".png")
      local r = run{ "--json", "images", "create", "a red fox", "--wait", "--out", path }
      assert.equal(0, r.code, r.err)
      local g = decode(r.out)
      assert.equal("succeeded", g.status)
      assert.is_true((file_size(path) or 0) > 0)
      -- stderr is not a terminal here: no progress bar
      assert.is_nil(r.err:find("\r", 1, true))
      os.remove(path)
    end)

    it("images create --wait in human form shows the result", function()
      local path = api.tmpname(".png")
      local r = run{ "images", "create", "a red fox", "--out", path }
      assert.equal(0, r.code, r.err)
      assert.matches("succeeded", r.out, 1, true)
      assert.matches("saved " .. path, r.out, 1, true)
      os.remove(path)
    end)

    it("images list --limit pages; images get shows one", function()
      assert.equal(0, run{ "images", "create", "one" }.code)
      assert.equal(0, run{ "images", "create", "two" }.code)
      local r = run{ "images", "list", "--limit", "2", "--json" }
      assert.equal(0, r.code, r.err)
      local page = decode(r.out)
      assert.equal(2, #page.data)
      assert.is_boolean(page.has_more)
      local id = page.data[1].id
      r = run{ "images", "get", id }
      assert.equal(0, r.code, r.err)
      assert.matches(id, r.out, 1, true)
      r = run{ "images", "list", "--limit=1" }
      assert.equal(0, r.code, r.err)
      assert.matches("img_", r.out, 1, true)
    end)

    it("exits 1 on an API error, with the error on stderr (and as JSON with --json)", function()
      local r = run{ "images", "get", "img_doesnotexist" }
      assert.equal(1, r.code)
      assert.matches("not_found", r.err, 1, true)
      r = run{ "--json", "images", "get", "img_doesnotexist" }
      assert.equal(1, r.code)
      local doc = decode(r.out)
      assert.equal("not_found", doc.error.type)
      assert.equal(404, doc.error.status)
    end)

    it("exits 1 on an authentication error and never prints the key", function()
      local r = run({ "balance" }, { AUROUS_API_KEY = mock.revoked_key })
      assert.equal(1, r.code)
      assert.matches("authentication", r.err, 1, true)
      assert.is_nil((r.out .. r.err):find(mock.revoked_key, 1, true))
    end)

    it("exits 1 on a transport error", function()
      local r = run({ "balance" }, { AUROUS_BASE_URL = "http://127.0.0.1:9" })
      assert.equal(1, r.code)
      assert.matches("connection", r.err, 1, true)
    end)
  end)
end)
