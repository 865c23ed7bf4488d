-- client.files: upload a reference image (from bytes and from a path), get, use, delete.
-- Run against the bundled mock with `scripts/with-mock lua5.4 examples/files.lua`.
local aurous = require("aurous")

local client = aurous.new{}  -- api_key from AUROUS_API_KEY, base_url from AUROUS_BASE_URL

local function check(value, err)
  if value == nil then
    io.stderr:write("files example failed: ", tostring(err), "\n")
    os.exit(1)
  end
  return value
end

-- a 1×1 PNG; any PNG, JPEG or WebP up to 10 MB works (the type is read from its bytes)
local PNG = "\137PNG\r\n\26\n\0\0\0\rIHDR\0\0\0\1\0\0\0\1\8\6\0\0\0\31\21\196\137"
  .. "\0\0\0\rIDATx\156c\248\15\4\0\9\251\3\253\227U\242\156\0\0\0\0IEND\174B`\130"

local reported = false
local file = check(client.files:upload{
  data = PNG, filename = "dot.png", purpose = "reference",
  metadata = { campaign = "launch-2026" },
  on_progress = function(sent, total)  -- upload progress of the multipart body
    if not reported and total > 0 and sent == total then
      reported = true
      print(("  sent %d bytes"):format(sent))
    end
  end,
})
print(("uploaded %s: %s, %d bytes, expires %s"):format(file.id, file.mime_type, file.size_bytes, file.expires_at))

-- the same from a file on disk
local path = os.tmpname() -- creates the file: we write to that very name (and remove it)
local f = assert(io.open(path, "wb"))
f:write(PNG)
f:close()
local second = check(client.files:upload{ path = path, purpose = "first_frame" })
os.remove(path)
print(("uploaded %s from %s"):format(second.id, path))

local fresh = check(client.files:get(file.id))  -- re-mints the signed url (valid about 1 h)
print(("got %s, metadata.campaign = %s"):format(fresh.id, tostring(fresh.metadata.campaign)))

-- a file id works wherever a reference URL does
local est = check(client.images:estimate{ prompt = "a fox like this one", reference_image_urls = { file.id } })
print(("estimate with the reference: %s credits"):format(est.estimated_cost.amount))

for _, id in ipairs({ file.id, second.id }) do
  local gone = check(client.files:delete(id))
  print(("deleted %s: %s"):format(id, tostring(gone.deleted)))
end
local _, err = client.files:get(file.id)
print(("get after delete: %s"):format(err and err.type or "found?"))
if not err or err.type ~= "not_found" then os.exit(1) end
