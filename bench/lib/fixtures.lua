-- bench/lib/fixtures.lua: canned API responses (shaped like the mock's, which
-- follow api/REFERENCE.md) served as static files by nginx.
local F = {}

F.API_KEY = "al_live_benchkey_0123456789abcdef"

F.BALANCE = '{"object":"balance","credits":1000,"held_credits":12.5,"available_credits":987.5,'
  .. '"currency":"credit","billing_mode":"metered"}'

-- One succeeded image generation, as GET /v1/images answers it.
function F.generation(i, host)
  local id = string.format("img_%024d", i)
  return table.concat({
    '{"id":"', id, '","object":"generation","status":"succeeded",',
    '"prompt":"a red fox in the snow, golden hour, 35mm film, item ', i, '","negative_prompt":null,',
    '"created_at":"2026-05-15T10:00:00Z","completed_at":"2026-05-15T10:00:07Z","media_type":"image",',
    '"output_urls":["', host, '/v1/images/', id, '/output/0?token=tok_abcdef0123456789"],',
    '"output_video_url":null,"reference_image_urls":null,"error_message":null,"duration_ms":6931,',
    '"cost":{"amount":1,"currency":"credit","breakdown":{"base":1,"size_factor":1}},',
    '"aurous_version":"2026-05-15","creation_request_id":"req_0123456789abcdef",',
    '"loras":[],"seed":', 1000 + i, ',"inference_type":"t2i","width":2048,"height":2048,"image_count":1,',
    '"size_preset":"2k_1_1","steps":30,"guidance_scale":7.5,"cfg_rescale":null,"denoise_strength":null,',
    '"character_id":null,"video_duration":null,"video_resolution":null,"video_ratio":null,',
    '"video_camera_fixed":null}',
  })
end

-- A list page of `n` generations; `has_more` with a fixed `next_cursor` makes
-- a pager loop on the same URL forever (the bench stops it).
function F.page(n, has_more, host)
  local items = {}
  for i = 1, n do items[i] = F.generation(i, host or "http://127.0.0.1") end
  local cursor = has_more and ('"' .. string.format("img_%024d", n) .. '"') or "null"
  return '{"object":"list","data":[' .. table.concat(items, ",") .. '],"has_more":'
    .. tostring(has_more and true or false) .. ',"next_cursor":' .. cursor .. '}'
end

return F
