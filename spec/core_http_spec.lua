-- aurous.core HTTP: Session, Transfer, Response, against spec/support/http_fixture.py.
local core = require("aurous.core")
local fixture = require("support.fixture")
local child = require("helpers.child")

local srv

local function perform(opts)
  return core.transfer(opts):perform()
end

local function echo(opts)
  local resp, err = perform(opts)
  assert(resp, err and err.message)
  assert.are.equal(200, resp.status)
  return fixture.json(resp.body), resp
end

local function header_of(echoed, name)
  for _, kv in ipairs(echoed.headers) do
    if kv[1]:lower() == name:lower() then return kv[2] end
  end
end

-- Steps `s` until `t` is done (or `limit` seconds pass); returns every finished transfer.
local function run_until_done(s, t, limit)
  local deadline = core.now() + (limit or 10)
  local finished = {}
  while t:state() ~= "done" and core.now() < deadline do
    for _, f in ipairs(s:step(50)) do finished[#finished + 1] = f end
  end
  return finished
end

describe("aurous.core's lazily loaded halves", function()
  -- a child interpreter: this one has loaded them already
  local SCRIPT = [[
local core = require("aurous.core")
local before = package.loaded["aurous.core.http"] ~= nil
local mine = function() end
core.transfer = mine -- a program's wrapper, set before the HTTP half is loaded
local session = core.session
print(before, package.loaded["aurous.core.http"] ~= nil, core.transfer == mine, type(session), type(core.curl_version))
]]

  it("loads the HTTP half on first use, keeping a field the program set before", function()
    local out, rc = child.run(SCRIPT)
    assert.equal("false\ttrue\ttrue\tfunction\tstring\n", out)
    assert.equal(0, rc)
  end)
end)

describe("aurous.core HTTP", function()
  setup(function()
    srv = fixture.start()
  end)

  teardown(function()
    if srv then srv:stop() end
  end)

  describe("request building", function()
    it("sends GET with custom headers and query", function()
      local e = echo{ url = srv:url("/echo?a=1&b=two"), headers = { "X-Aurous-Test: yes", "Accept: application/json" },
        user_agent = "aurous-spec/1" }
      assert.are.equal("GET", e.method)
      assert.are.equal("/echo", e.path)
      assert.are.equal("a=1&b=two", e.query)
      assert.are.equal("yes", header_of(e, "x-aurous-test"))
      assert.are.equal("application/json", header_of(e, "accept"))
      assert.are.equal("aurous-spec/1", header_of(e, "user-agent"))
      assert.are.equal("", e.body)
    end)

    it("sends a POST body as-is, NUL bytes included", function()
      local body = "hello\0wor\255ld"
      local e = echo{ url = srv:url("/echo"), method = "POST", body = body,
        headers = { "Content-Type: application/octet-stream" } }
      assert.are.equal("POST", e.method)
      assert.are.equal(fixture.hex(body), e.body_hex)
      assert.are.equal(tostring(#body), header_of(e, "content-length"))
      assert.are.equal("application/octet-stream", header_of(e, "content-type"))
    end)

    it("sends an empty POST with Content-Length 0", function()
      local e = echo{ url = srv:url("/echo"), method = "POST" }
      assert.are.equal("POST", e.method)
      assert.are.equal("0", header_of(e, "content-length"))
    end)

    it("sends PATCH, PUT and DELETE", function()
      local e = echo{ url = srv:url("/echo"), method = "PATCH", body = '{"a":1}' }
      assert.are.equal("PATCH", e.method)
      assert.are.equal('{"a":1}', e.body)
      e = echo{ url = srv:url("/echo"), method = "PUT", body = "x" }
      assert.are.equal("PUT", e.method)
      assert.are.equal("x", e.body)
      e = echo{ url = srv:url("/echo/item_1"), method = "DELETE" }
      assert.are.equal("DELETE", e.method)
      assert.are.equal("/echo/item_1", e.path)
      assert.are.equal("", e.body)
    end)

    it("sends HEAD without reading a body", function()
      local resp = assert(perform{ url = srv:url("/echo"), method = "HEAD" })
      assert.are.equal(200, resp.status)
      assert.are.equal("", resp.body)
      assert.are.equal(0, resp.size)
      assert.is_truthy(tonumber(resp.headers["content-length"]) > 0)
    end)

    it("passes a 2 MB body through Expect: 100-continue, keeping only the final headers", function()
      local body = string.rep("0123456789abcdef", 131072)
      local resp = assert(perform{ url = srv:url("/echo"), method = "POST", body = body })
      assert.are.equal(200, resp.status)
      local e = fixture.json(resp.body)
      assert.are.equal(#body, #e.body)
      local n = 0
      for _, kv in ipairs(resp.header_list) do
        if kv[1]:lower() == "content-type" then n = n + 1 end
      end
      assert.are.equal(1, n)
    end)

    it("makes transfers from a TransferTemplate: its options, and the url, timeout and body given", function()
      local dropped = setmetatable({}, { __mode = "v" })
      local function make()
        local template = core.transfer_template{ method = "PATCH", headers = { "X-Aurous-Test: templated",
          "X-Api-Key: al_live_secret_0123456789" }, connect_timeout = 5, max_response_size = 4096 }
        assert.are.equal("aurous.TransferTemplate (PATCH)", tostring(template)) -- never the headers
        dropped[1] = template
        return core.transfer(template, srv:url("/echo/a"), 5, "first"),
          core.transfer(template, srv:url("/echo/b?q=1"), nil, nil),
          core.transfer(template, srv:url("/bytes?n=8192"))
      end
      local a, b, big = make()
      collectgarbage()
      collectgarbage()
      assert.is_nil(dropped[1]) -- collected: a transfer needs nothing of its template
      local s = core.session()
      for _, t in ipairs{ a, b, big } do assert(s:add(t)) end
      for _, t in ipairs{ a, b, big } do run_until_done(s, t) end
      local ea, eb = fixture.json(assert(a:result()).body), fixture.json(assert(b:result()).body)
      assert.are.same({ "PATCH", "/echo/a", "", "first" }, { ea.method, ea.path, ea.query, ea.body })
      assert.are.same({ "PATCH", "/echo/b", "q=1", "" }, { eb.method, eb.path, eb.query, eb.body })
      for _, e in ipairs{ ea, eb } do
        assert.are.equal("templated", header_of(e, "x-aurous-test"))
        assert.are.equal("al_live_secret_0123456789", header_of(e, "x-api-key"))
      end
      local _, err = big:result()
      assert.are.equal("too_large", err.kind) -- the template's max_response_size
      for _, t in ipairs{ a, b, big } do t:close() end
      s:close()
    end)

    it("sends each transfer made from a TransferTemplate to its own URL, a repeated one too", function()
      -- the template keeps its last URL parsed, and a transfer repeating it copies that;
      -- each transfer runs on the pooled handle of the one before (closed after it)
      local s = core.session()
      local function run(t)
        assert(s:add(t))
        run_until_done(s, t)
        local resp, err = t:result()
        t:close()
        return resp, err
      end
      local template = core.transfer_template{ method = "GET" }
      local follow = core.transfer_template{ method = "GET", follow_redirects = true }
      local cases = { -- { template or nil (a table), path, the path and query the server sees }
        { nil, "/echo/first" }, { template, "/echo/a" }, { template, "/echo/a" }, { template, "/echo/ab" },
        { template, "/echo/a?q=1" }, { template, "/echo/a?q=1" }, { nil, "/echo/second" }, { template, "/echo/a" },
        { template, "/echo/./x/../a#f", "/echo/a" }, { template, "/echo/./x/../a#f", "/echo/a" },
        { follow, "/redirect?to=rel", "/rel" }, { follow, "/echo/sub/redirect?to=rel", "/echo/sub/redirect?to=rel" },
        { follow, "/redirect?to=rel", "/rel" }, { template, "/echo/a" },
      }
      for _, c in ipairs(cases) do
        local url = srv:url(c[2])
        local resp = assert(c[1] and run(core.transfer(c[1], url, 5)) or run(core.transfer{ url = url }))
        local e = fixture.json(resp.body)
        local seen = c[3] or c[2]
        assert.are.equal(seen, e.path .. (e.query ~= "" and ("?" .. e.query) or ""))
        -- the effective URL is this transfer's, never the pooled handle's previous one
        assert.are.equal(c[3] and srv:url(seen) or url:gsub("#.*$", ""), (resp.url:gsub("#.*$", "")))
      end
      -- a URL libcurl's parser refuses fails as it always did, and does not stay as the last one
      for _, url in ipairs{ "http://[::1", srv:url("/echo/a"), "http://[::1" } do
        local resp, err = run(core.transfer(template, url, 5))
        if url:find("[", 1, true) then
          assert.is_nil(resp)
          assert.are.same({ "protocol", 3 }, { err.kind, err.curl_code })
        else
          assert.are.equal("/echo/a", fixture.json(resp.body).path)
          assert.are.equal(url, resp.url)
        end
      end
      -- transfers of the same URL keep their own copy: the template may go first
      local dropped = setmetatable({}, { __mode = "v" })
      local function make()
        local t2 = core.transfer_template{ method = "GET" }
        dropped[1] = t2
        return core.transfer(t2, srv:url("/echo/same")), core.transfer(t2, srv:url("/echo/same"))
      end
      local a, b = make()
      collectgarbage()
      collectgarbage()
      assert.is_nil(dropped[1])
      for _, t in ipairs{ a, b } do assert(s:add(t)) end
      for _, t in ipairs{ a, b } do run_until_done(s, t) end
      for _, t in ipairs{ a, b } do
        assert.are.equal("/echo/same", fixture.json(assert(t:result()).body).path)
        t:close()
      end
      s:close()
    end)

    it("checks a TransferTemplate once, and the arguments of a transfer made from it", function()
      local ok, err = pcall(core.transfer_template, { url = "http://x/" })
      assert.is_false(ok)
      assert.matches("'url' is not a transfer template option", err)
      for _, field in ipairs{ "body", "timeout", "parts", "stream", "output_path" } do
        ok, err = pcall(core.transfer_template, { [field] = true })
        assert.is_false(ok)
        assert.matches("'" .. field .. "' is not a transfer template option", err)
      end
      ok, err = pcall(core.transfer_template, { timout = 1 })
      assert.is_false(ok)
      assert.matches("unknown transfer template option 'timout'", err)
      ok, err = pcall(core.transfer_template, { method = "GET POST" })
      assert.is_false(ok)
      assert.matches("bad field 'method' %(an HTTP token expected%)", err)
      ok, err = pcall(core.transfer_template, { headers = { "X-A: b\r\nX-B: c" } })
      assert.is_false(ok)
      assert.matches("bad field 'headers%[1%]'", err)
      ok, err = pcall(core.transfer_template, { connect_timeout = -1 })
      assert.is_false(ok)
      assert.matches("bad field 'connect_timeout'", err)
      local template = core.transfer_template{}
      assert.are.equal("aurous.TransferTemplate (GET)", tostring(template))
      ok, err = pcall(core.transfer, template, nil)
      assert.is_false(ok)
      assert.matches("bad field 'url' %(string expected, got nil%)", err)
      ok, err = pcall(core.transfer, template, "http://x/\0")
      assert.is_false(ok)
      assert.matches("bad field 'url' %(must not contain NUL%)", err)
      ok, err = pcall(core.transfer, template, "http://x/", "5")
      assert.is_false(ok)
      assert.matches("bad field 'timeout' %(number expected, got string%)", err)
      ok, err = pcall(core.transfer, template, "http://x/", 5, {})
      assert.is_false(ok)
      assert.matches("bad field 'body' %(string expected, got table%)", err)
      ok, err = pcall(core.transfer, core.header_list{}, "http://x/")
      assert.is_false(ok)
      assert.matches("aurous.TransferTemplate expected", err)
      ok, err = pcall(core.transfer, nil)
      assert.is_false(ok)
      assert.matches("options table or TransferTemplate expected, got nil", err)
      -- a shared HeaderList stays the program's: the template holds its own reference
      local list = core.header_list{ "X-Aurous-Test: shared" }
      local with_list = core.transfer_template{ headers = list }
      local t = core.transfer(with_list, srv:url("/echo"))
      local resp = assert(t:perform())
      assert.are.equal("shared", header_of(fixture.json(resp.body), "x-aurous-test"))
      t:close()
    end)

    it("sends the lines of a HeaderList, checked once and shared by transfers", function()
      local dropped = setmetatable({}, { __mode = "v" })
      local function two_transfers()
        local list = core.header_list{ "X-Aurous-Test: listed", "X-Api-Key: al_live_secret_0123456789" }
        assert.are.equal("aurous.HeaderList (2 lines)", tostring(list)) -- never the values
        dropped[1] = list
        return core.transfer{ url = srv:url("/echo"), headers = list },
          core.transfer{ url = srv:url("/echo"), headers = list }
      end
      local a, b = two_transfers()
      local s = core.session()
      collectgarbage()
      collectgarbage()
      assert.is_nil(dropped[1]) -- the list was collected: the transfers keep its lines alive
      assert(s:add(a))
      assert(s:add(b))
      run_until_done(s, a)
      run_until_done(s, b)
      for _, t in ipairs{ a, b } do
        local e = fixture.json(assert(t:result()).body)
        assert.are.equal("listed", header_of(e, "x-aurous-test"))
        assert.are.equal("al_live_secret_0123456789", header_of(e, "x-api-key"))
        t:close()
      end
      s:close()
      assert.are.equal("aurous.HeaderList (0 lines)", tostring(core.header_list{}))
      -- checked when built, as a transfer's array is; errors name the line
      local ok, err = pcall(core.header_list, { "Ok: 1", "X-A: b\r\nX-B: c" })
      assert.is_false(ok)
      assert.matches("bad field 'headers%[2%]' %(must not contain CR, LF or NUL%)", err)
      ok, err = pcall(core.header_list, { "Bad Name: x" })
      assert.is_false(ok)
      assert.matches("bad field 'headers%[1%]'", err)
      assert.has_error(function() core.header_list("X-A: 1") end)
      ok, err = pcall(core.transfer, { url = srv:url("/echo"), headers = "X-A: 1" })
      assert.is_false(ok)
      assert.matches("bad field 'headers' %(table or HeaderList expected, got string%)", err)
      ok, err = pcall(core.transfer, { url = srv:url("/echo"), headers = core.session() })
      assert.is_false(ok)
      assert.matches("bad field 'headers' %(table or HeaderList expected, got userdata%)", err)
    end)

    it("rejects header injection (CR, LF, NUL) and malformed headers", function()
      for _, bad in ipairs{ "X-A: b\r\nX-B: c", "X-A: b\nX-B: c", "X-A: b\0c", "X-A: b\r" } do
        local ok, err = pcall(core.transfer, { url = srv:url("/echo"), headers = { "Ok: 1", bad } })
        assert.is_false(ok)
        assert.matches("bad field 'headers%[2%]' %(must not contain CR, LF or NUL%)", err)
      end
      local ok, err = pcall(core.transfer, { url = srv:url("/echo"), headers = { "no colon here" } })
      assert.is_false(ok)
      assert.matches("bad field 'headers%[1%]'", err)
      ok, err = pcall(core.transfer, { url = srv:url("/echo"), headers = { "Bad Name: x" } })
      assert.is_false(ok)
      assert.matches("bad field 'headers%[1%]'", err)
      ok, err = pcall(core.transfer, { url = srv:url("/echo"), user_agent = "x\r\nX-Injected: 1" })
      assert.is_false(ok)
      assert.matches("bad field 'user_agent'", err)
      ok, err = pcall(core.transfer, { url = srv:url("/echo"), method = "GET /evil HTTP/1.1\r\n" })
      assert.is_false(ok)
      assert.matches("bad field 'method'", err)
      ok, err = pcall(core.transfer, { url = srv:url("/echo") .. "\0evil" })
      assert.is_false(ok)
      assert.matches("bad field 'url'", err)
    end)

    it("validates every field, naming it", function()
      local cases = {
        { { url = "http://x/", timeout = "5" }, "bad field 'timeout' %(number expected, got string%)" },
        { { }, "bad field 'url' %(string expected, got nil%)" },
        { { url = 5 }, "bad field 'url' %(string expected, got number%)" },
        { { url = "http://x/", method = 1 }, "bad field 'method' %(string expected, got number%)" },
        { { url = "http://x/", headers = "X: y" }, "bad field 'headers' %(table or HeaderList expected, got string%)" },
        { { url = "http://x/", headers = { 1 } }, "bad field 'headers%[1%]' %(string expected, got number%)" },
        { { url = "http://x/", body = {} }, "bad field 'body' %(string expected, got table%)" },
        { { url = "http://x/", connect_timeout = -1 }, "bad field 'connect_timeout'" },
        { { url = "http://x/", timeout = 0 / 0 }, "bad field 'timeout'" },
        { { url = "http://x/", max_response_size = 1.5 }, "bad field 'max_response_size'" },
        { { url = "http://x/", max_header_size = "1" }, "bad field 'max_header_size' %(number expected, got string%)" },
        { { url = "http://x/", follow_redirects = "yes" }, "bad field 'follow_redirects' %(boolean expected, got string%)" },
        { { url = "http://x/", insecure = 1 }, "bad field 'insecure' %(boolean expected, got number%)" },
        { { url = "http://x/", stream = true, output_path = "/tmp/x" }, "bad field 'stream'" },
        { { url = "http://x/", body = "a", parts = { { name = "a", data = "b" } } }, "bad field 'parts' %(exclusive with 'body'%)" },
        { { url = "http://x/", parts = { { data = "b" } } }, "bad field 'parts%[1%]%.name' %(string expected, got nil%)" },
        { { url = "http://x/", parts = { { name = "a" } } }, "bad field 'parts%[1%]'" },
        { { url = "http://x/", parts = { { name = "a", data = "b", path = "/etc/hostname" } } }, "bad field 'parts%[1%]'" },
        { { url = "http://x/", parts = { "x" } }, "bad field 'parts%[1%]' %(table expected, got string%)" },
        { { url = "http://x/", parts = { { name = "a", data = "b", content_type = 3 } } }, "bad field 'parts%[1%]%.content_type'" },
        { { url = "http://x/", parts = { { name = "a", path = "/nonexistent/file" } } }, "bad field 'parts%[1%]%.path' %(cannot read" },
        -- a directory opens for reading on Linux, and would upload as an empty part
        { { url = "http://x/", parts = { { name = "a", path = "/tmp" } } }, "bad field 'parts%[1%]%.path' %('/tmp' is not a regular file%)" },
        { { url = "http://x/", output_path = "a\0b" }, "bad field 'output_path'" },
        { { url = "http://x/", low_speed_time = -3 }, "bad field 'low_speed_time'" },
      }
      for _, c in ipairs(cases) do
        local ok, err = pcall(core.transfer, c[1])
        assert.is_false(ok)
        assert.matches(c[2], err)
      end
      assert.has_error(function() core.transfer("http://x/") end)
      -- a misspelt option is an error, not silently ignored (like a session's)
      assert.has_error(function() core.transfer{ url = "http://x/", timout = 5 } end, "unknown transfer option 'timout'")
      assert.has_error(function() core.transfer{ "http://x/", url = "http://x/" } end,
        "bad transfer option key (string expected, got number)")
      -- extra arguments are ignored, not returned in the Transfer's place
      assert.equal("aurous.Transfer (GET, new)", tostring(core.transfer({ url = "http://x/" }, "extra")))
    end)
  end)

  describe("multipart", function()
    it("sends data and file parts with filename and content type", function()
      local path = os.tmpname()
      local f = assert(io.open(path, "wb"))
      f:write("file\0contents\n")
      f:close()
      local e = echo{ url = srv:url("/multipart"), method = "POST", parts = {
        { name = "purpose", data = "fine-tune" },
        { name = "blob", data = "bin\0ary", filename = "blob.bin", content_type = "application/octet-stream" },
        { name = "file", path = path, filename = "train.jsonl", content_type = "application/jsonl" },
        { name = "file2", path = path },
      } }
      os.remove(path)
      assert.matches("^multipart/form%-data; boundary=", e.content_type)
      assert.are.equal(4, #e.parts)
      assert.are.equal("purpose", e.parts[1].name)
      assert.are.equal(fixture.hex("fine-tune"), e.parts[1].data_hex)
      assert.is_nil(e.parts[1].filename)
      assert.are.equal("blob", e.parts[2].name)
      assert.are.equal("blob.bin", e.parts[2].filename)
      assert.are.equal("application/octet-stream", e.parts[2].content_type)
      assert.are.equal(fixture.hex("bin\0ary"), e.parts[2].data_hex)
      assert.are.equal("file", e.parts[3].name)
      assert.are.equal("train.jsonl", e.parts[3].filename)
      assert.are.equal("application/jsonl", e.parts[3].content_type)
      assert.are.equal(fixture.hex("file\0contents\n"), e.parts[3].data_hex)
      -- a file part without filename gets the file's base name
      assert.are.equal(path:match("[^/]+$"), e.parts[4].filename)
    end)

    it("sends multipart with a method other than POST", function()
      local resp = assert(perform{ url = srv:url("/multipart"), method = "PUT", parts = { { name = "a", data = "b" } } })
      assert.are.equal(1, #fixture.json(resp.body).parts)
    end)
  end)

  describe("body modes", function()
    it("keeps a binary body in memory", function()
      local resp = assert(perform{ url = srv:url("/bytes?n=100000") })
      assert.are.equal(fixture.pattern(100000), resp.body)
      assert.are.equal(100000, resp.size)
    end)

    it("streams the body to output_path (content-length and chunked)", function()
      for _, q in ipairs{ "/bytes?n=300000", "/bytes?n=300000&chunked=1" } do
        local path = os.tmpname()
        local resp = assert(perform{ url = srv:url(q), output_path = path })
        assert.are.equal("", resp.body)
        assert.are.equal(300000, resp.size)
        local f = assert(io.open(path, "rb"))
        local data = f:read("*a")
        f:close()
        os.remove(path)
        assert.are.equal(fixture.pattern(300000), data)
      end
    end)

    it("creates/truncates output_path even for an empty body", function()
      local path = os.tmpname()
      local f = assert(io.open(path, "wb"))
      f:write("old contents")
      f:close()
      assert(perform{ url = srv:url("/bytes?n=0"), output_path = path })
      f = assert(io.open(path, "rb"))
      assert.are.equal("", f:read("*a"))
      f:close()
      os.remove(path)
    end)

    it("reports kind 'file' when output_path cannot be written", function()
      local resp, err = perform{ url = srv:url("/bytes?n=10"), output_path = "/nonexistent-dir/x/out.bin" }
      assert.is_nil(resp)
      assert.are.equal("file", err.kind)
      assert.matches("cannot open output file", err.message)
    end)

    it("queues the body for t:read() in stream mode", function()
      local s = core.session()
      local t = core.transfer{ url = srv:url("/drip?n=5000&chunks=5&delay=0.05"), stream = true }
      assert(s:add(t))
      local got, reads = {}, 0
      local deadline = core.now() + 10
      while core.now() < deadline do
        s:step(20)
        local chunk = t:read()
        if chunk then
          got[#got + 1] = chunk
          reads = reads + 1
        elseif t:state() == "done" then
          break
        end
      end
      assert.is_nil(t:read())
      assert.are.equal(fixture.pattern(5000), table.concat(got))
      assert.is_true(reads >= 2)
      local resp = assert(t:result())
      assert.are.equal("", resp.body)
      assert.are.equal(5000, resp.size)
      assert.has_error(function() core.transfer{ url = srv:url("/") }:read() end)
      s:close()
    end)
  end)

  describe("responses", function()
    it("gives status, body, raw headers and named header values with t:reply(...)", function()
      local s = core.session()
      local t = core.transfer{ url = srv:url("/headers") }
      assert.has_error(function() t:reply() end, "transfer not finished (new)")
      assert(s:add(t))
      run_until_done(s, t)
      local resp = assert(t:result())
      assert.are.equal(3, select("#", t:reply()))
      -- named values: any case, repeated ones joined as in headers, nil when absent (in place)
      local n = select("#", t:reply("X-MULTI", "x-missing", "set-cookie", "mixed-case-header", "x-folded", "x-empty"))
      assert.are.equal(9, n)
      local status, body, raw, multi, missing, cookie, mixed, folded, empty =
        t:reply("X-MULTI", "x-missing", "set-cookie", "mixed-case-header", "x-folded", "x-empty")
      assert.are.equal(200, status)
      assert.are.equal("headers", body)
      assert.are.equal(resp.raw_headers, raw)
      assert.are.equal("one, two", multi)
      assert.is_nil(missing)
      assert.are.equal("a=1; Path=/, b=2; Path=/", cookie)
      assert.are.equal("MiXeD", mixed)
      assert.are.equal("part one part two", folded)
      assert.are.equal("", empty)
      for name, value in pairs(resp.headers) do -- every header: the same value as the headers table
        assert.are.equal(value, select(4, t:reply(name)), name)
      end
      assert.has_error(function() t:reply(1) end)
      -- past the few headers compared in C, repeats are still joined
      local many = core.transfer{ url = srv:url("/headers?pad=40") }
      assert(s:add(many))
      run_until_done(s, many)
      assert.are.equal("one, two, three", select(4, many:reply("x-multi")))
      assert.are.equal("p", select(4, many:reply("X-Pad-39")))
      -- a failed transfer: nil and the same error as t:result()
      local bad = core.transfer{ url = srv:url("/bytes?n=5000"), max_response_size = 10 }
      assert(s:add(bad))
      run_until_done(s, bad)
      local none, err = bad:reply("x-multi")
      assert.is_nil(none)
      assert.are.equal("too_large", err.kind)
      assert.are.same(err, select(2, bad:result()))
      t:close()
      assert.has_error(function() t:reply() end, "attempt to use a closed transfer")
      s:close()
    end)

    it("builds the headers table of a raw block with core.parse_headers, as a Response does", function()
      for _, path in ipairs{ "/headers", "/headers?pad=40" } do
        local resp = assert(perform{ url = srv:url(path) })
        local parsed = core.parse_headers(resp.raw_headers)
        assert.are.same(resp.headers, parsed)
        assert.are.equal(getmetatable(resp.headers), getmetatable(parsed))
        assert.are.equal("one, two", (parsed["X-Multi"]:gsub(", three$", "")))
      end
      -- only the last response's lines count; folded lines and lines without a colon
      local parsed = core.parse_headers("HTTP/1.1 100 Continue\r\nX-Old: 1\r\n\r\n"
        .. "HTTP/1.1 200 OK\r\nA: 1\r\n b\r\nno colon here\r\na: 2\r\nB:\r\n")
      assert.are.same({ a = "1 b, 2", b = "" }, parsed)
      assert.is_nil(parsed["x-old"])
      assert.are.same({}, core.parse_headers(""))
      assert.has_error(function() core.parse_headers(nil) end)
    end)

    it("has case-insensitive headers, repeated ones joined", function()
      local resp = assert(perform{ url = srv:url("/headers") })
      assert.is_nil(rawget(resp, "header_list")) -- built on first read
      assert.are.equal("a=1; Path=/, b=2; Path=/", resp.headers["set-cookie"])
      assert.are.equal("a=1; Path=/, b=2; Path=/", resp.headers["Set-Cookie"])
      assert.are.equal("one, two", resp.headers["X-MULTI"])
      assert.are.equal("MiXeD", resp.headers["mixed-case-header"])
      assert.are.equal("MiXeD", resp.headers["Mixed-Case-Header"])
      assert.are.equal("", resp.headers["x-empty"])
      assert.is_nil(resp.headers["X-Missing"])
      assert.is_nil(resp.headers[1])
      assert.are.same({ "a=1; Path=/", "b=2; Path=/" }, resp:header_values("SET-COOKIE"))
      assert.are.same({}, resp:header_values("x-missing"))
      assert.are.equal("one", resp:header("x-multi"))
      assert.is_nil(resp:header("x-missing"))
      assert.are.equal("part one part two", resp.headers["x-folded"])
      -- many headers (past the few compared in C): repeats are still joined
      local many = assert(perform{ url = srv:url("/headers?pad=40") })
      assert.are.equal("one, two, three", many.headers["x-multi"])
      assert.are.equal("a=1; Path=/, b=2; Path=/", many.headers["set-cookie"])
      assert.are.equal("p", many.headers["x-pad-39"])
      -- the raw block as received; header_list is built from it on first read
      assert.matches("^HTTP/1%.1 200 ", resp.raw_headers)
      assert.truthy(resp.raw_headers:find("\r\nMixed-Case-Header: MiXeD\r\n", 1, true))
      assert.truthy(resp.raw_headers:find("\r\nX-Folded: part one\r\n\tpart two\r\n", 1, true))
      local list = resp.header_list
      assert.are.equal(list, rawget(resp, "header_list"))
      local seen = {}
      for _, kv in ipairs(list) do seen[#seen + 1] = kv[1] .. "=" .. kv[2] end
      local text = table.concat(seen, "|")
      assert.truthy(text:find("Set-Cookie=a=1; Path=/|Set-Cookie=b=2; Path=/|X-Multi=one|X-Multi=two|"
        .. "Mixed-Case-Header=MiXeD|X-Empty=|X-Folded=part one part two", 1, true), text)
      local names = 0
      for _ in pairs(resp.headers) do names = names + 1 end
      local distinct = {}
      for _, kv in ipairs(list) do distinct[kv[1]:lower()] = true end
      local n_distinct = 0
      for _ in pairs(distinct) do n_distinct = n_distinct + 1 end
      assert.are.equal(n_distinct, names) -- both views come from the same parser
      assert.are.equal("1.1", resp.http_version)
      assert.are.equal(srv:url("/headers"), resp.url)
      assert.is_number(resp.timings.connect)
      assert.is_true(resp.timings.total >= resp.timings.first_byte)
      assert.is_true(resp.timings.first_byte >= resp.timings.connect)
    end)

    it("returns non-2xx statuses as responses", function()
      for _, code in ipairs{ 201, 204, 400, 404, 429, 500, 503 } do
        local resp = assert(perform{ url = srv:url("/status/" .. code) })
        assert.are.equal(code, resp.status)
        if code ~= 204 then assert.are.equal("status " .. code, resp.body) end
      end
    end)

    it("follows redirects when asked, with the effective URL and only the last headers", function()
      local resp = assert(perform{ url = srv:url("/redirect?to=/echo/final"), follow_redirects = true })
      assert.are.equal(200, resp.status)
      assert.are.equal(srv:url("/echo/final"), resp.url)
      assert.is_nil(resp.headers["location"])
      assert.are.equal("/echo/final", fixture.json(resp.body).path)
    end)

    it("does not follow redirects by default", function()
      local resp = assert(perform{ url = srv:url("/redirect?to=/echo/final") })
      assert.are.equal(302, resp.status)
      assert.are.equal("/echo/final", resp.headers["Location"])
      assert.are.equal("redirecting", resp.body)
      assert.are.equal(srv:url("/redirect?to=/echo/final"), resp.url)
    end)

    it("stops at max_redirects with kind 'protocol'", function()
      local resp, err = perform{ url = srv:url("/redirect?to=/echo"), follow_redirects = true, max_redirects = 0 }
      assert.is_nil(resp)
      assert.are.equal("protocol", err.kind)
      assert.are.equal(47, err.curl_code)
    end)

    it("prints as aurous.Response STATUS (N bytes)", function()
      local resp = assert(perform{ url = srv:url("/bytes?n=42") })
      assert.are.equal("aurous.Response 200 (42 bytes)", tostring(resp))
    end)
  end)

  describe("failures", function()
    it("times out on slow headers with kind 'timeout'", function()
      local t0 = core.now()
      local resp, err = perform{ url = srv:url("/slow_headers?delay=3"), timeout = 0.3 }
      assert.is_nil(resp)
      assert.are.equal("timeout", err.kind)
      assert.are.equal(28, err.curl_code)
      assert.matches("Timeout", err.message)
      assert.is_true(core.now() - t0 < 2.5)
    end)

    it("aborts a too slow body (low_speed_limit / low_speed_time) with kind 'timeout'", function()
      local t0 = core.now()
      local resp, err = perform{ url = srv:url("/slow_body?delay=5&n=10"), low_speed_limit = 1000, low_speed_time = 1 }
      assert.is_nil(resp)
      assert.are.equal("timeout", err.kind)
      assert.is_true(core.now() - t0 < 4.5)
    end)

    it("reports a refused connection with kind 'connection'", function()
      local resp, err = perform{ url = ("http://127.0.0.1:%d/"):format(srv.closed_port) }
      assert.is_nil(resp)
      assert.are.equal("connection", err.kind)
      assert.are.equal(7, err.curl_code)
      assert.is_string(err.message)
    end)

    it("reports a connection reset with kind 'connection'", function()
      local resp, err = perform{ url = srv:url("/reset") }
      assert.is_nil(resp)
      assert.are.equal("connection", err.kind)
    end)

    it("reports a bad URL or scheme with kind 'protocol'", function()
      local _, err = perform{ url = "ftp://127.0.0.1/x" }
      assert.are.equal("protocol", err.kind)
      _, err = perform{ url = "http://[::1" }
      assert.are.equal("protocol", err.kind)
      _, err = perform{ url = "file:///etc/passwd" }
      assert.are.equal("protocol", err.kind)
    end)

    it("enforces max_response_size with kind 'too_large' (content-length and chunked)", function()
      local resp, err = perform{ url = srv:url("/bytes?n=100000"), max_response_size = 1000 }
      assert.is_nil(resp)
      assert.are.equal("too_large", err.kind)
      resp, err = perform{ url = srv:url("/bytes?n=100000&chunked=1"), max_response_size = 1000 }
      assert.is_nil(resp)
      assert.are.equal("too_large", err.kind)
      assert.matches("max_response_size", err.message)
      resp = assert(perform{ url = srv:url("/bytes?n=1000&chunked=1"), max_response_size = 1000 })
      assert.are.equal(1000, #resp.body)
    end)

    it("enforces max_header_size with kind 'too_large'", function()
      local resp, err = perform{ url = srv:url("/huge_headers?n=100"), max_header_size = 2000 }
      assert.is_nil(resp)
      assert.are.equal("too_large", err.kind)
      assert.matches("max_header_size", err.message)
      resp = assert(perform{ url = srv:url("/huge_headers?n=100") })
      assert.are.equal(string.rep("v", 90), resp.headers["x-filler-99"])
    end)
  end)

  describe("Session", function()
    it("gives its defaults to transfers that did not set their own", function()
      local s = core.session{ user_agent = "aurous-session/1", timeout = 0.3, connect_timeout = 2 }
      local plain = core.transfer{ url = srv:url("/echo") }
      local own = core.transfer{ url = srv:url("/echo"), user_agent = "aurous-own/1" }
      local slow = core.transfer{ url = srv:url("/slow_headers?delay=2") }
      for _, t in ipairs({ plain, own, slow }) do assert.is_true(s:add(t)) end
      while s:pending() > 0 do s:step(100) end
      assert.are.equal("aurous-session/1", header_of(fixture.json(assert(plain:result()).body), "user-agent"))
      assert.are.equal("aurous-own/1", header_of(fixture.json(assert(own:result()).body), "user-agent"))
      local _, err = slow:result()
      assert.are.equal("timeout", err.kind)
      s:close()
    end)

    it("waits for a fraction of a millisecond too (only 0 never blocks)", function()
      local s = core.session()
      local t0 = core.now()
      for _ = 1, 100 do s:step(0.5) end -- nothing in flight: each call sleeps 1 ms
      assert.is_true(core.now() - t0 >= 0.09, "100 steps of 0.5 ms took " .. (core.now() - t0) .. " s")
      s:close()
    end)

    it("checks its options", function()
      assert.has_error(function() core.session{ colour = 1 } end, "unknown session option 'colour'")
      assert.has_error(function() core.session{ url = "http://x/" } end, "'url' is not a session option")
      assert.has_error(function() core.session{ timeout = "1" } end)
      assert.has_error(function() core.session{ user_agent = "a\nb" } end)
      assert.has_error(function() core.session("x") end)
    end)

    it("advances several transfers together", function()
      local s = core.session()
      local ts = {}
      local t0 = core.now()
      for i = 1, 5 do
        ts[i] = core.transfer{ url = srv:url("/slow_headers?delay=0.5&i=" .. i) }
        assert.is_true(s:add(ts[i]))
      end
      assert.are.equal(5, s:pending())
      assert.are.equal("aurous.Session (5 in flight)", tostring(s))
      local seen = {}
      local deadline = t0 + 10
      while s:pending() > 0 and core.now() < deadline do
        for _, t in ipairs(s:step(100)) do
          seen[#seen + 1] = t
        end
      end
      local elapsed = core.now() - t0
      assert.are.equal(5, #seen)
      assert.is_true(elapsed < 1.5, "took " .. elapsed .. " s: not overlapped")
      for i = 1, 5 do
        assert.are.equal("done", ts[i]:state())
        local resp = assert(ts[i]:result())
        assert.are.equal("ok", resp.body)
      end
      assert.are.same({}, s:step(0))
      s:close()
    end)

    it("drives more transfers at once than its first socket list holds (16)", function()
      local s = core.session()
      local ts, bodies, finished = {}, {}, 0
      for i = 1, 40 do
        ts[i] = core.transfer{ url = srv:url(i % 2 == 0 and ("/slow_headers?delay=0.3&i=" .. i) or ("/bytes?n=" .. (1000 * i))) }
        assert.is_true(s:add(ts[i]))
      end
      local t0 = core.now()
      local deadline = t0 + 20
      while s:pending() > 0 and core.now() < deadline do
        for _, t in ipairs(s:step(50)) do
          finished = finished + 1
          bodies[t] = assert(t:result()).body
        end
      end
      local elapsed = core.now() - t0
      assert.are.equal(40, finished)
      -- every socket watched: no transfer waits for one of libcurl's timers to be looked at
      assert.is_true(elapsed < 4, "took " .. elapsed .. " s: not all driven together")
      for i = 1, 40 do
        if i % 2 == 0 then
          assert.are.equal("ok", bodies[ts[i]])
        else
          assert.are.equal(1000 * i, #bodies[ts[i]])
        end
      end
      assert.are.same({}, s:step(0))
      s:close()
    end)

    it("step(0) never blocks while a slow request is pending", function()
      local s = core.session()
      local t = core.transfer{ url = srv:url("/slow_headers?delay=1") }
      assert(s:add(t))
      for _ = 1, 5 do
        local t0 = core.now()
        assert.are.same({}, s:step(0))
        assert.is_true(core.now() - t0 < 0.1)
      end
      assert.are.equal("running", t:state())
      assert.are.equal(1, s:pending())
      s:close()
      assert.are.equal("done", t:state())
      local resp, err = t:result()
      assert.is_nil(resp)
      assert.are.equal("cancelled", err.kind)
    end)

    it("wait(t, ms) drives until t finishes or ms pass, marking others done", function()
      local s = core.session()
      local slow = core.transfer{ url = srv:url("/slow_headers?delay=0.4") }
      local quick = core.transfer{ url = srv:url("/echo") }
      assert(s:add(slow))
      assert(s:add(quick))
      local t0 = core.now()
      assert.is_false(s:wait(slow, 100)) -- the time passed first
      local waited = core.now() - t0
      assert.is_true(waited >= 0.09 and waited < 0.35, tostring(waited))
      assert.are.equal("done", quick:state()) -- finished meanwhile: marked, not returned
      assert.are.equal(200, assert(quick:result()).status)
      assert.are.equal("running", slow:state())
      assert.is_true(s:wait(slow, 5000))
      assert.is_true(core.now() - t0 >= 0.35)
      assert.are.equal("ok", assert(slow:result()).body)
      assert.are.same({}, s:step(0)) -- neither is handed out again
      assert.are.equal(0, s:pending())
      assert.is_true(s:wait(slow, 0)) -- already done
      -- misuse: errors, no hang
      local fresh = core.transfer{ url = srv:url("/echo") }
      assert.has_error(function() s:wait(fresh, 10) end)
      local other = core.session()
      assert(other:add(fresh))
      assert.has_error(function() s:wait(fresh, 10) end)
      assert.is_true(other:wait(fresh, 5000))
      fresh:close()
      assert.has_error(function() s:wait(fresh, 10) end, "attempt to use a closed transfer")
      assert.has_error(function() s:wait(s, 10) end)
      other:close()
      s:close()
    end)

    it("step(ms) waits when nothing is in flight", function()
      local s = core.session()
      local t0 = core.now()
      assert.are.same({}, s:step(100))
      assert.is_true(core.now() - t0 >= 0.05)
      s:close()
    end)

    it("cancels a transfer mid-flight", function()
      local s = core.session()
      local t = core.transfer{ url = srv:url("/slow_headers?delay=2") }
      local other = core.transfer{ url = srv:url("/echo") }
      assert(s:add(t))
      assert(s:add(other))
      s:step(50)
      assert.are.equal("running", t:state())
      assert.is_true(t:cancel())
      assert.is_false(t:cancel())
      assert.are.equal("done", t:state())
      local resp, err = t:result()
      assert.is_nil(resp)
      assert.are.same({ kind = "cancelled", message = "transfer cancelled", curl_code = 42 }, err)
      run_until_done(s, other)
      assert(other:result())
      assert.are.equal(0, s:pending())
      assert.are.same({}, s:step(0))
      s:close()
    end)

    it("cancels a transfer that has not started", function()
      local t = core.transfer{ url = srv:url("/echo") }
      assert.is_true(t:cancel())
      local _, err = t:result()
      assert.are.equal("cancelled", err.kind)
      assert.has_error(function() t:perform() end)
    end)

    it("refuses to add twice, a finished transfer, or to a closed session", function()
      local s = core.session()
      local t = core.transfer{ url = srv:url("/echo") }
      assert.is_true(s:add(t))
      local ok, msg = s:add(t)
      assert.is_nil(ok)
      assert.is_string(msg)
      local s2 = core.session()
      ok, msg = s2:add(t)
      assert.is_nil(ok)
      assert.matches("already", msg)
      assert.has_error(function() t:perform() end)
      assert.has_error(function() t:result() end, "transfer not finished (running)")
      run_until_done(s, t)
      ok = s:add(t)
      assert.is_nil(ok)
      local done = core.transfer{ url = srv:url("/echo") }
      assert(done:perform())
      assert.is_nil((s:add(done)))
      s:close()
      s:close()
      assert.is_nil((s:add(core.transfer{ url = srv:url("/echo") })))
      assert.has_error(function() s:step(0) end)
      assert.are.equal("aurous.Session (closed)", tostring(s))
      s2:close()
    end)

    it("reuses the connection for sequential requests", function()
      local s = core.session()
      local function get()
        local t = core.transfer{ url = srv:url("/echo") }
        assert(s:add(t))
        run_until_done(s, t)
        return fixture.json(assert(t:result()).body)
      end
      local a, b, c = get(), get(), get()
      assert.are.equal(a.conn, b.conn)
      assert.are.equal(a.client_port, b.client_port)
      assert.are.equal(b.conn, c.conn)
      assert.are.equal(3, c.request_no)
      s:close()
    end)

    it("gives a pooled handle's next transfer none of the previous one's options", function()
      local s = core.session()
      local function run(opts)
        local t = core.transfer(opts)
        assert(s:add(t))
        run_until_done(s, t)
        local resp, err = t:result()
        t:close() -- back to the pool, for the next run
        return resp, err
      end
      -- every option a plain transfer may set, then transfers that set none of them
      local resp = assert(run{ url = srv:url("/redirect?to=/echo"), headers = { "X-Previous: 1" },
        follow_redirects = true, max_redirects = 3, timeout = 30, connect_timeout = 5,
        low_speed_limit = 1, low_speed_time = 30, max_response_size = 100000, max_header_size = 100000 })
      assert.are.equal(200, resp.status)
      resp = assert(run{ url = srv:url("/redirect?to=/echo") })
      assert.are.equal(302, resp.status) -- not followed
      local e = fixture.json(assert(run{ url = srv:url("/echo") }).body)
      assert.is_nil(header_of(e, "x-previous"))
      resp = assert(run{ url = srv:url("/bytes?n=300000") })
      assert.are.equal(300000, #resp.body) -- no size limit left over
      -- options set only by some transfers: a POST, a HEAD, a user agent, a fresh connection
      assert(run{ url = srv:url("/echo"), method = "POST", body = "x=1", user_agent = "previous/1", fresh_connect = true })
      assert(run{ url = srv:url("/echo"), method = "HEAD" })
      e = fixture.json(assert(run{ url = srv:url("/echo") }).body)
      assert.are.equal("GET", e.method)
      assert.are.equal("", e.body)
      assert.is_nil(header_of(e, "user-agent"))
      -- a URL libcurl cannot parse, then a good one, on the same pooled handle
      local _, err = run{ url = "http://[::1" }
      assert.are.equal("protocol", err.kind)
      assert.are.equal("/echo", fixture.json(assert(run{ url = srv:url("/echo") }).body).path)
      -- a failed transfer's handle too
      _, err = run{ url = srv:url("/bytes?n=5000"), max_response_size = 10 }
      assert.are.equal("too_large", err.kind)
      resp = assert(run{ url = srv:url("/bytes?n=5000") })
      assert.are.equal(5000, #resp.body)
      s:close()
    end)

    it("reports progress", function()
      local t = core.transfer{ url = srv:url("/bytes?n=100000") }
      assert.are.same({ 0, 0, 0, 0 }, { t:progress() })
      assert(t:perform())
      local dlnow, dltotal = t:progress()
      assert.are.equal(100000, dlnow)
      assert.are.equal(100000, dltotal)
      t = core.transfer{ url = srv:url("/echo"), method = "POST", body = string.rep("x", 5000) }
      assert(t:perform())
      local _, _, ulnow, ultotal = t:progress()
      assert.are.equal(5000, ulnow)
      assert.are.equal(5000, ultotal)
    end)

    it("keeps an in-flight transfer alive without user references", function()
      local s = core.session()
      do
        assert(s:add(core.transfer{ url = srv:url("/slow_headers?delay=0.2") }))
      end
      collectgarbage()
      collectgarbage()
      local got = {}
      local deadline = core.now() + 10
      while #got == 0 and core.now() < deadline do
        got = s:step(50)
      end
      assert.are.equal(1, #got)
      assert.are.equal("ok", assert(got[1]:result()).body)
      s:close()
    end)

    it("survives collecting a session with transfers inside", function()
      local kept = core.transfer{ url = srv:url("/slow_headers?delay=1") }
      do
        local s = core.session()
        assert(s:add(kept))
        assert(s:add(core.transfer{ url = srv:url("/slow_headers?delay=1") }))
        s:step(20)
      end
      collectgarbage()
      collectgarbage()
      assert.are.equal("done", kept:state())
      local _, err = kept:result()
      assert.are.equal("cancelled", err.kind)
      kept:close()
    end)

    it("closes a transfer still inside a session", function()
      local s = core.session()
      local t = core.transfer{ url = srv:url("/slow_headers?delay=1") }
      assert(s:add(t))
      s:step(10)
      t:close()
      t:close()
      assert.are.equal(0, s:pending())
      assert.are.equal("aurous.Transfer (closed)", tostring(t))
      assert.has_error(function() t:result() end)
      assert.are.same({}, s:step(0))
      s:close()
    end)

    it("exits cleanly with transfers in flight at lua_close", function()
      local code = ([[
        package.cpath = %q
        local core = require("aurous.core")
        local s = core.session()
        local s2 = core.session()
        for i = 1, 3 do s:add(core.transfer{ url = %q }) end
        s2:add(core.transfer{ url = %q })
        s:step(20); s2:step(20)
        print("exiting")
      ]]):format(package.cpath, srv:url("/slow_headers?delay=1"), srv:url("/slow_headers?delay=1"))
      local out, rc = child.run(code)
      assert.matches("exiting", out)
      assert.equal(0, rc)
    end)

    if _VERSION == "Lua 5.4" then
      it("closes Sessions and Transfers with <close>", function()
        local chunk = assert(load([[
          local core, url = ...
          local t2
          do
            local s <close> = core.session()
            local t <close> = core.transfer{ url = url }
            t2 = core.transfer{ url = url }
            s:add(t2)
            s:add(t)
          end
          return t2
        ]]))
        local t2 = chunk(core, srv:url("/slow_headers?delay=1"))
        local _, err = t2:result()
        assert.are.equal("cancelled", err.kind)
      end)

      it("closes a TransferTemplate with <close>; transfers made before keep its options", function()
        local chunk = assert(load([[
          local core, url = ...
          local t, template_ref
          do
            local template <close> = core.transfer_template{ headers = { "X-Aurous-Test: closed-template" } }
            template_ref = template
            t = core.transfer(template, url)
          end
          return t, template_ref
        ]]))
        local t, template = chunk(core, srv:url("/echo"))
        assert.are.equal("aurous.TransferTemplate (closed)", tostring(template))
        local ok, err = pcall(core.transfer, template, srv:url("/echo"))
        assert.is_false(ok)
        assert.matches("a closed TransferTemplate", err)
        local resp = assert(t:perform())
        assert.are.equal("closed-template", header_of(fixture.json(resp.body), "x-aurous-test"))
        t:close()
      end)

      it("closes a HeaderList with <close>; transfers made before keep its lines", function()
        local chunk = assert(load([[
          local core, url = ...
          local t, list_ref
          do
            local list <close> = core.header_list{ "X-Aurous-Test: closed-after" }
            list_ref = list
            t = core.transfer{ url = url, headers = list }
          end
          return t, list_ref
        ]]))
        local t, list = chunk(core, srv:url("/echo"))
        assert.are.equal("aurous.HeaderList (0 lines)", tostring(list)) -- closed: its reference dropped
        local ok, err = pcall(core.transfer, { url = srv:url("/echo"), headers = list })
        assert.is_false(ok)
        assert.matches("bad field 'headers' %(a freed HeaderList%)", err)
        local s = core.session()
        assert(s:add(t))
        run_until_done(s, t)
        assert.are.equal("closed-after", header_of(fixture.json(assert(t:result()).body), "x-aurous-test"))
        t:close()
        s:close()
      end)
    end
  end)

  describe("tostring", function()
    it("never shows the URL", function()
      local t = core.transfer{ url = srv:url("/echo?token=sk-secret"), method = "PATCH" }
      assert.are.equal("aurous.Transfer (PATCH, new)", tostring(t))
      assert(t:perform())
      assert.are.equal("aurous.Transfer (PATCH, done)", tostring(t))
      local s = core.session()
      assert.are.equal("aurous.Session (0 in flight)", tostring(s))
      s:close()
      t:close()
    end)
  end)
end)
