#!/usr/bin/env python3
"""A local, stateful mock of the Aurous Labs v1 API (standard library only).

    python3 spec/mock/server.py [--host 127.0.0.1] [--port 0] [--latency 1.0]
                                [--quiet] [--verbose] [--exit-on-stdin-eof]

The first line on stdout is ``AUROUS_MOCK_URL=http://127.0.0.1:<port>``.
The API behaviour follows the shared API reference (REFERENCE.md); the control
routes under ``/_mock/`` (no auth, JSON in and out) and the mock's own choices
are described in spec/mock/README.md.
"""

import argparse
import base64
import hashlib
import hmac
import json
import math
import os
import random
import re
import signal
import socket
import struct
import sys
import threading
import time
import zlib
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_VERSION = "2026-05-15"
KNOWN_VERSIONS = ("2026-05-15",)
VERSION_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
KEY_RE = re.compile(r"^(al_live_|og_)[A-Za-z0-9_]{8,}$")
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
DOC_URL = "https://docs.aurous-labs.com/errors#"
EVENT_TYPES = [
    "image.completed", "image.failed", "image.cancelled",
    "video.completed", "video.failed", "video.cancelled",
    "character.completed", "character.failed", "character.cancelled",
    "usage.balance_low", "webhook.endpoint_disabled",
]
TERMINAL = ("succeeded", "failed", "cancelled", "expired", "moderation_rejected")
SIZE_RATIOS = ("1_1", "3_2", "2_3", "4_3", "3_4", "16_9", "9_16", "21_9")
VIDEO_RESOLUTIONS = {"480p": 1, "720p": 1.5, "1080p": 2.5}
VIDEO_RATIOS = ("16:9", "4:3", "1:1", "3:4", "9:16", "21:9")
POSES = ("portrait", "front", "side", "back", "other")
UPLOAD_EXT = {"jpeg": "image/jpeg", "jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
LEDGER_TYPES = ("hold", "release", "charge", "refund", "topup", "adjustment")
MAX_FILE = 10 * 1024 * 1024
MAX_LOGGED_BODY = 1024 * 1024      # body_text of a logged request is cut here
MAX_LOGGED_REQUESTS = 20000        # the request log keeps the newest this many
EPOCH0 = 1777000000.0  # a fixed "team created" time (2026-04-24)

# bucket name -> (burst, sustained per minute)
BUCKETS = {
    "images_post": (120, 60), "get": (1200, 600), "files_post": (60, 30),
    "webhooks_post": (10, 10), "estimate_post": (240, 120),
    "characters_get": (240, 120), "characters_post": (60, 30),
    "characters_synthesize": (12, 6), "webhooks_test": (30, 30),
    "control": (100000, 100000),
}

IMAGE_LORAS = [
    {"id": "lora_01J0MOCKSUNSET00000000000A", "name": "Sunset Style", "is_public": True,
     "created_at": "2026-01-10T09:00:00Z", "slug": "sunset-style",
     "description": "Warm golden-hour palette.", "preview_image_url": None,
     "default_denoise_strength": 0.8, "default_guidance_scale": 7.5, "default_steps": 30,
     "has_template": False},
    {"id": "lora_01J0MOCKANIMEINK000000000B", "name": "Anime Ink", "is_public": True,
     "created_at": "2026-01-12T09:00:00Z", "slug": "anime-ink",
     "description": "Inked anime line art.", "preview_image_url": None,
     "default_denoise_strength": 0.7, "default_guidance_scale": 6.0, "default_steps": 28,
     "has_template": True},
    {"id": "lora_01J0MOCKTEAMPORTRAIT00000C", "name": "Team Portrait", "is_public": False,
     "created_at": "2026-02-01T09:00:00Z", "slug": "team-portrait",
     "description": "Privately delivered portrait style.", "preview_image_url": None,
     "default_denoise_strength": 0.6, "default_guidance_scale": 5.0, "default_steps": 40,
     "has_template": False},
]
VIDEO_LORAS = [
    {"id": "lora_01J0MOCKCINEMADRIFT00000V1", "name": "Cinematic Drift", "is_public": True,
     "default_resolution": "720p", "default_ratio": "16:9", "default_duration": 5,
     "created_at": "2026-01-15T09:00:00Z", "slug": "cinematic-drift",
     "description": "Slow dolly with film grain.", "preview_video_url": None},
    {"id": "lora_01J0MOCKSLOWORBIT000000000V2", "name": "Slow Orbit", "is_public": False,
     "default_resolution": "480p", "default_ratio": "9:16", "default_duration": 4,
     "created_at": "2026-02-15T09:00:00Z", "slug": "slow-orbit",
     "description": "Orbiting camera, portrait.", "preview_video_url": None},
]

_ulid_lock = threading.Lock()
_ulid_last = [0, 0]


def ulid():
    """26 Crockford base32 chars, monotonic within this process."""
    with _ulid_lock:
        ms = int(time.time() * 1000)
        if ms <= _ulid_last[0]:
            ms = _ulid_last[0]
            rnd = _ulid_last[1] + 1
        else:
            rnd = random.getrandbits(79)
        _ulid_last[0], _ulid_last[1] = ms, rnd
    n = (ms << 80) | (rnd & ((1 << 80) - 1))
    out = []
    for _ in range(26):
        out.append(CROCKFORD[n & 31])
        n >>= 5
    return "".join(reversed(out))


def new_id(prefix):
    return prefix + ulid()


def iso(t):
    if t is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def parse_time(s):
    try:
        s2 = s.strip()
        if s2.endswith("Z") or s2.endswith("z"):
            s2 = s2[:-1] + "+00:00"
        d = datetime.fromisoformat(s2)
        if d.tzinfo is None:
            d = d.replace(tzinfo=timezone.utc)
        return d.timestamp()
    except (ValueError, AttributeError):
        return None


def num(x):
    """Round money to 4 decimals; integral values as int."""
    x = round(float(x), 4)
    return int(x) if x == int(x) else x


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def dumps(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class ApiError(Exception):
    def __init__(self, status, type_, code, message, param=None, headers=None):
        Exception.__init__(self, message)
        self.status, self.type, self.code, self.message = status, type_, code, message
        self.param, self.headers = param, headers or []


def bad(code, message, param=None, status=400):
    return ApiError(status, "invalid_request", code, message, param)


def not_found(what, param=None):
    return ApiError(404, "not_found", "resource_not_found", "No such %s." % what, param)


class Resp(object):
    __slots__ = ("status", "body", "ctype", "headers", "stream", "length")

    def __init__(self, status, body=b"", ctype="application/json", headers=None):
        self.status, self.body, self.ctype = status, body, ctype
        self.headers = headers or []
        self.stream = None   # optional iterator of byte chunks (then length is set)
        self.length = None


def jresp(status, obj, headers=None):
    return Resp(status, dumps(obj), "application/json", headers)


# ---------------------------------------------------------------- validation
def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def want_str(body, name, required=False, minlen=None, maxlen=None, blank_ok=True):
    if name not in body or body[name] is None:
        if required:
            raise bad("missing_field", "Missing required field '%s'." % name, name)
        return None
    v = body[name]
    if not isinstance(v, str):
        raise bad("invalid_format", "Field '%s' must be a string." % name, name)
    if minlen is not None and len(v) < minlen:
        raise bad("value_out_of_range", "Field '%s' must be at least %d characters." % (name, minlen), name)
    if maxlen is not None and len(v) > maxlen:
        raise bad("value_out_of_range", "Field '%s' must be at most %d characters." % (name, maxlen), name)
    if not blank_ok and not v.strip():
        raise bad("value_out_of_range", "Field '%s' must not be blank." % name, name)
    return v


def want_int(body, name, lo=None, hi=None, required=False):
    if name not in body or body[name] is None:
        if required:
            raise bad("missing_field", "Missing required field '%s'." % name, name)
        return None
    v = body[name]
    if isinstance(v, float) and v.is_integer() and not isinstance(v, bool):
        v = int(v)  # JSON 5.0 is tolerated as an integer
    if not is_int(v):
        raise bad("invalid_format", "Field '%s' must be an integer." % name, name)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise bad("value_out_of_range", "Field '%s' must be between %s and %s." % (name, lo, hi), name)
    return v


def want_num(body, name, lo=None, hi=None):
    if name not in body or body[name] is None:
        return None
    v = body[name]
    if not is_num(v):
        raise bad("invalid_format", "Field '%s' must be a number." % name, name)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise bad("value_out_of_range", "Field '%s' must be between %s and %s." % (name, lo, hi), name)
    return v


def want_bool(body, name):
    if name not in body or body[name] is None:
        return None
    v = body[name]
    if not isinstance(v, bool):
        raise bad("invalid_format", "Field '%s' must be a boolean." % name, name)
    return v


def want_enum(body, name, values, required=False, code="value_out_of_range"):
    v = want_str(body, name, required=required)
    if v is not None and v not in values:
        raise bad(code, "Field '%s' must be one of: %s." % (name, ", ".join(values)), name)
    return v


def q_int(query, name, default, lo, hi):
    vals = query.get(name)
    if not vals:
        return default
    s = vals[-1]
    if not re.match(r"^-?\d+$", s):
        raise bad("invalid_format", "Query parameter '%s' must be an integer." % name, name)
    v = int(s)
    if v < lo or v > hi:
        raise bad("value_out_of_range", "Query parameter '%s' must be between %d and %d." % (name, lo, hi), name)
    return v


def q_str(query, name):
    vals = query.get(name)
    if not vals:
        return None
    return vals[-1]


def paginate(items, query, default_limit=20, max_limit=100):
    """Id-cursor pagination (REFERENCE 7a style 1). items: newest first, each has 'id'."""
    limit = q_int(query, "limit", default_limit, 1, max_limit)
    after, before = q_str(query, "starting_after"), q_str(query, "ending_before")
    if after and before:
        raise bad("parameter_invalid_combination",
                  "Use only one of 'starting_after' and 'ending_before'.", "ending_before")
    if after is not None or before is not None:
        cursor = after if after is not None else before
        pname = "starting_after" if after is not None else "ending_before"
        idx = None
        for i, it in enumerate(items):
            if it["id"] == cursor:
                idx = i
                break
        if idx is None:
            raise bad("resource_not_found", "No such object for cursor '%s'." % pname, pname)
        if after is not None:
            rest = items[idx + 1:]
            page, has_more = rest[:limit], len(rest) > limit
        else:
            rest = items[:idx]
            page, has_more = rest[-limit:], len(rest) > limit
    else:
        page, has_more = items[:limit], len(items) > limit
    return page, has_more


def list_body(rows, has_more):
    return {"object": "list", "data": rows, "has_more": has_more,
            "next_cursor": rows[-1]["id"] if (has_more and rows) else None}


# ---------------------------------------------------------------- media bytes
def png_bytes_header(w, h):
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk
            + struct.pack(">I", zlib.crc32(chunk) & 0xffffffff))


def mp4_header():
    return struct.pack(">I", 24) + b"ftypisom" + struct.pack(">I", 512) + b"isomiso2"


class Media(object):
    """Deterministic bytes: header + a repeating pattern derived from a seed."""

    def __init__(self, header, seed, size):
        self.header = header[:size]
        self.size = max(size, len(self.header))
        block = b""
        d = hashlib.sha256(seed.encode()).digest()
        while len(block) < 65536:
            d = hashlib.sha256(d).digest()
            block += d * 64
        self.block = block[:65536]

    def chunks(self, start, end):
        """Bytes [start, end) as an iterator of chunks."""
        pos = start
        hl = len(self.header)
        while pos < end:
            if pos < hl:
                n = min(end, hl) - pos
                yield self.header[pos:pos + n]
            else:
                off = (pos - hl) % 65536
                n = min(end - pos, 65536 - off)
                yield self.block[off:off + n]
            pos += n


# ---------------------------------------------------------------- multipart
def parse_multipart(ctype, body):
    m = re.search(r'boundary="?([^";]+)"?', ctype or "", re.I)
    if not m:
        return None
    boundary = b"--" + m.group(1).encode("latin-1")
    parts = []
    segs = body.split(boundary)
    for seg in segs[1:]:
        if seg.startswith(b"--"):
            break
        if seg.startswith(b"\r\n"):
            seg = seg[2:]
        elif seg.startswith(b"\n"):
            seg = seg[1:]
        if seg.endswith(b"\r\n"):
            seg = seg[:-2]
        elif seg.endswith(b"\n"):
            seg = seg[:-1]
        sep = seg.find(b"\r\n\r\n")
        sl = 4
        if sep < 0:
            sep = seg.find(b"\n\n")
            sl = 2
        if sep < 0:
            continue
        raw_headers = seg[:sep].decode("utf-8", "replace")
        data = seg[sep + sl:]
        hdrs = {}
        for line in re.split(r"\r?\n", raw_headers):
            if ":" in line:
                k, v = line.split(":", 1)
                hdrs[k.strip().lower()] = v.strip()
        disp = hdrs.get("content-disposition", "")
        nm = re.search(r'(?:^|;)\s*name="([^"]*)"', disp) or re.search(r'(?:^|;)\s*name=([^;]+)', disp)
        fn = re.search(r'filename="([^"]*)"', disp) or re.search(r'filename=([^;]+)', disp)
        parts.append({"name": nm.group(1).strip() if nm else None,
                      "filename": fn.group(1).strip() if fn else None,
                      "content_type": hdrs.get("content-type"), "data": data})
    return parts


def sniff_image(data):
    """(mime, width, height) or None."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        w = h = None
        if len(data) >= 24 and data[12:16] == b"IHDR":
            w, h = struct.unpack(">II", data[16:24])
        return "image/png", w, h
    if data[:3] == b"\xff\xd8\xff":
        w = h = None
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                i += 1
                continue
            marker = data[i + 1]
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                i += 2
                continue
            seglen = struct.unpack(">H", data[i + 2:i + 4])[0]
            if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
                h, w = struct.unpack(">HH", data[i + 5:i + 9])
                break
            i += 2 + seglen
        return "image/jpeg", w, h
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        w = h = None
        kind = data[12:16]
        try:
            if kind == b"VP8X":
                w = 1 + int.from_bytes(data[24:27], "little")
                h = 1 + int.from_bytes(data[27:30], "little")
            elif kind == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
                w = struct.unpack("<H", data[26:28])[0] & 0x3FFF
                h = struct.unpack("<H", data[28:30])[0] & 0x3FFF
            elif kind == b"VP8L" and data[20:21] == b"\x2f":
                b = int.from_bytes(data[21:25], "little")
                w = (b & 0x3FFF) + 1
                h = ((b >> 14) & 0x3FFF) + 1
        except (struct.error, IndexError):
            w = h = None
        return "image/webp", w, h
    return None


# ---------------------------------------------------------------- state
class State(object):
    def __init__(self, defaults):
        self.lock = threading.RLock()
        self.defaults = dict(defaults)
        self.secret = os.urandom(16)
        self.reset(None)

    # config -------------------------------------------------------------
    def reset(self, cfg):
        with self.lock:
            self.config = dict(self.defaults)
            self.gens = {}          # id -> generation dict
            self.gen_order = []     # ids, oldest first
            self.files = {}
            self.uploads = {}
            self.chars = {}
            self.char_order = []
            self.webhooks = {}
            self.webhook_order = []
            self.deliveries = {}    # endpoint id -> list of rows, oldest first
            self.ledger = []        # oldest first
            self.holds = {}
            self.idem = {}
            self.requests = []
            self.faults = []
            self.executed = {}
            self.requests_total = 0
            self.charged_credits = 0.0
            self.committed_credits = 0.0
            self.tokens = {}
            self.credits = 0.0
            self.held = 0.0
            self.usage_tokens = {}
            self.apply_config(cfg or {}, initial=True)

    def apply_config(self, cfg, initial=False):
        for k in ("latency", "character_latency", "poll_retry_after", "media_size"):
            if k in cfg:
                v = cfg[k]
                if v is not None and not is_num(v):
                    raise bad("invalid_format", "config '%s' must be a number or null" % k, k)
                if k == "latency" and v is None:
                    raise bad("invalid_format", "config 'latency' must be a number", k)
                if k == "media_size" and (v is None or v < 0):
                    raise bad("invalid_format", "config 'media_size' must be >= 0", k)
                self.config[k] = int(v) if k == "media_size" else v
        if "character_review" in cfg:
            self.config["character_review"] = bool(cfg["character_review"])
        if initial:
            bal = cfg.get("balance", self.config.get("balance", 1000))
            if not is_num(bal):
                raise bad("invalid_format", "config 'balance' must be a number", "balance")
            self.config["balance"] = bal
            self.credits = float(bal)
            self.add_ledger("topup", bal, description="Initial top-up", at=time.time())
        elif "balance" in cfg:
            bal = cfg["balance"]
            if not is_num(bal):
                raise bad("invalid_format", "config 'balance' must be a number", "balance")
            delta = float(bal) - self.credits
            self.config["balance"] = bal
            if delta:
                self.credits = float(bal)
                self.add_ledger("adjustment" if delta < 0 else "topup", abs(delta),
                                description="Mock balance set to %s" % num(bal), at=time.time())

    def public_config(self):
        c = dict(self.config)
        return c

    def char_latency(self):
        v = self.config.get("character_latency")
        return self.config["latency"] if v is None else v

    # credits ------------------------------------------------------------
    def available(self):
        return self.credits - self.held

    def add_ledger(self, type_, amount, generation_id=None, character_id=None, hold_id=None,
                   description=None, at=None):
        self.ledger.append({
            "id": new_id("uev_"), "object": "ledger_event", "type": type_,
            "amount": num(amount), "currency": "credit",
            "created_at": iso(at if at is not None else time.time()),
            "generation_id": generation_id, "character_id": character_id,
            "hold_id": hold_id, "description": description,
            "balance_after": num(self.credits), "held_after": num(self.held),
        })

    def place_hold(self, amount, generation_id=None, character_id=None):
        hid = new_id("hold_")
        self.holds[hid] = {"id": hid, "amount": amount, "state": "held"}
        self.held += amount
        self.charged_credits += amount
        self.add_ledger("hold", amount, generation_id, character_id, hid,
                        "Hold for %s" % (generation_id or character_id))
        return hid

    def commit_hold(self, hid, at, generation_id=None, character_id=None):
        h = self.holds.get(hid)
        if not h or h["state"] != "held":
            return
        h["state"] = "committed"
        self.held -= h["amount"]
        self.credits -= h["amount"]
        self.committed_credits += h["amount"]
        self.add_ledger("charge", h["amount"], generation_id, character_id, hid,
                        "Charge for %s" % (generation_id or character_id), at)

    def release_hold(self, hid, at, generation_id=None, character_id=None):
        h = self.holds.get(hid)
        if not h or h["state"] != "held":
            return
        h["state"] = "released"
        self.held -= h["amount"]
        self.add_ledger("release", h["amount"], generation_id, character_id, hid,
                        "Release for %s" % (generation_id or character_id), at)

    # rate limit headers (never enforced) ---------------------------------
    def ratelimit(self, bucket):
        burst, per_min = BUCKETS.get(bucket, BUCKETS["get"])
        rate = per_min / 60.0
        now = time.time()
        tokens, last = self.tokens.get(bucket, (float(burst), now))
        tokens = min(float(burst), tokens + (now - last) * rate)
        tokens = max(0.0, tokens - 1)
        self.tokens[bucket] = (tokens, now)
        reset = int(now + (burst - tokens) / rate) + 1
        return burst, int(tokens), reset

    # generations ----------------------------------------------------------
    def settle_gen(self, g, now):
        if g["status"] in TERMINAL:
            return
        el = now - g["t0"]
        L = g["L"]
        if el >= L:
            done = g["t0"] + L
            outcome = g["outcome"]
            g["status"] = outcome
            g["completed_at"] = done
            g["duration_ms"] = int(L * 1000)
            if outcome == "succeeded":
                self.commit_hold(g["hold_id"], done, generation_id=g["id"])
            else:
                g["error_message"] = ("Content policy violation" if outcome == "moderation_rejected"
                                      else "Provider error: the generation failed")
                self.release_hold(g["hold_id"], done, generation_id=g["id"])
        elif el >= 0.3 * L:
            g["status"] = "processing"

    def settle_all(self):
        now = time.time()
        for gid in self.gen_order:
            self.settle_gen(self.gens[gid], now)
        for cid in self.char_order:
            c = self.chars.get(cid)
            if c:
                self.settle_char(c, now)

    def settle_char(self, c, now):
        if c["status"] != "synthesizing":
            return
        if now - c["synth_t0"] < c["synth_L"]:
            return
        done = c["synth_t0"] + c["synth_L"]
        c["updated_at"] = done
        if "[fail]" in (c.get("name") or ""):
            c["status"] = "failed"
            c["error_message"] = "synthesis_failed"
            self.release_hold(c["hold_id"], done, character_id=c["id"])
        else:
            c["status"] = c["synth_target"]
            c["error_message"] = None
            c["version"] += 1
            if c["synth_pose"]:
                poses = [r["pose"] for r in c["refs"]]
                if c["synth_pose"] not in poses:
                    c["refs"].append({"pose": c["synth_pose"]})
            else:
                c["refs"] = [{"pose": p} for p in ("portrait", "front", "side", "back")]
            self.commit_hold(c["hold_id"], done, character_id=c["id"])
        c["hold_id"] = None


# ---------------------------------------------------------------- API logic
class Api(object):
    """Route handlers. Each takes (req) and returns a Resp or raises ApiError."""

    def __init__(self, state):
        self.s = state

    # helpers -------------------------------------------------------------
    def token(self, oid):
        return hmac.new(self.s.secret, oid.encode(), hashlib.sha256).hexdigest()[:32]

    def gen_json(self, g, host):
        base = "http://" + host
        ok = g["status"] == "succeeded"
        video = g["media_type"] == "video"
        out = {
            "id": g["id"], "object": "generation", "status": g["status"],
            "prompt": g["prompt"], "negative_prompt": g.get("negative_prompt"),
            "created_at": iso(g["t0"]), "completed_at": iso(g.get("completed_at")),
            "media_type": g["media_type"],
            "output_urls": ([("%s/v1/images/%s/output/%d?token=%s" % (base, g["id"], i, self.token(g["id"])))
                             for i in range(g["image_count"])] if ok and not video else []),
            "output_video_url": ("%s/v1/videos/%s/output?token=%s" % (base, g["id"], self.token(g["id"]))
                                 if ok and video else None),
            "reference_image_urls": g.get("reference_image_urls"),
            "error_message": g.get("error_message"),
            "duration_ms": g.get("duration_ms"),
            "cost": {"amount": g["cost"], "currency": "credit", "breakdown": g["breakdown"]},
            "aurous_version": g["aurous_version"],
            "creation_request_id": g["creation_request_id"],
            "loras": g.get("loras"),
            "seed": g.get("seed"),
        }
        if video:
            out.update({"inference_type": g["inference_type"], "video_duration": g["duration"],
                        "video_resolution": g["resolution"], "video_ratio": g["ratio"],
                        "video_camera_fixed": g.get("camera_fixed"), "image_count": None,
                        "width": None, "height": None, "size_preset": None, "character_id": None})
        else:
            out.update({"inference_type": g["inference_type"], "width": g["width"], "height": g["height"],
                        "image_count": g["image_count"], "size_preset": g.get("size_preset"),
                        "steps": g.get("steps"), "guidance_scale": g.get("guidance_scale"),
                        "cfg_rescale": g.get("cfg_rescale"), "denoise_strength": g.get("denoise_strength"),
                        "character_id": g.get("character_id"), "video_duration": None,
                        "video_resolution": None, "video_ratio": None, "video_camera_fixed": None})
        return out

    def find_lora(self, table, key):
        for l in table:
            if l["id"] == key or l["slug"] == key:
                return l
        return None

    def check_ref(self, url, param):
        if not isinstance(url, str):
            raise bad("invalid_format", "'%s' entries must be strings." % param, param)
        if len(url) > 2048:
            raise bad("value_out_of_range", "'%s' must be at most 2048 characters." % param, param)
        if url.startswith("file_"):
            f = self.s.files.get(url)
            if not f or f.get("deleted"):
                raise bad("value_out_of_range", "Unknown file id '%s' in '%s'." % (url, param), param)
            return url
        if url.startswith("https://"):
            return url
        raise bad("invalid_format", "'%s' must be a file_ id or an https:// URL." % param, param)

    def validate_image(self, body):
        s = self.s
        prompt = want_str(body, "prompt", required=True, minlen=1, maxlen=4000, blank_ok=False)
        neg = want_str(body, "negative_prompt", minlen=1, maxlen=4000)
        lora = None
        lid = want_str(body, "lora_id")
        if lid is not None:
            lora = self.find_lora(IMAGE_LORAS, lid)
            if not lora:
                raise bad("value_out_of_range", "Unknown LoRA '%s'." % lid, "lora_id")
        w = want_int(body, "width")
        h = want_int(body, "height")
        size = want_str(body, "size")
        if size is not None and (w is not None or h is not None):
            raise bad("parameter_invalid_combination", "Use either 'size' or 'width'/'height', not both.",
                      "size")
        if (w is None) != (h is None):
            raise bad("missing_field", "'width' and 'height' must be given together.",
                      "height" if h is None else "width")
        preset = None
        if size is not None:
            m = re.match(r"^(2k|4k)_(\d+)_(\d+)$", size)
            if not m or ("%s_%s" % (m.group(2), m.group(3))) not in SIZE_RATIOS:
                raise bad("invalid_format", "'size' must look like 2k_1_1 (tier 2k|4k, ratio one of %s)."
                          % ", ".join(SIZE_RATIOS), "size")
            long_side = 2048 if m.group(1) == "2k" else 4096
            a, b = int(m.group(2)), int(m.group(3))
            if a >= b:
                w, h = long_side, int(round(long_side * b / a / 32.0)) * 32
            else:
                w, h = int(round(long_side * a / b / 32.0)) * 32, long_side
            preset = size
        elif w is not None:
            for nm, v in (("width", w), ("height", h)):
                if v < 1024 or v > 4096:
                    raise bad("value_out_of_range", "'%s' must be between 1024 and 4096." % nm, nm)
            w = min(4096, int(math.floor(w / 32.0 + 0.5)) * 32)
            h = min(4096, int(math.floor(h / 32.0 + 0.5)) * 32)
        else:
            w = h = 1024
        steps = want_int(body, "steps", 1, 100)
        gs = want_num(body, "guidance_scale", 0.1, 30)
        cfg = want_num(body, "cfg_rescale", 0, 1)
        den = want_num(body, "denoise_strength", 0, 1)
        seed = want_int(body, "seed")
        count = want_int(body, "count", 1, 8)
        enhance = want_bool(body, "enhance_prompt")
        hook = want_str(body, "webhook_url", maxlen=2048)
        if hook is not None and not re.match(r"^https?://", hook):
            raise bad("invalid_format", "'webhook_url' must be an http(s) URL.", "webhook_url")
        refs = None
        if "reference_image_urls" in body and body["reference_image_urls"] is not None:
            refs = body["reference_image_urls"]
            if not isinstance(refs, list):
                raise bad("invalid_format", "'reference_image_urls' must be an array.", "reference_image_urls")
            if len(refs) > 10:
                raise bad("value_out_of_range", "At most 10 reference images.", "reference_image_urls")
        char_id = want_str(body, "character_id")
        if char_id is not None and refs:
            raise bad("mutually_exclusive_input",
                      "'character_id' and 'reference_image_urls' cannot be combined.", "character_id")
        if refs is not None:
            for r in refs:
                self.check_ref(r, "reference_image_urls")
        if char_id is not None:
            c = s.chars.get(char_id)
            if c:
                s.settle_char(c, time.time())
            if not c or c["status"] != "ready":
                raise bad("character_not_ready", "Character '%s' is not ready." % char_id, "character_id")
        count = count or 1
        breakdown = {"base": count, "enhance": 1 if enhance else 0}
        cost = num(count + (1 if enhance else 0))
        return {
            "prompt": prompt, "negative_prompt": neg,
            "loras": [{"id": lora["id"], "name": lora["name"]}] if lora else None,
            "width": w, "height": h, "size_preset": preset,
            "steps": steps if steps is not None else (lora["default_steps"] if lora else 30),
            "guidance_scale": gs if gs is not None else (lora["default_guidance_scale"] if lora else 7.5),
            "cfg_rescale": cfg if cfg is not None else 0,
            "denoise_strength": den if den is not None else (lora["default_denoise_strength"] if lora else None),
            "seed": seed if seed is not None else random.randint(0, 2 ** 31 - 1),
            "image_count": count, "reference_image_urls": refs, "character_id": char_id,
            "inference_type": "i2i" if (refs or char_id) else "t2i",
            "media_type": "image", "cost": cost, "breakdown": breakdown,
        }

    def validate_video(self, body):
        lid = want_str(body, "video_lora_id", required=True)
        lora = self.find_lora(VIDEO_LORAS, lid)
        if not lora:
            raise bad("value_out_of_range", "Unknown video LoRA '%s'." % lid, "video_lora_id")
        prompt = want_str(body, "prompt", maxlen=4000)
        ff = body.get("first_frame_url")
        lf = body.get("last_frame_url")
        if ff is not None:
            self.check_ref(ff, "first_frame_url")
        if lf is not None:
            self.check_ref(lf, "last_frame_url")
            if ff is None:
                raise bad("missing_field", "'last_frame_url' requires 'first_frame_url'.", "first_frame_url")
        res = want_enum(body, "resolution", list(VIDEO_RESOLUTIONS)) or lora["default_resolution"]
        ratio = want_enum(body, "ratio", VIDEO_RATIOS) or lora["default_ratio"]
        dur = want_int(body, "duration", 2, 12)
        dur = dur if dur is not None else lora["default_duration"]
        seed = want_int(body, "seed")
        if seed is not None and seed < -1:
            raise bad("value_out_of_range", "'seed' must be >= -1.", "seed")
        cam = want_bool(body, "camera_fixed")
        want_bool(body, "watermark")
        want_bool(body, "enhance_prompt")
        hook = want_str(body, "webhook_url", maxlen=2048)
        if hook is not None and not re.match(r"^https?://", hook):
            raise bad("invalid_format", "'webhook_url' must be an http(s) URL.", "webhook_url")
        factor = VIDEO_RESOLUTIONS[res]
        cost = num(0.5 * factor * dur)
        return {
            "prompt": prompt, "negative_prompt": None,
            "loras": [{"id": lora["id"], "name": lora["name"]}],
            "resolution": res, "ratio": ratio, "duration": dur,
            "seed": seed if seed is not None and seed != -1 else random.randint(0, 2 ** 31 - 1),
            "camera_fixed": cam, "inference_type": "i2v" if ff else "t2v", "media_type": "video",
            "first_frame_url": ff, "last_frame_url": lf, "reference_image_urls": None,
            "image_count": None, "cost": cost,
            "breakdown": {"base_per_second": 0.5, "resolution_factor": factor, "duration_s": dur},
        }

    def create_generation(self, req, spec, prefix):
        s = self.s
        if spec["cost"] > s.available() + 1e-9:
            raise ApiError(402, "invalid_request", "balance_too_low",
                           "Team available balance is %s credits, generation requires %s."
                           % (num(s.available()), spec["cost"]), None)
        gid = new_id(prefix)
        L = float(s.config["latency"])
        prompt = spec["prompt"] or ""
        if "[slow]" in prompt:
            L *= 10
        outcome = "succeeded"
        if "[fail]" in prompt:
            outcome = "failed"
        elif "[moderate]" in prompt:
            outcome = "moderation_rejected"
        g = dict(spec)
        g.update({"id": gid, "status": "pending", "t0": time.time(), "L": L, "outcome": outcome,
                  "aurous_version": req.version, "creation_request_id": req.request_id,
                  "completed_at": None, "error_message": None, "duration_ms": None,
                  "expired": False})
        g["hold_id"] = s.place_hold(spec["cost"], generation_id=gid)
        s.gens[gid] = g
        s.gen_order.append(gid)
        return jresp(201, self.gen_json(g, req.host))

    # images / videos -------------------------------------------------------
    def create_image(self, req):
        return self.create_generation(req, self.validate_image(req.json_body()), "img_")

    def create_video(self, req):
        return self.create_generation(req, self.validate_video(req.json_body()), "vid_")

    def estimate_image(self, req):
        spec = self.validate_image(req.json_body())
        return jresp(200, {"object": "estimate", "estimated_cost": {"amount": spec["cost"],
                     "breakdown": spec["breakdown"]}, "currency": "credit"})

    def estimate_video(self, req):
        spec = self.validate_video(req.json_body())
        return jresp(200, {"object": "estimate", "estimated_cost": {"amount": spec["cost"],
                     "breakdown": spec["breakdown"]}, "currency": "credit"})

    def list_images(self, req):
        self.s.settle_all()
        items = [self.s.gens[i] for i in reversed(self.s.gen_order)]
        page, more = paginate(items, req.query)
        return jresp(200, list_body([self.gen_json(g, req.host) for g in page], more))

    def get_gen(self, gid):
        g = self.s.gens.get(gid)
        if not g:
            raise not_found("generation", "id")
        self.s.settle_gen(g, time.time())
        return g

    def get_generation(self, req):
        g = self.get_gen(req.params["id"])
        headers = []
        pra = self.s.config.get("poll_retry_after")
        if pra is not None and g["status"] not in TERMINAL:
            headers.append(("Retry-After", str(num(pra))))
        return jresp(200, self.gen_json(g, req.host), headers)

    def cancel(self, req):
        g = self.get_gen(req.params["id"])
        if g["status"] == "cancelled":
            return jresp(200, self.gen_json(g, req.host))
        if g["status"] in TERMINAL:
            raise bad("generation_not_cancellable",
                      "Generation %s is %s and cannot be cancelled." % (g["id"], g["status"]), None)
        now = time.time()
        g["status"] = "cancelled"
        g["completed_at"] = now
        self.s.release_hold(g["hold_id"], now, generation_id=g["id"])
        return jresp(200, self.gen_json(g, req.host))

    def _output_gen(self, req, n):
        g = self.get_gen(req.params["id"])
        if g["expired"]:
            raise ApiError(410, "not_found", "output_expired", "The outputs of %s have expired." % g["id"])
        if g["status"] != "succeeded":
            raise bad("output_not_available", "Generation %s has no output (status %s)."
                      % (g["id"], g["status"]), None, 422)
        count = 1 if g["media_type"] == "video" else g["image_count"]
        if n is None or n < 0 or n >= count:
            raise not_found("output", "n")
        return g

    def image_output(self, req):
        ns = req.params["n"]
        n = int(ns) if re.match(r"^\d+$", ns) else None
        g = self._output_gen(req, n)
        return Resp(302, b"", "application/json",
                    [("Location", "http://%s/_media/%s/%d" % (req.host, g["id"], n))])

    def video_output(self, req):
        g = self.get_gen(req.params["id"])
        if g["media_type"] != "video":
            raise not_found("video", "id")
        g = self._output_gen(req, 0)
        return Resp(302, b"", "application/json",
                    [("Location", "http://%s/_media/%s/0" % (req.host, g["id"]))])

    # files ----------------------------------------------------------------
    def file_json(self, f, host):
        return {"id": f["id"], "object": "file", "purpose": f["purpose"], "mime_type": f["mime_type"],
                "size_bytes": f["size_bytes"], "width_px": f["width_px"], "height_px": f["height_px"],
                "url": "http://%s/_files/%s?token=%s" % (host, f["id"], self.token(f["id"])),
                "expires_at": iso(f["created"] + 86400), "created_at": iso(f["created"]),
                "metadata": f["metadata"]}

    def upload_file(self, req):
        ctype = req.headers.get("content-type", "")
        if not ctype.lower().startswith("multipart/form-data"):
            raise bad("invalid_format", "Body must be multipart/form-data.", "Content-Type")
        parts = req.multipart()
        if parts is None:
            raise bad("invalid_format", "Malformed multipart body (no boundary).", "Content-Type")
        by = {}
        for p in parts:
            by.setdefault(p["name"], p)
        fp = by.get("file")
        if fp is None:
            raise bad("missing_field", "Missing required part 'file'.", "file")
        data = fp["data"]
        if len(data) > MAX_FILE:
            raise bad("value_out_of_range", "File is larger than 10 MB.", "file")
        sn = sniff_image(data)
        if not sn:
            raise bad("invalid_format", "File must be a PNG, JPEG or WebP image.", "file")
        mime, w, h = sn
        if (w and w > 4096) or (h and h > 4096):
            raise bad("value_out_of_range", "Image sides must be at most 4096 px.", "file")
        pp = by.get("purpose")
        if pp is None:
            raise bad("missing_field", "Missing required part 'purpose'.", "purpose")
        purpose = pp["data"].decode("utf-8", "replace")
        if purpose not in ("reference", "first_frame", "last_frame"):
            raise bad("value_out_of_range", "'purpose' must be reference, first_frame or last_frame.", "purpose")
        meta = {}
        mp = by.get("metadata")
        if mp is not None:
            try:
                meta = json.loads(mp["data"].decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                meta = None
            if not isinstance(meta, dict):
                raise bad("invalid_format", "'metadata' must be a string holding a JSON object.", "metadata")
        fid = new_id("file_")
        f = {"id": fid, "purpose": purpose, "mime_type": mime, "size_bytes": len(data),
             "width_px": w, "height_px": h, "created": time.time(), "metadata": meta, "data": data,
             "filename": fp["filename"]}
        self.s.files[fid] = f
        return jresp(201, self.file_json(f, req.host))

    def get_file(self, req):
        f = self.s.files.get(req.params["id"])
        if not f:
            raise not_found("file", "id")
        return jresp(200, self.file_json(f, req.host))

    def delete_file(self, req):
        fid = req.params["id"]
        f = self.s.files.pop(fid, None)
        return jresp(200, {"id": fid, "object": "file", "deleted": f is not None})

    # characters -------------------------------------------------------------
    def char_json(self, c, host):
        refs = [{"pose": r["pose"], "url": "http://%s/_media/%s/%d?token=%s&v=%d"
                 % (host, c["id"], i, self.token(c["id"]), c["version"])}
                for i, r in enumerate(c["refs"])]
        return {"id": c["id"], "object": "character", "name": c["name"], "status": c["status"],
                "refs": refs, "created_at": iso(c["created"]), "updated_at": iso(c["updated_at"]),
                "attributes": c["attributes"], "error_message": c["error_message"],
                "client_reference_id": c.get("client_reference_id"),
                "deleted_at": iso(c.get("deleted_at")), "aurous_version": c["aurous_version"]}

    def get_char(self, cid, param=None):
        c = self.s.chars.get(cid)
        if not c or c["status"] == "deleted":
            raise not_found("character", param)
        self.s.settle_char(c, time.time())
        return c

    def upload_init(self, req):
        b = req.json_body()
        fn = want_str(b, "filename", required=True, minlen=1, maxlen=120)
        ext = want_enum(b, "extension", list(UPLOAD_EXT), required=True)
        ct = want_enum(b, "content_type", ["image/jpeg", "image/png", "image/webp"], required=True)
        if UPLOAD_EXT[ext] != ct:
            raise bad("parameter_invalid_combination",
                      "'content_type' %s does not match extension '%s'." % (ct, ext), "content_type")
        uid = new_id("upl_")
        sig = self.token(uid)
        now = time.time()
        self.s.uploads[uid] = {"id": uid, "filename": fn, "ext": ext, "content_type": ct, "sig": sig,
                               "data": None, "consumed": False, "created": now}
        return jresp(200, {"upload_id": uid, "upload_url": "http://%s/_uploads/%s?sig=%s" % (req.host, uid, sig),
                           "upload_headers": {"Content-Type": ct}, "expires_at": iso(now + 900)})

    def upload_put(self, req):
        u = self.s.uploads.get(req.params["id"])
        if not u:
            raise not_found("upload", "upload_id")
        if q_str(req.query, "sig") != u["sig"]:
            raise ApiError(403, "authentication", "invalid_signature", "Bad or missing upload signature.", "sig")
        if u["consumed"]:
            raise bad("upload_invalid", "Upload already consumed.", "upload_id")
        u["data"] = req.body
        u["put_content_type"] = req.headers.get("content-type")
        return Resp(200, b"", "text/plain", [("ETag", '"%s"' % hashlib.md5(req.body).hexdigest())])

    def usable_upload(self, uid, param):
        u = self.s.uploads.get(uid) if isinstance(uid, str) else None
        if not u or u["consumed"] or u["data"] is None:
            raise bad("upload_invalid", "Upload '%s' is unknown, not uploaded, or already used." % uid, param)
        return u

    def guess_pose(self, u):
        fn = u["filename"].lower()
        for p in ("portrait", "front", "side", "back"):
            if p in fn:
                return p, 0.93
        return "other", 0.41

    def upload_classify(self, req):
        b = req.json_body()
        uid = want_str(b, "upload_id", required=True)
        u = self.usable_upload(uid, "upload_id")
        pose, conf = self.guess_pose(u)
        return jresp(200, {"upload_id": uid, "pose": pose, "confidence": conf})

    def start_synthesis(self, c, cost, pose=None):
        s = self.s
        c["status"] = "synthesizing"
        c["synth_t0"] = time.time()
        c["synth_L"] = float(s.char_latency())
        c["synth_target"] = "reviewing" if s.config.get("character_review") else "ready"
        c["synth_pose"] = pose
        c["hold_id"] = s.place_hold(cost, character_id=c["id"])
        c["updated_at"] = time.time()

    def create_character(self, req):
        s = self.s
        b = req.json_body()
        name = want_str(b, "name", maxlen=120)
        cref = want_str(b, "client_reference_id", maxlen=256)
        has_up = b.get("upload_ids") is not None
        gen = b.get("generate")
        if gen is not None and not isinstance(gen, bool):
            raise bad("invalid_format", "'generate' must be a boolean.", "generate")
        if has_up == bool(gen):
            raise bad("parameter_invalid_combination",
                      "Give exactly one of 'upload_ids' or 'generate: true'.", "upload_ids")
        attrs = b.get("attributes")
        if attrs is not None and not isinstance(attrs, dict):
            raise bad("invalid_format", "'attributes' must be an object.", "attributes")
        now = time.time()
        cid = new_id("char_")
        c = {"id": cid, "name": name if name is not None else "Untitled character", "status": "ready",
             "refs": [], "created": now, "updated_at": now, "attributes": attrs or {},
             "error_message": None, "client_reference_id": cref, "aurous_version": req.version,
             "hold_id": None, "version": 1}
        if has_up:
            ids = b["upload_ids"]
            if not isinstance(ids, list):
                raise bad("invalid_format", "'upload_ids' must be an array.", "upload_ids")
            if len(ids) < 1 or len(ids) > 6:
                raise bad("value_out_of_range", "'upload_ids' must hold 1 to 6 ids.", "upload_ids")
            if len(set(i for i in ids if isinstance(i, str))) != len(ids):
                raise bad("upload_invalid", "'upload_ids' contains duplicates.", "upload_ids")
            ups = [self.usable_upload(i, "upload_ids") for i in ids]
            for u in ups:
                u["consumed"] = True
                c["refs"].append({"pose": self.guess_pose(u)[0]})
        else:
            if attrs is None:
                raise bad("missing_field", "'attributes' is required with 'generate: true'.", "attributes")
            if 4 > s.available() + 1e-9:
                raise ApiError(402, "invalid_request", "balance_too_low",
                               "Team available balance is %s credits, synthesis requires 4."
                               % num(s.available()))
            self.start_synthesis(c, 4)
        s.chars[cid] = c
        s.char_order.append(cid)
        return jresp(201, self.char_json(c, req.host))

    def list_characters(self, req):
        s = self.s
        now = time.time()
        items = []
        for cid in reversed(s.char_order):
            c = s.chars.get(cid)
            if c and c["status"] != "deleted":
                s.settle_char(c, now)
                items.append(c)
        page, more = paginate(items, req.query)
        return jresp(200, list_body([self.char_json(c, req.host) for c in page], more))

    def get_character(self, req):
        return jresp(200, self.char_json(self.get_char(req.params["id"]), req.host))

    def patch_character(self, req):
        c = self.get_char(req.params["id"], "character_id")
        b = req.json_body()
        for k in b:
            if k not in ("name", "attributes"):
                raise bad("invalid_request", "Field '%s' cannot be updated; only name and attributes." % k, k)
        if "name" in b:
            c["name"] = want_str(b, "name", required=True, minlen=1, maxlen=120)
        if "attributes" in b:
            if not isinstance(b["attributes"], dict):
                raise bad("invalid_format", "'attributes' must be an object.", "attributes")
            c["attributes"] = b["attributes"]
        c["updated_at"] = time.time()
        return jresp(200, self.char_json(c, req.host))

    def save_character(self, req):
        c = self.get_char(req.params["id"])
        if c["status"] == "reviewing":
            c["status"] = "ready"
            c["updated_at"] = time.time()
        elif c["status"] != "ready":
            raise bad("invalid_request_error", "Character in status '%s' cannot be saved." % c["status"], None)
        return jresp(200, self.char_json(c, req.host))

    def _resynth_check(self, c, cost):
        if c["status"] not in ("reviewing", "ready", "failed"):
            raise bad("invalid_request_error", "Character in status '%s' cannot be re-synthesized."
                      % c["status"], None)
        if cost > self.s.available() + 1e-9:
            raise ApiError(402, "invalid_request", "insufficient_credits",
                           "Team available balance is %s credits, this requires %s."
                           % (num(self.s.available()), cost))

    def regenerate_ref(self, req):
        c = self.get_char(req.params["id"])
        b = req.json_body()
        pose = want_enum(b, "pose", POSES, required=True, code="invalid_request_error")
        want_str(b, "prompt_override")
        self._resynth_check(c, 1)
        self.start_synthesis(c, 1, pose)
        return jresp(200, self.char_json(c, req.host))

    def resynthesize(self, req):
        c = self.get_char(req.params["id"])
        b = req.json_body()
        want_bool(b, "force_all")
        self._resynth_check(c, 4)
        self.start_synthesis(c, 4)
        return jresp(200, self.char_json(c, req.host))

    def delete_character(self, req):
        s = self.s
        c = self.get_char(req.params["id"])
        now = time.time()
        if c.get("hold_id"):
            s.release_hold(c["hold_id"], now, character_id=c["id"])
            c["hold_id"] = None
        if c["status"] == "reviewing":
            del s.chars[c["id"]]
            s.char_order.remove(c["id"])
        else:
            c["status"] = "deleted"
            c["deleted_at"] = now
            c["updated_at"] = now
        return jresp(200, {"id": c["id"], "object": "character", "deleted": True})

    # loras -------------------------------------------------------------------
    def list_loras(self, req):
        return jresp(200, IMAGE_LORAS)

    def get_lora(self, req):
        l = self.find_lora(IMAGE_LORAS, req.params["id"])
        if not l:
            raise not_found("LoRA", "id")
        return jresp(200, l)

    def list_video_loras(self, req):
        return jresp(200, VIDEO_LORAS)

    def get_video_lora(self, req):
        l = self.find_lora(VIDEO_LORAS, req.params["id"])
        if not l:
            raise not_found("video LoRA", "id")
        return jresp(200, l)

    # account -------------------------------------------------------------------
    def balance(self, req):
        s = self.s
        s.settle_all()
        return jresp(200, {"object": "balance", "credits": num(s.credits), "held_credits": num(s.held),
                           "available_credits": num(s.available()), "currency": "credit",
                           "billing_mode": "metered"})

    def team(self, req):
        self.s.settle_all()
        return jresp(200, {"id": "team_01J0MOCKTEAM00000000000000", "object": "team", "name": "Mock Team",
                           "credits": num(self.s.credits), "created_at": iso(EPOCH0),
                           "billing_email": "billing@example.com", "billing_mode": "metered",
                           "default_api_version": DEFAULT_VERSION})

    def pricing(self, req):
        if req.version not in KNOWN_VERSIONS:
            raise bad("unknown_version", "Unknown Aurous-Version '%s'." % req.version, "Aurous-Version")
        return jresp(200, {"object": "pricing", "version": req.version, "currency": "credit",
                           "description": "Baseline rate card for %s." % req.version,
                           "image": {"base": 1, "enhance_prompt_multiplier": 2, "reference_image_per_image": 0},
                           "video": {"base_per_second": 0.5, "resolution_factor": dict(VIDEO_RESOLUTIONS)}})

    def _time_range(self, query):
        st = q_str(query, "start_time")
        if st is None:
            raise bad("missing_field", "Query parameter 'start_time' is required.", "start_time")
        start = parse_time(st)
        if start is None:
            raise bad("invalid_format", "'start_time' must be RFC 3339.", "start_time")
        et = q_str(query, "end_time")
        end = None
        if et is not None:
            end = parse_time(et)
            if end is None:
                raise bad("invalid_format", "'end_time' must be RFC 3339.", "end_time")
            if end <= start:
                raise bad("value_out_of_range", "'end_time' must be after 'start_time'.", "end_time")
        return start, end

    def _token(self, obj):
        raw = json.dumps(obj, separators=(",", ":")).encode()
        sig = hmac.new(self.s.secret, raw, hashlib.sha256).digest()[:8]
        return base64.urlsafe_b64encode(raw + sig).decode().rstrip("=")

    def _untoken(self, tok, param):
        try:
            raw = base64.urlsafe_b64decode(tok + "=" * (-len(tok) % 4))
            body, sig = raw[:-8], raw[-8:]
            if not hmac.compare_digest(sig, hmac.new(self.s.secret, body, hashlib.sha256).digest()[:8]):
                raise ValueError("sig")
            return json.loads(body)
        except (ValueError, TypeError, base64.binascii.Error):
            raise bad("invalid_page_token", "The page token is invalid or expired.", param)

    @staticmethod
    def _fingerprint(query, skip):
        return canonical({k: sorted(v) for k, v in query.items() if k not in skip})

    def usage(self, req):
        s = self.s
        s.settle_all()
        q = req.query
        start, end = self._time_range(q)
        widths = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600, "1d": 86400, "7d": 604800}
        bw = q_str(q, "bucket_width") or "1d"
        if bw not in widths:
            raise bad("value_out_of_range", "'bucket_width' must be one of %s." % ", ".join(widths), "bucket_width")
        group_by = q.get("group_by[]", []) + q.get("group_by", [])
        group_by = [g for x in group_by for g in x.split(",") if g]
        for gname in group_by:
            if gname not in ("status", "api_key_id", "user_id", "type", "model"):
                raise bad("value_out_of_range", "Unknown group_by '%s'." % gname, "group_by")
        if len(group_by) > 2:
            raise bad("value_out_of_range", "At most 2 group_by keys.", "group_by")
        limit = q_int(q, "limit", 24, 1, 100)
        fp = self._fingerprint(q, ("page_token", "limit"))
        offset = 0
        tok = q_str(q, "page_token")
        if tok is not None:
            t = self._untoken(tok, "page_token")
            if not isinstance(t, dict) or t.get("f") != fp or t.get("k") != "usage":
                raise bad("invalid_page_token", "The page token does not match this query.", "page_token")
            offset, end = int(t["o"]), float(t["e"])
        if end is None:
            end = time.time()
        w = widths[bw]
        total = int(math.ceil((end - start) / float(w)))
        rows = []
        gens = [s.gens[i] for i in s.gen_order]
        for i in range(offset, min(total, offset + limit)):
            b_end = end - i * w
            b_start = max(start, b_end - w)
            groups = {}
            for g in gens:
                if not (b_start <= g["t0"] < b_end):
                    continue
                key = {}
                for gname in group_by:
                    key[gname] = {"status": g["status"], "type": g["inference_type"],
                                  "api_key_id": "key_01J0MOCKKEY000000000000000",
                                  "user_id": None, "model": None}[gname]
                k = canonical(key)
                m = groups.setdefault(k, {"key": key, "durs": [], "metrics": {
                    "request_count": 0, "successful_count": 0, "failed_count": 0, "cancelled_count": 0,
                    "credits_used": 0, "image_count": 0, "video_seconds": 0,
                    "total_input_tokens": 0, "total_output_tokens": 0}})
                mt = m["metrics"]
                mt["request_count"] += 1
                if g["status"] == "succeeded":
                    mt["successful_count"] += 1
                    mt["credits_used"] = num(mt["credits_used"] + g["cost"])
                    if g["media_type"] == "video":
                        mt["video_seconds"] += g["duration"]
                    else:
                        mt["image_count"] += g["image_count"]
                elif g["status"] == "cancelled":
                    mt["cancelled_count"] += 1
                elif g["status"] in ("failed", "moderation_rejected", "expired"):
                    mt["failed_count"] += 1
                if g.get("duration_ms") is not None:
                    m["durs"].append(g["duration_ms"])
            out_groups = []
            for m in groups.values():
                d = sorted(m["durs"])
                mt = m["metrics"]
                mt["duration_ms_p50"] = d[len(d) // 2] if d else None
                mt["duration_ms_p95"] = d[min(len(d) - 1, int(len(d) * 0.95))] if d else None
                out_groups.append({"key": m["key"], "metrics": mt})
            rows.append({"object": "usage.bucket", "bucket_start": iso(b_start), "bucket_end": iso(b_end),
                         "groups": out_groups})
        more = offset + limit < total
        nxt = self._token({"k": "usage", "o": offset + limit, "f": fp, "e": end}) if more else None
        return jresp(200, {"object": "list", "data": rows, "has_more": more, "next_page": nxt})

    def usage_events(self, req):
        s = self.s
        s.settle_all()
        q = req.query
        start, end = self._time_range(q)
        limit = q_int(q, "limit", 100, 1, 500)
        typ = q_str(q, "type")
        if typ is not None and typ not in ("chat", "embedding", "image", "video"):
            raise bad("value_out_of_range", "'type' must be chat, embedding, image or video.", "type")
        st = q_str(q, "status")
        smap = {"succeeded": "completed", "failed": "failed", "moderation_rejected": "failed",
                "expired": "failed", "cancelled": "cancelled", "processing": "processing", "pending": "pending"}
        if st is not None and st not in ("completed", "failed", "cancelled", "processing", "pending"):
            raise bad("value_out_of_range", "Unknown 'status'.", "status")
        fp = self._fingerprint(q, ("cursor", "limit"))
        offset = 0
        cur = q_str(q, "cursor")
        e = end
        if cur is not None:
            t = self._untoken(cur, "cursor")
            if not isinstance(t, dict) or t.get("f") != fp or t.get("k") != "events":
                raise bad("invalid_page_token", "The cursor does not match this query.", "cursor")
            offset, e = int(t["o"]), float(t["e"])
        if e is None:
            e = time.time() + 1
        rows = []
        for gid in s.gen_order:
            g = s.gens[gid]
            if not (start <= g["t0"] < e):
                continue
            row = {"id": g["id"], "object": "usage_event", "type": g["media_type"],
                   "model": (g["loras"][0]["id"] if g.get("loras") else None),
                   "status": smap.get(g["status"], g["status"]), "created_at": iso(g["t0"]),
                   "completed_at": iso(g.get("completed_at")), "duration_ms": g.get("duration_ms"),
                   "input_tokens": 0, "output_tokens": 0,
                   "credits_charged": g["cost"] if g["status"] == "succeeded" else 0,
                   "api_key_id": "apikey_01J0MOCKKEY0000000000000", "user_id": None,
                   "request_id": g["creation_request_id"], "_t": g["t0"]}
            if typ and row["type"] != typ:
                continue
            if st and row["status"] != st:
                continue
            rows.append(row)
        rows.sort(key=lambda r: r["id"])
        rows.sort(key=lambda r: r["_t"], reverse=True)
        page = rows[offset:offset + limit]
        for r in page:
            r.pop("_t", None)
        more = offset + limit < len(rows)
        nxt = self._token({"k": "events", "o": offset + limit, "f": fp, "e": e}) if more else None
        return jresp(200, {"object": "list", "data": page, "has_more": more, "next_cursor": nxt})

    def ledger(self, req):
        s = self.s
        s.settle_all()
        typ = q_str(req.query, "type")
        if typ is not None and typ not in LEDGER_TYPES:
            raise bad("value_out_of_range", "'type' must be one of %s." % ", ".join(LEDGER_TYPES), "type")
        items = [r for r in reversed(s.ledger) if typ is None or r["type"] == typ]
        page, more = paginate(items, req.query)
        return jresp(200, list_body(page, more))

    # webhook endpoints ---------------------------------------------------------
    def we_json(self, e, secret=None):
        sec = e["secret"]
        return {"id": e["id"], "object": "webhook_endpoint", "url": e["url"], "events": list(e["events"]),
                "description": e["description"], "metadata": e["metadata"],
                "secret_preview": sec[:9] + "..." + sec[-4:], "secret": secret,
                "is_active": e["is_active"], "consecutive_failures": e["consecutive_failures"],
                "last_success_at": iso(e["last_success_at"]), "last_failure_at": iso(e["last_failure_at"]),
                "created_at": iso(e["created"]), "updated_at": iso(e["updated"])}

    def _we_fields(self, b, e, creating):
        if "url" in b or creating:
            url = want_str(b, "url", required=True, maxlen=2048)
            if not url.startswith("https://") or len(url) <= len("https://"):
                raise bad("invalid_format", "'url' must be an https:// URL.", "url")
            e["url"] = url
        if "events" in b or creating:
            ev = b.get("events")
            if ev is None:
                raise bad("missing_field", "Missing required field 'events'.", "events")
            if not isinstance(ev, list) or not all(isinstance(x, str) for x in ev):
                raise bad("invalid_format", "'events' must be an array of strings.", "events")
            if not ev:
                raise bad("value_out_of_range", "'events' must not be empty.", "events")
            out = []
            for x in ev:
                if x == "*":
                    out.extend(EVENT_TYPES)
                elif x in EVENT_TYPES:
                    out.append(x)
                else:
                    raise bad("value_out_of_range", "Unknown event type '%s'." % x, "events")
            seen = []
            for x in out:
                if x not in seen:
                    seen.append(x)
            e["events"] = seen
        if "description" in b:
            d = b["description"]
            if d is not None and not isinstance(d, str):
                raise bad("invalid_format", "'description' must be a string.", "description")
            if d is not None and len(d) > 500:
                raise bad("value_out_of_range", "'description' must be at most 500 characters.", "description")
            e["description"] = d
        if "metadata" in b:
            m = b["metadata"]
            if m is None:
                m = {}
            if not isinstance(m, dict):
                raise bad("invalid_format", "'metadata' must be an object.", "metadata")
            if len(m) > 50:
                raise bad("value_out_of_range", "'metadata' may hold at most 50 keys.", "metadata")
            for k, v in m.items():
                if not isinstance(v, str):
                    raise bad("invalid_format", "'metadata' values must be strings.", "metadata")
                if len(v) > 500 or len(k) > 40:
                    raise bad("value_out_of_range", "'metadata' key/value too long.", "metadata")
            e["metadata"] = m
        if "is_active" in b and not creating:
            v = want_bool(b, "is_active")
            if v is not None:
                if v and not e["is_active"]:
                    e["consecutive_failures"] = 0
                e["is_active"] = v

    def create_webhook(self, req):
        b = req.json_body()
        now = time.time()
        e = {"id": new_id("we_"), "description": None, "metadata": {}, "is_active": True,
             "consecutive_failures": 0, "last_success_at": None, "last_failure_at": None,
             "created": now, "updated": now, "fail_next": 0, "previous_secrets": []}
        self._we_fields(b, e, True)
        secret = "whsec_" + base64.b32encode(os.urandom(20)).decode().lower().rstrip("=")
        e["secret"] = secret
        self.s.webhooks[e["id"]] = e
        self.s.webhook_order.append(e["id"])
        self.s.deliveries[e["id"]] = []
        return jresp(201, self.we_json(e, secret))

    def get_we(self, wid):
        e = self.s.webhooks.get(wid)
        if not e:
            raise not_found("webhook endpoint", "id")
        return e

    def get_webhook(self, req):
        return jresp(200, self.we_json(self.get_we(req.params["id"])))

    def list_webhooks(self, req):
        items = [self.s.webhooks[i] for i in reversed(self.s.webhook_order)]
        page, more = paginate(items, req.query)
        return jresp(200, list_body([self.we_json(e) for e in page], more))

    def update_webhook(self, req):
        e = self.get_we(req.params["id"])
        b = req.json_body()
        self._we_fields(b, e, False)
        e["updated"] = time.time()
        return jresp(200, self.we_json(e))

    def delete_webhook(self, req):
        wid = req.params["id"]
        e = self.s.webhooks.pop(wid, None)
        if e is None:
            return jresp(200, {"object": "webhook_endpoint", "deleted": False, "id": None})
        self.s.webhook_order.remove(wid)
        return jresp(200, {"object": "webhook_endpoint", "deleted": True, "id": wid})

    def rotate_secret(self, req):
        e = self.get_we(req.params["id"])
        now = time.time()
        e["previous_secrets"].append((e["secret"], now + 86400))
        secret = "whsec_" + base64.b32encode(os.urandom(20)).decode().lower().rstrip("=")
        e["secret"] = secret
        e["updated"] = now
        out = self.we_json(e, secret)
        out["previous_secret_expires_at"] = iso(now + 86400)
        return jresp(200, out)

    def test_webhook(self, req):
        e = self.get_we(req.params["id"])
        b = req.json_body()
        et = want_str(b, "event_type", required=True)
        if et not in e["events"]:
            raise bad("value_out_of_range", "Endpoint is not subscribed to '%s'." % et, "event_type")
        now = time.time()
        eid = new_id("evt_")
        payload = canonical({"id": eid, "object": "event", "type": et, "created": int(now),
                             "api_version": req.version, "synthetic": True,
                             "data": {"object": {"id": "img_01J0MOCKSYNTHETIC0000000000", "status": "succeeded"}}})
        ts = int(now)
        sig = "t=%d,v1=%s" % (ts, hmac.new(e["secret"].encode(), ("%d.%s" % (ts, payload)).encode(),
                                         hashlib.sha256).hexdigest())
        if e["fail_next"] > 0:
            e["fail_next"] -= 1
            code, ok = 500, False
            e["consecutive_failures"] += 1
            e["last_failure_at"] = now
        else:
            code, ok = 200, True
            e["consecutive_failures"] = 0
            e["last_success_at"] = now
        self.s.deliveries[e["id"]].append({
            "id": new_id("whdel_"), "object": "webhook_delivery", "endpoint_id": e["id"], "event_id": eid,
            "event_type": et, "attempt": 1, "status_code": code, "succeeded": ok, "created_at": iso(now),
            "payload": payload, "signature": sig})
        return jresp(200, {"object": "webhook_test_fire", "endpoint_id": e["id"], "event_id": eid,
                           "enqueued": True})

    def deliveries(self, req):
        e = self.get_we(req.params["id"])
        items = list(reversed(self.s.deliveries.get(e["id"], [])))
        page, more = paginate(items, req.query)
        return jresp(200, list_body(page, more))


# route table: method, pattern, handler, bucket, flags
#   flags: "idem" idempotency supported; "token" output proxy auth (key or ?token=);
#          "noauth" no auth at all
ROUTES_SPEC = [
    ("POST", "/v1/images", "create_image", "images_post", "idem"),
    ("POST", "/v1/images/estimate", "estimate_image", "estimate_post", ""),
    ("GET", "/v1/images", "list_images", "get", ""),
    ("GET", "/v1/images/{id}", "get_generation", "get", ""),
    ("POST", "/v1/images/{id}/cancel", "cancel", "images_post", ""),
    ("GET", "/v1/images/{id}/output/{n}", "image_output", "get", "token"),
    ("POST", "/v1/videos", "create_video", "images_post", "idem"),
    ("POST", "/v1/videos/estimate", "estimate_video", "estimate_post", ""),
    ("GET", "/v1/videos/{id}", "get_generation", "get", ""),
    ("GET", "/v1/videos/{id}/output", "video_output", "get", "token"),
    ("POST", "/v1/files", "upload_file", "files_post", "idem"),
    ("GET", "/v1/files/{id}", "get_file", "get", ""),
    ("DELETE", "/v1/files/{id}", "delete_file", "files_post", ""),
    ("POST", "/v1/characters/uploads/init", "upload_init", "characters_post", ""),
    ("POST", "/v1/characters/uploads/classify", "upload_classify", "characters_post", ""),
    ("POST", "/v1/characters", "create_character", "characters_synthesize", ""),
    ("GET", "/v1/characters", "list_characters", "characters_get", ""),
    ("GET", "/v1/characters/{id}", "get_character", "characters_get", ""),
    ("PATCH", "/v1/characters/{id}", "patch_character", "characters_post", ""),
    ("DELETE", "/v1/characters/{id}", "delete_character", "characters_post", ""),
    ("POST", "/v1/characters/{id}/save", "save_character", "characters_post", ""),
    ("POST", "/v1/characters/{id}/refs/regenerate", "regenerate_ref", "characters_synthesize", "idem"),
    ("POST", "/v1/characters/{id}/resynthesize", "resynthesize", "characters_synthesize", "idem"),
    ("GET", "/v1/loras", "list_loras", "get", ""),
    ("GET", "/v1/loras/{id}", "get_lora", "get", ""),
    ("GET", "/v1/video_loras", "list_video_loras", "get", ""),
    ("GET", "/v1/video_loras/{id}", "get_video_lora", "get", ""),
    ("GET", "/v1/balance", "balance", "get", ""),
    ("GET", "/v1/team", "team", "get", ""),
    ("GET", "/v1/pricing", "pricing", "get", ""),
    ("GET", "/v1/usage", "usage", "get", ""),
    ("GET", "/v1/usage/events", "usage_events", "get", ""),
    ("GET", "/v1/ledger", "ledger", "get", ""),
    ("POST", "/v1/webhook_endpoints", "create_webhook", "webhooks_post", ""),
    ("GET", "/v1/webhook_endpoints", "list_webhooks", "get", ""),
    ("GET", "/v1/webhook_endpoints/{id}", "get_webhook", "get", ""),
    ("PATCH", "/v1/webhook_endpoints/{id}", "update_webhook", "webhooks_post", ""),
    ("DELETE", "/v1/webhook_endpoints/{id}", "delete_webhook", "webhooks_post", ""),
    ("POST", "/v1/webhook_endpoints/{id}/rotate_secret", "rotate_secret", "webhooks_post", ""),
    ("POST", "/v1/webhook_endpoints/{id}/test", "test_webhook", "webhooks_test", ""),
    ("GET", "/v1/webhook_endpoints/{id}/deliveries", "deliveries", "get", ""),
    ("PUT", "/_uploads/{id}", "upload_put", "characters_post", "noauth"),
]


def _compile(pattern):
    rx = "^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(pattern)) + "$"
    return re.compile(rx)


ROUTES = [(m, _compile(p), "%s %s" % (m, p), h, b, f) for (m, p, h, b, f) in ROUTES_SPEC]


# ---------------------------------------------------------------- HTTP layer
class Request(object):
    def __init__(self, handler, method, path, query, headers, body):
        self.handler = handler
        self.method, self.path, self.query = method, path, query
        self.headers, self.body = headers, body
        self.params = {}
        self.request_id = new_id("req_")
        self.version = DEFAULT_VERSION
        self.host = headers.get("host") or ("%s:%d" % handler.server.server_address[:2])
        self._json = None
        self._parts = None

    def json_body(self):
        if self._json is None:
            if not self.body.strip():
                self._json = {}
            else:
                try:
                    v = json.loads(self.body.decode("utf-8"))
                except (ValueError, UnicodeDecodeError):
                    raise bad("invalid_format", "The request body is not valid JSON.", None)
                if not isinstance(v, dict):
                    raise bad("invalid_format", "The request body must be a JSON object.", None)
                self._json = v
        return self._json

    def multipart(self):
        if self._parts is None:
            self._parts = parse_multipart(self.headers.get("content-type", ""), self.body)
        return self._parts


def error_body(e, request_id):
    return {"error": {"type": e.type, "code": e.code, "message": e.message, "param": e.param,
                      "doc_url": DOC_URL + e.code, "request_id": request_id}}


def log_entry(req):
    body = req.body
    text = body[:MAX_LOGGED_BODY].decode("utf-8", "replace")
    js = None
    ct = req.headers.get("content-type", "")
    mp = None
    if body and "multipart/form-data" in ct.lower():
        parts = parse_multipart(ct, body) or []
        mp = []
        for p in parts:
            d = {"name": p["name"], "filename": p["filename"], "content_type": p["content_type"],
                 "size": len(p["data"]), "text": None}
            if len(p["data"]) < 4096:
                try:
                    d["text"] = p["data"].decode("utf-8")
                except UnicodeDecodeError:
                    pass
            mp.append(d)
    elif body:
        try:
            js = json.loads(body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            js = None
    return {"method": req.method, "path": req.path, "raw_path": req.handler.path, "query": req.query,
            "headers": dict(req.headers),
            "body_text": text, "body_size": len(body), "json": js, "multipart": mp or [],
            "time": time.time(), "request_id": req.request_id,
            "client_port": req.handler.client_address[1]}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "AurousMock/1.0"
    sys_version = ""
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))

    def log_request(self, code="-", size="-"):
        if self.server.verbose:
            BaseHTTPRequestHandler.log_request(self, code, size)

    def do_GET(self):
        self.handle_any()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    # ---------------------------------------------------------------------
    def read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    break
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while True:  # trailers
                        t = self.rfile.readline(65537)
                        if t in (b"\r\n", b"\n", b""):
                            break
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(3)
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def handle_any(self):
        st = self.server.state
        try:
            body = self.read_body()
        except (ValueError, OSError):
            self.close_connection = True
            return
        split = urlsplit(self.path)
        path = split.path
        query = parse_qs(split.query, keep_blank_values=True)
        headers = {}
        for k, v in self.headers.items():
            lk = k.lower()
            headers[lk] = v if lk not in headers else headers[lk] + ", " + v
        req = Request(self, self.command, path, query, headers, body)
        if path.startswith("/_mock/") or path == "/_mock":
            try:
                resp = self.control(req)
            except ApiError as e:
                resp = jresp(e.status, error_body(e, req.request_id), e.headers)
            self.send(req, resp, "control")
            return
        fault = None
        with st.lock:
            st.requests_total += 1
            if not (path.startswith("/_media/") or path.startswith("/_files/")):
                st.requests.append(log_entry(req))
                if len(st.requests) > MAX_LOGGED_REQUESTS:
                    del st.requests[:len(st.requests) - MAX_LOGGED_REQUESTS]
            for i, f in enumerate(st.faults):
                if f.get("method") and f["method"].upper() != self.command:
                    continue
                if not re.search(f["path"], path):
                    continue
                fault = dict(f)
                f["times"] -= 1
                if f["times"] <= 0:
                    st.faults.pop(i)
                break
        action = fault["action"] if fault else None
        if action in ("status", "reset", "truncate", "malformed", "html", "huge") and not fault.get("execute"):
            self.apply_early_fault(req, fault)
            return
        if path.startswith("/_media/") or path.startswith("/_files/"):
            if action == "slow_headers":
                time.sleep(float(fault.get("delay", 1.0)))
            resp = self.media(req)
            self.send(req, resp, "get", fault)
            return
        resp, bucket = self.api(req, fault)
        if action in ("status", "truncate", "malformed", "html", "huge"):
            # execute: true -- the request ran (state changed), the answer is the fault's
            resp = self.fault_response(req, fault, resp)
            self.send(req, resp, bucket, fault if action == "truncate" else None,
                      ratelimit_zero=(resp.status == 429))
            return
        self.send(req, resp, bucket, fault)

    # ---------------------------------------------------------------------
    def api(self, req, fault):
        st = self.server.state
        route = None
        allowed = False
        for (m, rx, key, hname, bucket, flags) in ROUTES:
            mt = rx.match(req.path)
            if not mt:
                continue
            if m != req.method and not (req.method == "HEAD" and m == "GET"):
                allowed = True
                continue
            route = (key, hname, bucket, flags)
            req.params = {k: unquote(v) for k, v in mt.groupdict().items()}
            break
        if route is None:
            if allowed:
                e = ApiError(405, "invalid_request", "method_not_allowed",
                             "Method %s is not allowed on %s." % (req.method, req.path))
            else:
                e = not_found("route", None)
                e.message = "Unrecognized request URL (%s %s)." % (req.method, req.path)
            return jresp(e.status, error_body(e, req.request_id)), "get"
        key, hname, bucket, flags = route
        idem_key = None
        try:
            ver = req.headers.get("aurous-version")
            self.auth(req, flags)
            if ver is not None:
                if not VERSION_RE.match(ver):
                    raise bad("invalid_format", "Aurous-Version must look like YYYY-MM-DD.", "Aurous-Version")
                req.version = ver
            if "idem" in flags:
                idem_key = req.headers.get("idempotency-key")
                if idem_key is None:
                    idem_key = req.headers.get("aurous-idempotent-key")
                if idem_key is not None:
                    if len(idem_key) < 1 or len(idem_key) > 256:
                        raise bad("invalid_format", "Idempotency-Key must be 1-256 characters.", "Idempotency-Key")
                    replay = self.idem_claim(req, key, idem_key)
                    if replay is not None:
                        return replay, bucket
            if fault and fault["action"] == "slow_headers":
                time.sleep(float(fault.get("delay", 1.0)))
            with st.lock:
                st.executed[key] = st.executed.get(key, 0) + 1
                try:
                    resp = getattr(st.api, hname)(req)
                except ApiError as e:
                    resp = jresp(e.status, error_body(e, req.request_id), e.headers)
        except ApiError as e:
            resp = jresp(e.status, error_body(e, req.request_id), e.headers)
            if idem_key is not None and e.code != "idempotency_key_in_use":
                self.idem_finish(req, key, idem_key, resp)
            return resp, bucket
        except Exception as ex:  # a bug in the mock: answer 500 rather than hang
            import traceback
            traceback.print_exc()
            e = ApiError(500, "server_error", "internal_error", "Mock internal error: %s" % ex)
            resp = jresp(500, error_body(e, req.request_id))
        if idem_key is not None:
            self.idem_finish(req, key, idem_key, resp)
        return resp, bucket

    def auth(self, req, flags):
        if "noauth" in flags:
            return
        key = req.headers.get("x-api-key")
        if key is None:
            a = req.headers.get("authorization")
            if a is not None:
                m = re.match(r"^\s*Bearer\s+(.*?)\s*$", a, re.I)
                key = m.group(1) if m else a
        if key is None and "token" in flags:
            tok = q_str(req.query, "token")
            if tok is not None:
                if hmac.compare_digest(tok, self.server.state.api.token(req.params.get("id", ""))):
                    return
                raise ApiError(401, "authentication", "invalid_api_key", "Invalid or expired output token.")
        if key is None or key == "":
            raise ApiError(401, "authentication", "missing_api_key",
                           "No API key provided. Send X-Api-Key or Authorization: Bearer.")
        if "revoked" in key:
            raise ApiError(401, "authentication", "revoked_api_key", "This API key has been revoked.")
        if not KEY_RE.match(key):
            raise ApiError(401, "authentication", "invalid_api_key", "Invalid API key.")
        if "readonly" in key and req.method not in ("GET", "HEAD"):
            raise ApiError(403, "authentication", "missing_scope", "This API key lacks the 'write' scope.")

    def idem_claim(self, req, route_key, idem_key):
        st = self.server.state
        if "multipart/form-data" in req.headers.get("content-type", "").lower():
            parts = req.multipart() or []
            fp = canonical({p["name"]: p["data"].decode("utf-8", "replace")
                            for p in parts if p["name"] in ("purpose", "metadata")})
        else:
            try:
                fp = canonical(json.loads(req.body.decode("utf-8"))) if req.body.strip() else "{}"
            except (ValueError, UnicodeDecodeError):
                fp = "raw:" + hashlib.sha256(req.body).hexdigest()
        route = "%s %s" % (req.method, req.path)
        with st.lock:
            ent = st.idem.get(idem_key)
            if ent is not None:
                if ent["route"] != route or ent["fp"] != fp:
                    raise bad("idempotency_key_in_use",
                              "Idempotency key reused with a different request body or route.",
                              None, 409)
                if ent["state"] == "running":
                    raise bad("idempotency_key_in_use",
                              "A request with this idempotency key is still being processed.", None, 409)
                r = ent["resp"]
                return Resp(r.status, r.body, r.ctype,
                            list(r.headers) + [("Aurous-Idempotent-Replayed", "true")])
            st.idem[idem_key] = {"route": route, "fp": fp, "state": "running", "resp": None}
        return None

    def idem_finish(self, req, route_key, idem_key, resp):
        st = self.server.state
        with st.lock:
            ent = st.idem.get(idem_key)
            if ent is None or ent["state"] != "running":
                return
            if 200 <= resp.status < 300:
                ent["state"] = "done"
                ent["resp"] = resp
            else:
                del st.idem[idem_key]

    # ---------------------------------------------------------------------
    def media(self, req):
        st = self.server.state
        parts = req.path.split("/")
        with st.lock:
            if req.path.startswith("/_files/") and len(parts) == 3:
                f = st.files.get(parts[2])
                if not f:
                    e = not_found("file", None)
                    return jresp(404, error_body(e, req.request_id))
                return self.ranged(req, Media(f["data"], "", len(f["data"])), f["mime_type"])
            if len(parts) != 4:
                e = not_found("media", None)
                return jresp(404, error_body(e, req.request_id))
            oid, n = parts[2], parts[3]
            size = int(st.config.get("media_size", 4096))
            g = st.gens.get(oid)
            c = st.chars.get(oid)
            if g is not None:
                st.settle_gen(g, time.time())
                if g["expired"]:
                    e = ApiError(410, "not_found", "output_expired", "The outputs have expired.")
                    return jresp(410, error_body(e, req.request_id))
                if g["status"] != "succeeded":
                    e = bad("output_not_available", "No output.", None, 422)
                    return jresp(422, error_body(e, req.request_id))
                if g["media_type"] == "video":
                    return self.ranged(req, Media(mp4_header(), oid + "/" + n, size), "video/mp4")
                return self.ranged(req, Media(png_bytes_header(g["width"], g["height"]), oid + "/" + n, size),
                                   "image/png")
            if c is not None:
                return self.ranged(req, Media(png_bytes_header(1024, 1024), oid + "/" + n, size), "image/png")
        e = not_found("media", None)
        return jresp(404, error_body(e, req.request_id))

    def ranged(self, req, media, ctype):
        total = media.size
        rng = req.headers.get("range")
        headers = [("Accept-Ranges", "bytes"), ("Cache-Control", "private, max-age=3600")]
        start, end, status = 0, total, 200
        if rng:
            m = re.match(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", rng)
            ok = False
            if m and (m.group(1) or m.group(2)):
                if m.group(1):
                    s0 = int(m.group(1))
                    e0 = int(m.group(2)) + 1 if m.group(2) else total
                    if s0 < total and e0 > s0:
                        start, end, ok = s0, min(e0, total), True
                else:
                    k = int(m.group(2))
                    if k > 0:
                        start, end, ok = max(0, total - k), total, True
            if not ok:
                r = Resp(416, b"", ctype, [("Content-Range", "bytes */%d" % total)])
                return r
            status = 206
            headers.append(("Content-Range", "bytes %d-%d/%d" % (start, end - 1, total)))
        r = Resp(status, b"", ctype, headers)
        r.stream = media.chunks(start, end)
        r.length = end - start
        return r

    # ---------------------------------------------------------------------
    def control(self, req):
        st = self.server.state
        p = req.path.rstrip("/")
        m = req.method
        try:
            b = json.loads(req.body.decode("utf-8")) if req.body.strip() else {}
        except (ValueError, UnicodeDecodeError):
            raise bad("invalid_format", "Control body must be JSON.")
        with st.lock:
            if p == "/_mock/reset" and m == "POST":
                if not isinstance(b, dict):
                    raise bad("invalid_format", "reset body must be an object")
                st.reset(b)
                return jresp(200, {"ok": True, "config": st.public_config()})
            if p == "/_mock/config":
                if m == "POST":
                    if not isinstance(b, dict):
                        raise bad("invalid_format", "config body must be an object")
                    st.apply_config(b)
                return jresp(200, {"ok": True, "config": st.public_config()})
            if p == "/_mock/requests":
                if m == "DELETE":
                    st.requests = []
                    return jresp(200, {"ok": True})
                return jresp(200, {"object": "list", "data": st.requests})
            if p == "/_mock/faults":
                if m == "DELETE":
                    st.faults = []
                    return jresp(200, {"ok": True, "pending": 0})
                if m == "GET":
                    return jresp(200, {"object": "list", "data": st.faults})
                specs = b if isinstance(b, list) else (b.get("faults") if isinstance(b, dict) and "faults" in b
                                                       else [b])
                for f in specs:
                    st.faults.append(self.check_fault(f))
                return jresp(200, {"ok": True, "pending": len(st.faults)})
            if p == "/_mock/counters":
                st.settle_all()
                return jresp(200, {"executed": st.executed, "charged_credits": num(st.charged_credits),
                                   "committed_credits": num(st.committed_credits),
                                   "requests_total": st.requests_total})
            mt = re.match(r"^/_mock/expire/([^/]+)$", p)
            if mt and m == "POST":
                g = st.gens.get(mt.group(1))
                if not g:
                    raise not_found("generation", "id")
                g["expired"] = True
                return jresp(200, {"ok": True, "id": g["id"], "expired": True})
            mt = re.match(r"^/_mock/webhook_endpoints/([^/]+)/fail_count$", p)
            if mt and m == "POST":
                e = st.webhooks.get(mt.group(1))
                if not e:
                    raise not_found("webhook endpoint", "id")
                if not isinstance(b, dict):
                    raise bad("invalid_format", "body must be an object")
                if "fail_next" in b:
                    e["fail_next"] = int(b["fail_next"])
                if "consecutive_failures" in b:
                    e["consecutive_failures"] = int(b["consecutive_failures"])
                    if e["consecutive_failures"] > 0:
                        e["last_failure_at"] = time.time()
                if "is_active" in b:
                    e["is_active"] = bool(b["is_active"])
                return jresp(200, st.api.we_json(e))
        raise not_found("control route", None)

    @staticmethod
    def check_fault(f):
        if not isinstance(f, dict):
            raise bad("invalid_format", "fault must be an object")
        actions = ("status", "reset", "truncate", "malformed", "html", "slow_headers", "slow_body",
                   "huge", "execute_then_reset")
        if f.get("action") not in actions:
            raise bad("value_out_of_range", "fault action must be one of %s" % ", ".join(actions), "action")
        f = dict(f)
        f.setdefault("path", ".*")
        try:
            re.compile(f["path"])
        except re.error:
            raise bad("invalid_format", "fault path is not a valid regex", "path")
        f["times"] = int(f.get("times", 1))
        if f["action"] == "status":
            f["status"] = int(f.get("status", 500))
        return f

    # ---------------------------------------------------------------------
    def fault_response(self, req, f, real=None):
        """The response a fault answers with (None for reset). real: the
        executed response when the fault has execute: true."""
        a = f["action"]
        if a == "status":
            status = f["status"]
            defaults = {429: ("rate_limit", "too_many_requests"), 408: ("server_error", "request_timeout"),
                        409: ("invalid_request", "idempotency_key_in_use"),
                        401: ("authentication", "invalid_api_key"), 403: ("authentication", "missing_scope"),
                        404: ("not_found", "resource_not_found"), 402: ("invalid_request", "balance_too_low"),
                        410: ("not_found", "output_expired"), 422: ("invalid_request", "output_not_available")}
            if status >= 500:
                dt, dc = "server_error", {503: "provider_unavailable", 504: "provider_timeout"}.get(status,
                                                                                                 "internal_error")
            else:
                dt, dc = defaults.get(status, ("invalid_request", "invalid_request"))
            e = ApiError(status, f.get("type", dt), f.get("code", dc),
                         f.get("message", "Injected fault: HTTP %d." % status), f.get("param"))
            headers = []
            if f.get("retry_after") is not None:
                headers.append(("Retry-After", str(f["retry_after"])))
            for k, v in (f.get("headers") or {}).items():
                headers.append((k, str(v)))
            return jresp(status, error_body(e, req.request_id), headers)
        if a == "malformed":
            return Resp(200, b'{"id": "img_01', "application/json")
        if a == "html":
            page = (b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>"
                    b"<center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>\n")
            return Resp(502, page, "text/html; charset=utf-8")
        if a == "truncate":
            if real is not None:
                return real
            return Resp(200, b'{"object":"list","data":[{"id":"img_01', "application/json")
        if a == "huge":
            size = int(f.get("size", 64 * 1024 * 1024))
            head = b'{"object":"list","data":[],"padding":"'
            tail = b'"}'
            pad = max(0, size - len(head) - len(tail))
            r = Resp(200, b"", "application/json")

            def gen():
                yield head
                block = b"x" * 65536
                left = pad
                while left > 0:
                    n = min(left, 65536)
                    yield block[:n]
                    left -= n
                yield tail
            r.stream = gen()
            r.length = len(head) + pad + len(tail)
            return r
        return real

    def apply_early_fault(self, req, f):
        """Faults that answer without executing the request."""
        if f["action"] == "reset":
            self.rst()
            return
        resp = self.fault_response(req, f)
        bucket = "get" if req.method == "GET" else "images_post"
        self.send(req, resp, bucket, f if f["action"] == "truncate" else None,
                  ratelimit_zero=(resp.status == 429))

    def rst(self):
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.server.mark_rst(self.connection)

    def send(self, req, resp, bucket, fault=None, ratelimit_zero=False):
        st = self.server.state
        action = fault.get("action") if fault else None
        if action == "execute_then_reset" or (action == "reset" and fault.get("execute")):
            self.rst()
            return
        with st.lock:
            limit, remaining, reset = st.ratelimit(bucket)
        if ratelimit_zero:
            remaining = 0
        length = resp.length if resp.stream is not None else len(resp.body)
        declared = length
        if action == "truncate":
            declared = length + 1000
        lines = ["HTTP/1.1 %d %s" % (resp.status, self.responses.get(resp.status, ("",))[0] or "Status"),
                 "Content-Type: " + resp.ctype,
                 "Content-Length: %d" % declared,
                 "Aurous-Request-Id: " + req.request_id,
                 "Aurous-Version: " + req.version,
                 "X-RateLimit-Limit: %d" % limit,
                 "X-RateLimit-Remaining: %d" % remaining,
                 "X-RateLimit-Reset: %d" % reset]
        for k, v in resp.headers:
            lines.append("%s: %s" % (k, v))
        req_conn = (req.headers.get("connection") or "").lower()
        if action == "truncate" or "close" in req_conn or self.request_version == "HTTP/1.0":
            self.close_connection = True
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if self.server.verbose:
            sys.stderr.write("%s %s -> %d\n" % (req.method, self.path, resp.status))
        try:
            if req.method == "HEAD":
                self.wfile.write(head)
            elif action == "slow_body":
                self.wfile.write(head)
                data = resp.body if resp.stream is None else b"".join(resp.stream)
                delay = float(fault.get("delay", 1.0))
                steps = max(1, min(len(data), 20))
                per = int(math.ceil(len(data) / float(steps))) if data else 0
                for i in range(steps):
                    chunk = data[i * per:(i + 1) * per]
                    if chunk:
                        self.wfile.write(chunk)
                    time.sleep(delay / steps)
            elif resp.stream is not None:
                first = True
                for chunk in resp.stream:
                    if first and len(chunk) < 16384:
                        self.wfile.write(head + chunk)
                    else:
                        if first:
                            self.wfile.write(head)
                        self.wfile.write(chunk)
                    first = False
                if first:
                    self.wfile.write(head)
            else:
                self.wfile.write(head + resp.body)
        except (BrokenPipeError, ConnectionResetError, socket.timeout, OSError):
            self.close_connection = True


class MockServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True

    def __init__(self, addr, state, verbose=False):
        self.state = state
        self.verbose = verbose
        self._rst = set()
        self._rst_lock = threading.Lock()
        ThreadingHTTPServer.__init__(self, addr, Handler)

    def mark_rst(self, sock):
        with self._rst_lock:
            self._rst.add(id(sock))

    def shutdown_request(self, request):
        with self._rst_lock:
            rst = id(request) in self._rst
            self._rst.discard(id(request))
        if rst:
            try:
                request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
            request.close()
            return
        ThreadingHTTPServer.shutdown_request(self, request)

    def handle_error(self, request, client_address):
        if self.verbose:
            ThreadingHTTPServer.handle_error(self, request, client_address)


def make_server(host="127.0.0.1", port=0, latency=1.0, verbose=False, **cfg):
    defaults = {"latency": float(latency), "character_latency": None, "character_review": False,
                "poll_retry_after": None, "media_size": 4096, "balance": 1000}
    defaults.update(cfg)
    state = State(defaults)
    state.api = Api(state)
    srv = MockServer((host, port), state, verbose)
    return srv


def main(argv=None):
    ap = argparse.ArgumentParser(description="Local mock of the Aurous Labs v1 API.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--latency", type=float, default=1.0)
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--exit-on-stdin-eof", action="store_true")
    args = ap.parse_args(argv)
    srv = make_server(args.host, args.port, args.latency, args.verbose)
    host, port = srv.server_address[:2]
    sys.stdout.write("AUROUS_MOCK_URL=http://%s:%d\n" % (host, port))
    sys.stdout.flush()
    if not args.quiet:
        sys.stderr.write("aurous mock listening on http://%s:%d (latency %.3gs)\n" % (host, port, args.latency))
        sys.stderr.flush()
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, on_signal)
    if args.exit_on_stdin_eof:
        def watch():
            try:
                while True:
                    chunk = os.read(0, 4096)
                    if not chunk:
                        break
            except OSError:
                pass
            stop.set()
        threading.Thread(target=watch, daemon=True).start()
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    while not stop.wait(0.1):
        pass
    srv.shutdown()
    srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
