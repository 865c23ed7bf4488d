-- bench/json_bench.lua: decode and encode throughput of aurous.core's JSON codec
-- against lua-cjson and dkjson, side by side in one run, on three payloads
-- generated here:
--   page20  a GET /v1/images list page of 20 GenerationResponse objects (REFERENCE.md §8)
--   page1m  the same shape, ~1 MB
--   doc10m  a ~10 MB document (list pages with unicode prompts, escapes, floats)
--
--   LUA_CPATH='build/lua5.4/?.so;;' lua5.4 bench/json_bench.lua [seconds-per-case]
--
-- MB/s count the bytes of the same JSON text for every library (aurous' output
-- for encode, the payload for decode). Ratios are aurous / cjson (> 1: faster).
-- cjson encodes numbers with 14 significant digits by default (lossy);
-- aurous writes the shortest round-trip form.
package.path = "bench/lib/?.lua;" .. package.path
local B = require("bench")
local core = require("aurous.core")
local has_cjson, cjson = pcall(require, "cjson")
local has_dkjson, dkjson = pcall(require, "dkjson")

local MIN_TIME = tonumber(arg and arg[1]) or 0.5
local clock = os.clock

------------------------------------------------------------------ payloads

local NULL = {}  -- placeholder, replaced by each library's null

local PROMPTS = {
  "a red fox in the snow, golden hour, 35mm film",
  "portrait of an astronaut, \"cinematic\" lighting, 85mm",
  "ville la nuit, néons, pluie, reflets sur les pavés",
  "東京の夜景、ネオン、雨 — cyberpunk",
  "a cat\nwearing a hat\tin a café ☕",
  "mountain lake at dawn, mist, ultra-detailed, 8k",
}

