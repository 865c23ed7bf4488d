-- The rockspec lists every C source and every Lua module of the tree (and nothing
-- that is not there), so that `luarocks make` installs what the specs test.
local ROCKSPEC = "aurous-scm-1.rockspec"

local function lines_of(cmd)
  local p = assert(io.popen(cmd))
  local out = {}
  for line in p:lines() do out[#out + 1] = line end
  p:close()
  table.sort(out)
  return out
end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() return true end
  return false
end

-- Loads the rockspec as LuaRocks does: a chunk run in an empty environment.
local function load_rockspec(path)
  local f = assert(io.open(path, "rb"))
  local src = f:read("*a")
  f:close()
  local env = {}
  local chunk, err
  if setfenv then
    chunk, err = loadstring(src, "@" .. path)
    if chunk then setfenv(chunk, env) end
  else
    chunk, err = load(src, "@" .. path, "t", env)
  end
  assert(chunk, err)
  chunk()
  return env
end

-- lua/aurous/resources/files.lua → aurous.resources.files; lua/aurous/init.lua → aurous
local function module_name(path)
  local name = path:gsub("^lua/", ""):gsub("%.lua$", ""):gsub("/", ".")
  return (name:gsub("%.init$", ""))
end

local C_MODULES = { "aurous.core", "aurous.core.http", "aurous.core.crypto" }

describe("the rockspec", function()
  local spec = load_rockspec(ROCKSPEC)
  local modules = spec.build and spec.build.modules or {}

  it("loads and describes a builtin build", function()
    assert.equal("aurous", spec.package)
    assert.equal("builtin", spec.build.type)
    assert.is_table(modules["aurous.core"])
    assert.is_table(modules["aurous.core.http"])
    assert.is_table(modules["aurous.core.crypto"])
  end)

  it("compiles every src/*.c into one of the C modules, once", function()
    local listed = {}
    for _, m in ipairs(C_MODULES) do
      for _, s in ipairs(modules[m].sources) do
        assert.is_nil(listed[s], s .. " is listed twice")
        listed[s] = true
      end
    end
    local missing = {}
    for _, c in ipairs(lines_of("find src -maxdepth 1 -name '*.c'")) do
      c = c:gsub("^%./", "")
      if not listed[c] then missing[#missing + 1] = c end
    end
    assert.are.same({}, missing, "C sources missing from " .. ROCKSPEC)
  end)

  it("lists only C sources that exist", function()
    local gone = {}
    for _, m in ipairs(C_MODULES) do
      for _, s in ipairs(modules[m].sources) do
        if not exists(s) then gone[#gone + 1] = s end
      end
    end
    assert.are.same({}, gone)
  end)

  it("installs every lua/aurous/**.lua under its module name", function()
    local missing = {}
    for _, path in ipairs(lines_of("find lua/aurous -name '*.lua'")) do
      local name = module_name(path)
      if modules[name] ~= path then missing[#missing + 1] = string.format("[%q] = %q", name, path) end
    end
    assert.are.same({}, missing, "Lua modules missing from " .. ROCKSPEC)
  end)

  it("lists only Lua modules that exist", function()
    local gone = {}
    for name, v in pairs(modules) do
      if type(v) == "string" and not exists(v) then gone[#gone + 1] = name .. " = " .. v end
    end
    assert.are.same({}, gone)
  end)

  it("installs the command line", function()
    assert.equal("bin/aurous", spec.build.install.bin.aurous)
    assert.is_true(exists("bin/aurous"))
  end)

  it("declares and links libcurl, cJSON and OpenSSL", function()
    local ext = spec.external_dependencies
    assert.is_table(ext.CURL)
    assert.equal("cjson/cJSON.h", ext.CJSON.header) -- the code includes <cjson/cJSON.h>
    assert.is_table(ext.OPENSSL)
    local libs = {}
    for _, m in ipairs(C_MODULES) do
      for _, l in ipairs(modules[m].libraries) do libs[l] = true end
    end
    assert.is_true(libs.curl and libs.cjson and libs.crypto)
  end)
end)

describe("the sources", function()
  -- busted runs this under every interpreter (5.4, 5.3, 5.1, LuaJIT): a construct
  -- that one of them cannot parse (//, goto, <close>, bitwise operators) fails here.
  it("parse under " .. ((type(jit) == "table" and jit.version) or _VERSION), function()
    local bad = {}
    local files = lines_of("find lua bin examples -name '*.lua' -o -path bin/aurous")
    for _, path in ipairs(files) do
      local chunk, err = loadfile(path)
      if not chunk then bad[#bad + 1] = err end
    end
    assert.is_true(#files > 10)
    assert.are.same({}, bad)
  end)
end)
