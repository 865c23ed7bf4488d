-- client.videos: estimate, create, wait, download.
-- Run against the bundled mock with `scripts/with-mock lua5.4 examples/videos.lua`.
local aurous = require("aurous")

local client = aurous.new{}  -- api_key from AUROUS_API_KEY, base_url from AUROUS_BASE_URL

local function check(value, err)
  if value == nil then
    io.stderr:write("videos example failed: ", tostring(err), "\n")
    os.exit(1)
  end
  return value
end

-- pick a video style: the first one the team can use
local styles = check(client.video_loras:list())
if #styles == 0 then
  io.stderr:write("no video LoRA available\n")
  os.exit(1)
end
local style = styles[1]
print(("style: %s (%s)"):format(style.name, style.slug))

local params = { video_lora_id = style.slug, prompt = "a fox trots through fresh snow",
  resolution = "720p", ratio = "16:9", duration = 4 }

local estimate = check(client.videos:estimate(params))
print(("estimate: %s credits"):format(estimate.estimated_cost.amount))  -- 0.5 × 1.5 × 4 = 3

local video = check(client.videos:create(params))
print(("created %s (%s)"):format(video.id, video.status))

video = check(client.videos:wait(video, {
  timeout = 900,
  on_progress = function(v) print(("  %s is %s"):format(v.id, v.status)) end,
}))
if video.status ~= "succeeded" then
  io.stderr:write(("%s ended %s: %s\n"):format(video.id, video.status, tostring(video.error_message)))
  os.exit(1)
end

local path = os.tmpname() -- creates the file: the download replaces it
local saved = check(client.videos:download(video, {
  path = path,
  on_progress = function(received, total) if total > 0 and received == total then print(("  %d bytes"):format(total)) end end,
}))
print(("saved %d bytes (%s) to %s"):format(saved.bytes, saved.content_type, saved.path))
os.remove(path)