local function generation(i)
  local id = string.format("img_01HXMQ7Z3K8Y%012d", i)
  local url = "https://api.aurous-labs.com/v1/images/" .. id .. "/output/0?token=tok_" .. string.format("%032x", i * 7919)
  local succeeded = i % 7 ~= 0
  return {
    id = id,
    object = "generation",
    status = succeeded and "succeeded" or "failed",
    prompt = PROMPTS[i % #PROMPTS + 1] .. ", item " .. i,
    negative_prompt = (i % 3 == 0) and "blurry, low quality, watermark" or NULL,
    created_at = "2026-05-04T10:00:00Z",
    completed_at = "2026-05-04T10:00:14Z",
    media_type = "image",
    output_urls = succeeded and { url } or {},
    output_video_url = NULL,
    reference_image_urls = (i % 4 == 0) and { "https://example.com/ref1.jpg", "https://example.com/ref2.jpg" } or NULL,
    error_message = succeeded and NULL or "Content policy violation",
    duration_ms = 14000 + i % 1000,
    cost = { amount = 2, currency = "credit", breakdown = { base = 1, enhance = 1 } },
    width = 2048, height = 2048, image_count = 1, size_preset = "2k_1_1",
    inference_type = "t2i", cfg_rescale = 0.7, denoise_strength = 0.6, guidance_scale = 7.5,
    seed = 42 + i, steps = 30,
    character_id = (i % 5 == 0) and ("char_" .. string.format("%020d", i)) or NULL,
    loras = (i % 2 == 0) and { { id = "lora_" .. string.format("%016d", i % 97), name = "Sunset Style" } } or NULL,
    aurous_version = "2026-05-15",
    creation_request_id = "req_" .. string.format("%024x", i * 104729),
  }
end

local function page(n, offset)
  local data = {}
  for i = 1, n do data[i] = generation((offset or 0) + i) end
  return { object = "list", data = data, has_more = true, next_cursor = data[n].id }
end

-- ~10 MB: pages of generations plus per-page float statistics
local function document(target_bytes, item_bytes)
  local pages, per = {}, 500
  local n = math.ceil(target_bytes / item_bytes / per)
  for p = 1, n do
    local pg = page(per, (p - 1) * per)
    local stats = {}
    for k = 1, 50 do stats[k] = (p * 31 + k) / 7 end
    pg.stats = stats
    pages[p] = pg
  end
  return { object = "export", generated_at = "2026-05-15T00:00:00Z", pages = pages }
end

-- a deep copy with NULL replaced by `null`
local function with_null(v, null)
  if v == NULL then return null end
  if type(v) ~= "table" then return v end
  local c = {}
  for k, x in pairs(v) do c[k] = with_null(x, null) end
  return c
end

------------------------------------------------------------------ timing

-- runs fn until MIN_TIME has passed; returns seconds per call
local function time(fn)
  fn()  -- warm up
  local n, t0 = 0, clock()
  local elapsed
  repeat
    fn()
    n = n + 1
    elapsed = clock() - t0
  until elapsed >= MIN_TIME and n >= 3
  return elapsed / n
end

local function mbps(bytes, secs) return bytes / secs / 1e6 end

------------------------------------------------------------------ libraries

local libs = { { name = "aurous", null = core.null,
                 encode = core.json_encode, decode = core.json_decode } }
if has_cjson then
  libs[#libs + 1] = { name = "cjson", null = cjson.null, encode = cjson.encode, decode = cjson.decode }
end
if has_dkjson then
  libs[#libs + 1] = { name = "dkjson", null = dkjson.null,
                      encode = function(v) return dkjson.encode(v) end,
                      decode = function(s) return dkjson.decode(s, 1, dkjson.null) end }
end

------------------------------------------------------------------ run

local one = #assert(core.json_encode(with_null(generation(1), core.null)))
local cases = {
  { name = "page20", value = page(20) },
  { name = "page1m", value = page(math.floor(1e6 / one)) },
  { name = "doc10m", value = document(10e6, one) },
}

print(string.format("%s; aurous %s; cjson %s; dkjson %s; %.1fs per case",
  _VERSION .. (jit and (" / " .. jit.version) or ""), core.version,
  has_cjson and (cjson._VERSION or "?") or "missing",
  has_dkjson and (dkjson.version or "?") or "missing", MIN_TIME))
print(string.format("%-8s %-7s %9s %10s %10s %10s %9s %9s",
  "payload", "op", "bytes", "aurous", "cjson", "dkjson", "a/cjson", "a/dkjson"))

-- Each aurous/cjson ratio is the median of ROUNDS rounds, the two libraries
-- measured back to back in each round (this machine drifts from minute to minute).
local ROUNDS = tonumber(os.getenv("AUROUS_BENCH_JSON_ROUNDS") or "") or 5
local rows = B.rows("json")

local summary = {}
for _, case in ipairs(cases) do
  local values = {}
  for _, lib in ipairs(libs) do values[lib.name] = with_null(case.value, lib.null) end
  local text = assert(core.json_encode(values.aurous))
  local bytes = #text
  for _, op in ipairs({ "encode", "decode" }) do
    local rates, ratios = {}, {}
    for _, lib in ipairs(libs) do rates[lib.name] = {} end
    for round = 1, ROUNDS do
      for _, lib in ipairs(libs) do
        local f = lib[op]
        local v = op == "encode" and values[lib.name] or text
        if lib.name == "dkjson" then
          if round == 1 then -- dkjson is 10-30x slower: one measurement (one call for the big payloads)
            if bytes > 2e6 then
              local t0 = clock()
              f(v)
              rates.dkjson[1] = mbps(bytes, clock() - t0)
            else
              rates.dkjson[1] = mbps(bytes, time(function() return f(v) end))
            end
          end
        else
          rates[lib.name][round] = mbps(bytes, time(function() return f(v) end))
        end
      end
      if rates.cjson[round] then ratios[round] = rates.aurous[round] / rates.cjson[round] end
    end
    local rate = {}
    for name, list in pairs(rates) do if #list > 0 then rate[name] = B.median(list) end end
    local ratio_cjson = #ratios > 0 and B.median(ratios) or nil
    local function col(n) return rate[n] and string.format("%7.1f MB/s", rate[n]) or "      -   " end
    local function ratio(r) return r and string.format("%8.2fx", r) or "       -" end
    print(string.format("%-8s %-7s %9d %s %s %s %s %s", case.name, op, bytes,
      col("aurous"), col("cjson"), col("dkjson"), ratio(ratio_cjson), ratio(rate.dkjson and rate.aurous / rate.dkjson)))
    if ratio_cjson then
      summary[#summary + 1] = string.format("%s %s %.2fx", case.name, op, ratio_cjson)
      rows:add("json", string.format("%s %s (%d bytes): aurous / lua-cjson", case.name, op, bytes),
        string.format("%.2fx", ratio_cjson), ">= 1x (as fast)", ratio_cjson >= 1)
    end
    if rate.dkjson then
      rows:add("json", string.format("%s %s: aurous / dkjson", case.name, op), string.format("%.1fx", rate.aurous / rate.dkjson))
    end
  end
end
print("aurous/cjson (median of " .. ROUNDS .. " rounds): " .. table.concat(summary, ", "))
rows:save()
