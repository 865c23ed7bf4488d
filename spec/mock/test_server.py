"""Unit tests of the Aurous API mock itself.

    python3 -m unittest discover -s spec/mock -p 'test_*.py'
"""

import http.client
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import unittest
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import server as mockserver  # noqa: E402

KEY = "al_live_0123456789abcdef"
LAT = 0.2
REQ_ID = re.compile(r"^req_[0-9A-HJKMNP-TV-Z]{26}$")


def tiny_png(w=64, h=32):
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk
            + struct.pack(">I", zlib.crc32(chunk) & 0xffffffff) + b"\x00" * 100)


def multipart(fields, boundary="XyZzYbOuNdArY"):
    out = b""
    for f in fields:
        name, data = f[0], f[1]
        fn = f[2] if len(f) > 2 else None
        ct = f[3] if len(f) > 3 else None
        out += b"--" + boundary.encode() + b"\r\n"
        disp = 'Content-Disposition: form-data; name="%s"' % name
        if fn:
            disp += '; filename="%s"' % fn
        out += disp.encode() + b"\r\n"
        if ct:
            out += ("Content-Type: %s\r\n" % ct).encode()
        out += b"\r\n" + (data if isinstance(data, bytes) else data.encode()) + b"\r\n"
    out += b"--" + boundary.encode() + b"--\r\n"
    return out, "multipart/form-data; boundary=" + boundary


class Base(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = mockserver.make_server("127.0.0.1", 0, LAT)
        cls.port = cls.srv.server_address[1]
        cls.thread = threading.Thread(target=cls.srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        cls.thread.start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.shutdown()
        cls.srv.server_close()

    def setUp(self):
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        self.call("POST", "/_mock/reset", {}, key=None)

    def tearDown(self):
        self.conn.close()

    def call(self, method, path, body=None, key=KEY, headers=None, raw=None, ctype=None):
        h = {}
        if key is not None:
            h["X-Api-Key"] = key
        data = None
        if raw is not None:
            data = raw
            if ctype:
                h["Content-Type"] = ctype
        elif body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        self.conn.request(method, path, body=data, headers=h)
        r = self.conn.getresponse()
        b = r.read()
        hd = {k.lower(): v for k, v in r.getheaders()}
        js = None
        if hd.get("content-type", "").startswith("application/json") and b:
            js = json.loads(b)
        return r.status, hd, js, b

    def ok(self, method, path, body=None, status=200, **kw):
        st, hd, js, b = self.call(method, path, body, **kw)
        self.assertEqual(st, status, b[:500])
        return js

    def err(self, method, path, body=None, status=400, code=None, param="__any__", **kw):
        st, hd, js, b = self.call(method, path, body, **kw)
        self.assertEqual(st, status, b[:500])
        e = js["error"]
        for f in ("type", "code", "message", "param", "doc_url", "request_id"):
            self.assertIn(f, e)
        self.assertEqual(e["request_id"], hd["aurous-request-id"])
        if code:
            self.assertEqual(e["code"], code, e)
        if param != "__any__":
            self.assertEqual(e["param"], param, e)
        return e, hd

    def image(self, prompt="a red fox", **kw):
        b = {"prompt": prompt}
        b.update(kw)
        return self.ok("POST", "/v1/images", b, 201)


class TestAuthAndEnvelope(Base):
    def test_headers_on_every_response(self):
        for path, key in (("/v1/balance", KEY), ("/v1/balance", None), ("/_mock/counters", None),
                          ("/v1/nope", KEY)):
            st, hd, js, b = self.call("GET", path, key=key)
            self.assertRegex(hd["aurous-request-id"], REQ_ID)
            self.assertEqual(hd["aurous-version"], "2026-05-15")
            for h in ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"):
                self.assertRegex(hd[h], r"^\d+$")

    def test_auth_codes(self):
        self.err("GET", "/v1/balance", key=None, status=401, code="missing_api_key")
        self.err("GET", "/v1/balance", key="sk_nope", status=401, code="invalid_api_key")
        self.err("GET", "/v1/balance", key="al_live_short", status=401, code="invalid_api_key")
        self.err("GET", "/v1/balance", key="al_live_revoked_123456", status=401, code="revoked_api_key")
        e, _ = self.err("POST", "/v1/images", {"prompt": "x"}, key="al_live_readonly_1234", status=403,
                        code="missing_scope")
        self.assertEqual(e["type"], "authentication")
        self.ok("GET", "/v1/balance", key="al_live_readonly_1234")
        self.ok("GET", "/v1/balance", key="og_legacykey99")
        self.ok("GET", "/v1/balance", key=None, headers={"Authorization": "Bearer " + KEY})
        e, _ = self.err("GET", "/v1/balance", key=None, status=401, headers={"Authorization": "Bearer nope"})
        self.assertEqual(e["type"], "authentication")
        self.assertEqual(e["doc_url"], "https://docs.aurous-labs.com/errors#invalid_api_key")

    def test_version_header(self):
        st, hd, js, b = self.call("GET", "/v1/balance", headers={"Aurous-Version": "2027-01-01"})
        self.assertEqual(hd["aurous-version"], "2027-01-01")
        self.err("GET", "/v1/balance", headers={"Aurous-Version": "v1"}, code="invalid_format",
                 param="Aurous-Version")
        self.err("GET", "/v1/pricing", headers={"Aurous-Version": "2027-01-01"}, code="unknown_version")
        p = self.ok("GET", "/v1/pricing")
        self.assertEqual(p["video"]["resolution_factor"]["1080p"], 2.5)

    def test_unknown_route_and_method(self):
        self.err("GET", "/v1/nothing", status=404, code="resource_not_found")
        self.err("DELETE", "/v1/balance", status=405)

    def test_bad_json(self):
        self.err("POST", "/v1/images", raw=b"{not json", ctype="application/json", code="invalid_format")
        self.err("POST", "/v1/images", [1, 2], code="invalid_format")


class TestValidation(Base):
    def test_image_validation(self):
        E = lambda body, code, param: self.err("POST", "/v1/images", body, code=code, param=param)
        E({}, "missing_field", "prompt")
        E({"prompt": ""}, "value_out_of_range", "prompt")
        E({"prompt": "   "}, "value_out_of_range", "prompt")
        E({"prompt": "x" * 4001}, "value_out_of_range", "prompt")
        E({"prompt": 5}, "invalid_format", "prompt")
        E({"prompt": "a", "steps": 0}, "value_out_of_range", "steps")
        E({"prompt": "a", "steps": 101}, "value_out_of_range", "steps")
        E({"prompt": "a", "steps": 5.5}, "invalid_format", "steps")
        E({"prompt": "a", "steps": "5"}, "invalid_format", "steps")
        E({"prompt": "a", "guidance_scale": 0.05}, "value_out_of_range", "guidance_scale")
        E({"prompt": "a", "guidance_scale": "1"}, "invalid_format", "guidance_scale")
        E({"prompt": "a", "width": 1024}, "missing_field", "height")
        E({"prompt": "a", "width": 512, "height": 1024}, "value_out_of_range", "width")
        E({"prompt": "a", "size": "2k_1_1", "width": 1024, "height": 1024},
          "parameter_invalid_combination", "size")
        E({"prompt": "a", "size": "3k_1_1"}, "invalid_format", "size")
        E({"prompt": "a", "size": "2k_5_4"}, "invalid_format", "size")
        E({"prompt": "a", "enhance_prompt": "yes"}, "invalid_format", "enhance_prompt")
        E({"prompt": "a", "lora_id": "lora_nope"}, "value_out_of_range", "lora_id")
        E({"prompt": "a", "character_id": "char_x", "reference_image_urls": ["https://e.com/a.png"]},
          "mutually_exclusive_input", "character_id")
        E({"prompt": "a", "character_id": "char_nope"}, "character_not_ready", "character_id")
        E({"prompt": "a", "reference_image_urls": ["http://e.com/a.png"]}, "invalid_format",
          "reference_image_urls")
        E({"prompt": "a", "reference_image_urls": ["file_nope"]}, "value_out_of_range", "reference_image_urls")
        g = self.image(width=1050, height=2000, unknown_field=1)
        self.assertEqual((g["width"], g["height"]), (1056, 2016))
        g = self.image(size="2k_16_9", lora_id="anime-ink")
        self.assertEqual((g["width"], g["height"], g["size_preset"]), (2048, 1152, "2k_16_9"))
        self.assertEqual(g["loras"][0]["name"], "Anime Ink")

    def test_video_validation_and_estimates(self):
        E = lambda body, code, param: self.err("POST", "/v1/videos", body, code=code, param=param)
        E({"prompt": "a"}, "missing_field", "video_lora_id")
        E({"video_lora_id": "nope"}, "value_out_of_range", "video_lora_id")
        E({"video_lora_id": "cinematic-drift", "duration": 1}, "value_out_of_range", "duration")
        E({"video_lora_id": "cinematic-drift", "duration": 13}, "value_out_of_range", "duration")
        E({"video_lora_id": "cinematic-drift", "resolution": "4k"}, "value_out_of_range", "resolution")
        E({"video_lora_id": "cinematic-drift", "ratio": "2:1"}, "value_out_of_range", "ratio")
        est = self.ok("POST", "/v1/videos/estimate", {"video_lora_id": "cinematic-drift", "duration": 4,
                                                      "resolution": "1080p"})
        self.assertEqual(est["object"], "estimate")
        self.assertEqual(est["estimated_cost"]["amount"], 5)
        self.assertEqual(est["currency"], "credit")
        est = self.ok("POST", "/v1/images/estimate", {"prompt": "a", "enhance_prompt": True})
        self.assertEqual(est["estimated_cost"], {"amount": 2, "breakdown": {"base": 1, "enhance": 1}})
        self.err("POST", "/v1/images/estimate", {"prompt": ""}, code="value_out_of_range")
        v = self.ok("POST", "/v1/videos", {"video_lora_id": "cinematic-drift"}, 201)
        self.assertTrue(v["id"].startswith("vid_"))
        self.assertEqual((v["video_resolution"], v["video_ratio"], v["video_duration"]), ("720p", "16:9", 5))
        self.assertEqual(v["cost"]["amount"], 3.75)

    def test_balance_too_low(self):
        self.ok("POST", "/_mock/config", {"balance": 1.5}, key=None)
        self.image()
        e, _ = self.err("POST", "/v1/images", {"prompt": "b"}, status=402, code="balance_too_low")
        self.assertEqual(e["type"], "invalid_request")
        bal = self.ok("GET", "/v1/balance")
        self.assertEqual((bal["credits"], bal["held_credits"], bal["available_credits"]), (1.5, 1, 0.5))


class TestLifecycle(Base):
    def test_success_path(self):
        lat = 1.0  # wide windows: robust on a loaded machine
        self.ok("POST", "/_mock/config", {"latency": lat}, key=None)
        g = self.image(count=2)
        self.assertRegex(g["id"], r"^img_[0-9A-Z]{26}$")
        self.assertEqual(g["status"], "pending")
        self.assertEqual(self.ok("GET", "/v1/images/" + g["id"])["status"], "pending")
        self.assertEqual(self.ok("GET", "/v1/balance")["held_credits"], 2)
        time.sleep(lat * 0.6)
        self.assertEqual(self.ok("GET", "/v1/images/" + g["id"])["status"], "processing")
        time.sleep(lat * 0.45)
        g2 = self.ok("GET", "/v1/images/" + g["id"])
        self.assertEqual(g2["status"], "succeeded")
        self.assertEqual(len(g2["output_urls"]), 2)
        self.assertTrue(g2["output_urls"][1].startswith("http://127.0.0.1:%d/v1/images/%s/output/1?token="
                                                        % (self.port, g["id"])))
        bal = self.ok("GET", "/v1/balance")
        self.assertEqual((bal["credits"], bal["held_credits"]), (998, 0))

    def test_fail_moderate_slow_cancel(self):
        f = self.image("x [fail]")
        m = self.image("x [moderate]")
        s = self.image("x [slow]")
        time.sleep(LAT * 1.1)
        f = self.ok("GET", "/v1/images/" + f["id"])
        self.assertEqual(f["status"], "failed")
        self.assertTrue(f["error_message"])
        self.assertEqual(self.ok("GET", "/v1/images/" + m["id"])["status"], "moderation_rejected")
        s = self.ok("GET", "/v1/images/" + s["id"])
        self.assertIn(s["status"], ("pending", "processing"))
        c = self.ok("POST", "/v1/images/%s/cancel" % s["id"])
        self.assertEqual(c["status"], "cancelled")
        self.assertEqual(self.ok("POST", "/v1/images/%s/cancel" % s["id"])["status"], "cancelled")
        self.err("POST", "/v1/images/%s/cancel" % f["id"], code="generation_not_cancellable")
        self.err("POST", "/v1/images/img_nope/cancel", status=404, code="resource_not_found")
        bal = self.ok("GET", "/v1/balance")
        self.assertEqual((bal["credits"], bal["held_credits"]), (1000, 0))
        types = [r["type"] for r in self.ok("GET", "/v1/ledger?limit=100")["data"]]
        self.assertEqual(types.count("release"), 3)
        self.assertEqual(types[-1], "topup")

    def test_poll_retry_after(self):
        self.ok("POST", "/_mock/config", {"poll_retry_after": 3}, key=None)
        g = self.image()
        st, hd, js, b = self.call("GET", "/v1/images/" + g["id"])
        self.assertEqual(hd.get("retry-after"), "3")
        time.sleep(LAT * 1.1)
        st, hd, js, b = self.call("GET", "/v1/images/" + g["id"])
        self.assertNotIn("retry-after", hd)

    def test_pagination_both_directions(self):
        ids = [self.image("p%d" % i)["id"] for i in range(5)]
        v = self.ok("POST", "/v1/videos", {"video_lora_id": "slow-orbit"}, 201)["id"]
        ids.append(v)
        newest = list(reversed(ids))
        p1 = self.ok("GET", "/v1/images?limit=2")
        self.assertEqual([g["id"] for g in p1["data"]], newest[:2])
        self.assertTrue(p1["has_more"])
        self.assertEqual(p1["next_cursor"], newest[1])
        seen = [g["id"] for g in p1["data"]]
        cur = p1["next_cursor"]
        while cur:
            p = self.ok("GET", "/v1/images?limit=2&starting_after=" + cur)
            seen += [g["id"] for g in p["data"]]
            cur = p["next_cursor"]
            if not p["has_more"]:
                self.assertIsNone(p["next_cursor"])
        self.assertEqual(seen, newest)
        p = self.ok("GET", "/v1/images?limit=2&ending_before=" + newest[4])
        self.assertEqual([g["id"] for g in p["data"]], newest[2:4])
        self.assertTrue(p["has_more"])
        p = self.ok("GET", "/v1/images?limit=5&ending_before=" + newest[2])
        self.assertEqual([g["id"] for g in p["data"]], newest[:2])
        self.assertFalse(p["has_more"])
        self.err("GET", "/v1/images?limit=0", code="value_out_of_range", param="limit")
        self.err("GET", "/v1/images?limit=101", code="value_out_of_range", param="limit")
        self.err("GET", "/v1/images?limit=abc", code="invalid_format", param="limit")
        self.ok("GET", "/v1/images/" + v)


class TestIdempotency(Base):
    def test_replay_and_conflicts(self):
        h = {"Idempotency-Key": "k-1"}
        st, hd1, g1, _ = self.call("POST", "/v1/images", {"prompt": "idem", "seed": 1}, headers=h)
        self.assertEqual(st, 201)
        self.assertNotIn("aurous-idempotent-replayed", hd1)
        st, hd2, g2, _ = self.call("POST", "/v1/images", {"seed": 1, "prompt": "idem"}, headers=h)
        self.assertEqual(st, 201)
        self.assertEqual(hd2["aurous-idempotent-replayed"], "true")
        self.assertEqual(g1["id"], g2["id"])
        c = self.ok("GET", "/_mock/counters", key=None)
        self.assertEqual(c["executed"]["POST /v1/images"], 1)
        self.assertEqual(c["charged_credits"], 1)
        e, hd = self.err("POST", "/v1/images", {"prompt": "other"}, headers=h, status=409,
                         code="idempotency_key_in_use")
        self.assertNotIn("retry-after", hd)
        self.err("POST", "/v1/videos", {"video_lora_id": "slow-orbit"}, headers=h, status=409,
                 code="idempotency_key_in_use")
        # the alias header
        st, hd3, g3, _ = self.call("POST", "/v1/images", {"prompt": "idem", "seed": 1},
                                   headers={"Aurous-Idempotent-Key": "k-1"})
        self.assertEqual((st, g3["id"]), (201, g1["id"]))
        self.err("POST", "/v1/images", {"prompt": "x"}, headers={"Idempotency-Key": "k" * 257},
                 code="invalid_format")

    def test_4xx_is_reevaluated(self):
        h = {"Idempotency-Key": "k-2"}
        self.ok("POST", "/_mock/config", {"balance": 0}, key=None)
        self.err("POST", "/v1/images", {"prompt": "a"}, headers=h, status=402)
        self.ok("POST", "/_mock/config", {"balance": 10}, key=None)
        self.ok("POST", "/v1/images", {"prompt": "a"}, 201, headers=h)

    def test_in_flight(self):
        self.ok("POST", "/_mock/faults", {"path": "^/v1/images$", "action": "slow_headers", "delay": 0.6},
                key=None)
        out = {}

        def first():
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            c.request("POST", "/v1/images", body=b'{"prompt":"slow one"}',
                      headers={"X-Api-Key": KEY, "Idempotency-Key": "k-3"})
            out["status"] = c.getresponse().status
            c.close()
        t = threading.Thread(target=first)
        t.start()
        time.sleep(0.2)
        self.err("POST", "/v1/images", {"prompt": "slow one"}, headers={"Idempotency-Key": "k-3"}, status=409,
                 code="idempotency_key_in_use")
        t.join()
        self.assertEqual(out["status"], 201)
        st, hd, js, b = self.call("POST", "/v1/images", {"prompt": "slow one"}, headers={"Idempotency-Key": "k-3"})
        self.assertEqual((st, hd.get("aurous-idempotent-replayed")), (201, "true"))


class TestFiles(Base):
    def test_upload_get_delete(self):
        body, ct = multipart([("purpose", "reference"), ("metadata", '{"campaign":"x"}'),
                              ("file", tiny_png(640, 480), "a.png", "image/png")])
        f = self.ok("POST", "/v1/files", status=201, raw=body, ctype=ct, headers={"Idempotency-Key": "f-1"})
        self.assertRegex(f["id"], r"^file_")
        self.assertEqual((f["object"], f["mime_type"], f["width_px"], f["height_px"], f["purpose"]),
                         ("file", "image/png", 640, 480, "reference"))
        self.assertEqual(f["size_bytes"], len(tiny_png(640, 480)))
        self.assertEqual(f["metadata"], {"campaign": "x"})
        self.assertTrue(f["url"] and f["expires_at"])
        st, hd, f2, _ = self.call("POST", "/v1/files", raw=body, ctype=ct, headers={"Idempotency-Key": "f-1"})
        self.assertEqual((st, f2["id"], hd.get("aurous-idempotent-replayed")), (201, f["id"], "true"))
        self.assertEqual(self.ok("GET", "/v1/files/" + f["id"])["id"], f["id"])
        # the file id is usable as a reference
        self.image(reference_image_urls=[f["id"]])
        self.assertEqual(self.ok("DELETE", "/v1/files/" + f["id"]),
                         {"id": f["id"], "object": "file", "deleted": True})
        self.assertFalse(self.ok("DELETE", "/v1/files/" + f["id"])["deleted"])
        self.err("GET", "/v1/files/" + f["id"], status=404, code="resource_not_found")
        log = self.ok("GET", "/_mock/requests", key=None)["data"]
        up = [r for r in log if r["path"] == "/v1/files"][0]
        names = [(p["name"], p["filename"], p["text"]) for p in up["multipart"]]
        self.assertIn(("purpose", None, "reference"), names)
        self.assertEqual([p for p in up["multipart"] if p["name"] == "file"][0]["content_type"], "image/png")

    def test_upload_errors(self):
        def up(fields, code, param):
            body, ct = multipart(fields)
            self.err("POST", "/v1/files", raw=body, ctype=ct, code=code, param=param)
        up([("purpose", "reference"), ("file", b"GIF89a....", "a.gif")], "invalid_format", "file")
        up([("purpose", "reference")], "missing_field", "file")
        up([("purpose", "reference"), ("metadata", "[1]"), ("file", tiny_png(), "a.png")],
           "invalid_format", "metadata")
        up([("purpose", "reference"), ("metadata", "{bad"), ("file", tiny_png(), "a.png")],
           "invalid_format", "metadata")
        up([("purpose", "avatar"), ("file", tiny_png(), "a.png")], "value_out_of_range", "purpose")
        up([("purpose", "reference"), ("file", tiny_png() + b"\0" * (10 * 1024 * 1024), "a.png")],
           "value_out_of_range", "file")
        jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" \
               b"\xff\xc0\x00\x11\x08\x00\x20\x00\x40\x03\x01\x11\x00\x02\x11\x00\x03\x11\x00\xff\xd9"
        body, ct = multipart([("purpose", "first_frame"), ("file", jpeg, "a.jpg", "image/jpeg")])
        f = self.ok("POST", "/v1/files", status=201, raw=body, ctype=ct)
        self.assertEqual((f["mime_type"], f["width_px"], f["height_px"]), ("image/jpeg", 64, 32))


class TestOutputs(Base):
    def no_redirect_get(self, url, headers=None):
        self.conn.request("GET", url, headers=headers or {})
        r = self.conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()

    def test_image_output(self):
        g = self.image(count=2)
        self.err("GET", "/v1/images/%s/output/0" % g["id"], status=422, code="output_not_available")
        time.sleep(LAT * 1.1)
        g = self.ok("GET", "/v1/images/" + g["id"])
        st, hd, body = self.no_redirect_get(g["output_urls"][1].split(str(self.port), 1)[1])
        self.assertEqual(st, 302)
        loc = hd["location"]
        self.assertEqual(loc, "http://127.0.0.1:%d/_media/%s/1" % (self.port, g["id"]))
        st, hd, body = self.no_redirect_get(loc.split(str(self.port), 1)[1])
        self.assertEqual((st, hd["content-type"], len(body)), (200, "image/png", 4096))
        self.assertEqual(body[:8], b"\x89PNG\r\n\x1a\n")
        st2, _, body2 = self.no_redirect_get(loc.split(str(self.port), 1)[1])
        self.assertEqual(body, body2)
        self.ok("POST", "/_mock/config", {"media_size": 100000}, key=None)
        st, hd, body = self.no_redirect_get(loc.split(str(self.port), 1)[1])
        self.assertEqual(len(body), 100000)
        self.err("GET", "/v1/images/%s/output/2" % g["id"], status=404, code="resource_not_found")
        self.err("GET", "/v1/images/%s/output/0" % g["id"], key=None, status=401, code="missing_api_key")
        self.ok("GET", "/v1/images/%s/output/0" % g["id"], key="al_live_readonly_1234", status=302)
        self.ok("POST", "/_mock/expire/" + g["id"], key=None)
        e, _ = self.err("GET", "/v1/images/%s/output/0" % g["id"], status=410, code="output_expired")
        self.assertEqual(e["type"], "not_found")
        f = self.image("x [fail]")
        time.sleep(LAT * 1.1)
        self.err("GET", "/v1/images/%s/output/0" % f["id"], status=422, code="output_not_available")

    def test_video_output_range(self):
        v = self.ok("POST", "/v1/videos", {"video_lora_id": "cinematic-drift"}, 201)
        time.sleep(LAT * 1.1)
        v = self.ok("GET", "/v1/images/" + v["id"])
        self.assertIsNotNone(v["output_video_url"])
        st, hd, _ = self.no_redirect_get(v["output_video_url"].split(str(self.port), 1)[1])
        self.assertEqual(st, 302)
        path = hd["location"].split(str(self.port), 1)[1]
        st, hd, full = self.no_redirect_get(path)
        self.assertEqual((st, hd["content-type"]), (200, "video/mp4"))
        self.assertEqual(full[4:8], b"ftyp")
        st, hd, part = self.no_redirect_get(path, {"Range": "bytes=10-19"})
        self.assertEqual((st, hd["content-range"], part), (206, "bytes 10-19/4096", full[10:20]))
        st, hd, part = self.no_redirect_get(path, {"Range": "bytes=-5"})
        self.assertEqual(part, full[-5:])
        st, hd, part = self.no_redirect_get(path, {"Range": "bytes=5000-"})
        self.assertEqual(st, 416)


class TestCharacters(Base):
    def upload(self, name="front.png"):
        u = self.ok("POST", "/v1/characters/uploads/init",
                    {"filename": name, "extension": "png", "content_type": "image/png"})
        self.assertTrue(u["upload_id"].startswith("upl_"))
        self.assertEqual(u["upload_headers"], {"Content-Type": "image/png"})
        path = u["upload_url"].split(str(self.port), 1)[1]
        st, hd, js, b = self.call("PUT", path, key=None, raw=tiny_png(), ctype="image/png")
        self.assertEqual(st, 200, b)
        return u["upload_id"]

    def test_upload_flow(self):
        self.err("POST", "/v1/characters/uploads/init", {"filename": "a", "extension": "png",
                                                         "content_type": "image/jpeg"})
        self.err("POST", "/v1/characters/uploads/init", {"filename": "a", "extension": "gif",
                                                         "content_type": "image/gif"}, param="extension")
        u1, u2 = self.upload("front.png"), self.upload("x.png")
        cl = self.ok("POST", "/v1/characters/uploads/classify", {"upload_id": u1})
        self.assertEqual((cl["upload_id"], cl["pose"]), (u1, "front"))
        self.err("POST", "/v1/characters/uploads/classify", {"upload_id": "upl_nope"}, code="upload_invalid")
        self.err("POST", "/v1/characters", {"upload_ids": [u1], "generate": True, "attributes": {}},
                 code="parameter_invalid_combination")
        self.err("POST", "/v1/characters", {"name": "x"}, code="parameter_invalid_combination")
        c = self.ok("POST", "/v1/characters", {"name": "Aurora", "upload_ids": [u1, u2]}, 201)
        self.assertEqual((c["object"], c["status"], len(c["refs"])), ("character", "ready", 2))
        self.err("POST", "/v1/characters", {"upload_ids": [u1]}, code="upload_invalid")
        g = self.image(character_id=c["id"])
        self.assertEqual(g["character_id"], c["id"])
        # patch
        self.err("PATCH", "/v1/characters/" + c["id"], {"name": "B", "status": "ready"}, code="invalid_request",
                 param="status")
        p = self.ok("PATCH", "/v1/characters/" + c["id"], {"name": "Bea", "attributes": {"age": 30}})
        self.assertEqual((p["name"], p["attributes"]), ("Bea", {"age": 30}))
        # ready -> soft delete
        self.assertEqual(self.ok("DELETE", "/v1/characters/" + c["id"]),
                         {"id": c["id"], "object": "character", "deleted": True})
        self.err("GET", "/v1/characters/" + c["id"], status=404, code="resource_not_found")
        self.err("POST", "/v1/images", {"prompt": "a", "character_id": c["id"]}, code="character_not_ready")
        self.assertEqual(self.ok("GET", "/v1/characters")["data"], [])

    def test_synthesis_flow(self):
        c = self.ok("POST", "/v1/characters", {"name": "Gen", "generate": True, "attributes": {"age": 28}}, 201)
        self.assertEqual(c["status"], "synthesizing")
        self.err("POST", "/v1/images", {"prompt": "a", "character_id": c["id"]}, code="character_not_ready")
        self.err("POST", "/v1/characters/%s/save" % c["id"], code="invalid_request_error")
        self.assertEqual(self.ok("GET", "/v1/balance")["held_credits"], 4)
        time.sleep(LAT * 1.1)
        c = self.ok("GET", "/v1/characters/" + c["id"])
        self.assertEqual((c["status"], [r["pose"] for r in c["refs"]]),
                         ("ready", ["portrait", "front", "side", "back"]))
        self.assertEqual(self.ok("GET", "/v1/balance")["credits"], 996)
        self.assertEqual(self.ok("POST", "/v1/characters/%s/save" % c["id"])["status"], "ready")
        self.err("POST", "/v1/characters/%s/refs/regenerate" % c["id"], {"pose": "left"},
                 code="invalid_request_error")
        r = self.ok("POST", "/v1/characters/%s/refs/regenerate" % c["id"], {"pose": "other"},
                    headers={"Idempotency-Key": "r-1"})
        self.assertEqual(r["status"], "synthesizing")
        self.err("POST", "/v1/characters/%s/resynthesize" % c["id"], {"force_all": True},
                 code="invalid_request_error")
        time.sleep(LAT * 1.1)
        c = self.ok("GET", "/v1/characters/" + c["id"])
        self.assertEqual(len(c["refs"]), 5)
        self.err("POST", "/v1/characters/%s/resynthesize" % c["id"], {"force_all": "yes"}, code="invalid_format")
        # review mode
        self.ok("POST", "/_mock/config", {"character_review": True, "character_latency": 0.05}, key=None)
        self.ok("POST", "/v1/characters/%s/resynthesize" % c["id"], {"force_all": True})
        time.sleep(0.1)
        self.assertEqual(self.ok("GET", "/v1/characters/" + c["id"])["status"], "reviewing")
        self.assertEqual(self.ok("POST", "/v1/characters/%s/save" % c["id"])["status"], "ready")
        # reviewing -> hard delete
        c2 = self.ok("POST", "/v1/characters", {"name": "Rev", "generate": True, "attributes": {}}, 201)
        time.sleep(0.1)
        self.assertEqual(self.ok("GET", "/v1/characters/" + c2["id"])["status"], "reviewing")
        self.ok("DELETE", "/v1/characters/" + c2["id"])
        self.err("DELETE", "/v1/characters/" + c2["id"], status=404)
        # [fail]
        c3 = self.ok("POST", "/v1/characters", {"name": "X [fail]", "generate": True, "attributes": {}}, 201)
        time.sleep(0.1)
        c3 = self.ok("GET", "/v1/characters/" + c3["id"])
        self.assertEqual(c3["status"], "failed")
        self.assertTrue(c3["error_message"])
        lst = self.ok("GET", "/v1/characters?limit=1")
        self.assertEqual((lst["data"][0]["id"], lst["has_more"], lst["next_cursor"]), (c3["id"], True, c3["id"]))
        lst = self.ok("GET", "/v1/characters?limit=1&starting_after=" + c3["id"])
        self.assertEqual((lst["data"][0]["id"], lst["has_more"]), (c["id"], False))


class TestLorasAccount(Base):
    def test_loras(self):
        ls = self.ok("GET", "/v1/loras")
        self.assertIsInstance(ls, list)
        self.assertEqual(len(ls), 3)
        self.assertEqual(sum(1 for l in ls if not l["is_public"]), 1)
        self.assertEqual(self.ok("GET", "/v1/loras/" + ls[0]["slug"])["id"], ls[0]["id"])
        self.assertEqual(self.ok("GET", "/v1/loras/" + ls[0]["id"])["slug"], ls[0]["slug"])
        self.err("GET", "/v1/loras/nope", status=404, code="resource_not_found")
        vl = self.ok("GET", "/v1/video_loras")
        self.assertIn("default_resolution", self.ok("GET", "/v1/video_loras/" + vl[0]["slug"]))
        t = self.ok("GET", "/v1/team")
        self.assertTrue(t["id"].startswith("team_"))

    def test_ledger_pagination(self):
        for i in range(3):
            self.image("l%d" % i)
        time.sleep(LAT * 1.1)
        all_rows = self.ok("GET", "/v1/ledger?limit=100")["data"]
        self.assertEqual(len(all_rows), 7)  # topup + 3 holds + 3 charges
        seen, cur = [], None
        while True:
            p = self.ok("GET", "/v1/ledger?limit=3" + ("&starting_after=" + cur if cur else ""))
            seen += [r["id"] for r in p["data"]]
            cur = p["next_cursor"]
            if not p["has_more"]:
                break
        self.assertEqual(seen, [r["id"] for r in all_rows])
        holds = self.ok("GET", "/v1/ledger?type=hold")["data"]
        self.assertEqual(len(holds), 3)
        self.err("GET", "/v1/ledger?type=bogus", code="value_out_of_range", param="type")
        self.err("GET", "/v1/ledger?limit=101", code="value_out_of_range")

    def test_usage(self):
        for i in range(3):
            self.image("u%d" % i)
        self.ok("POST", "/v1/videos", {"video_lora_id": "cinematic-drift"}, 201)
        time.sleep(LAT * 1.1)
        self.err("GET", "/v1/usage", code="missing_field", param="start_time")
        self.err("GET", "/v1/usage?start_time=yesterday", code="invalid_format", param="start_time")
        start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3 * 3600 - 30))
        p = self.ok("GET", "/v1/usage?bucket_width=1h&limit=2&start_time=" + start)
        self.assertEqual((len(p["data"]), p["has_more"]), (2, True))
        self.assertEqual(p["data"][0]["object"], "usage.bucket")
        m = p["data"][0]["groups"][0]["metrics"]
        self.assertEqual((m["request_count"], m["successful_count"], m["image_count"], m["video_seconds"]),
                         (4, 4, 3, 5))
        p2 = self.ok("GET", "/v1/usage?bucket_width=1h&limit=2&start_time=%s&page_token=%s" % (start, p["next_page"]))
        self.assertEqual((len(p2["data"]), p2["has_more"], p2["next_page"]), (2, False, None))
        self.err("GET", "/v1/usage?bucket_width=1d&start_time=%s&page_token=%s" % (start, p["next_page"]),
                 code="invalid_page_token")
        self.err("GET", "/v1/usage?start_time=%s&page_token=garbage" % start, code="invalid_page_token")
        g = self.ok("GET", "/v1/usage?group_by[]=type&start_time=" + start)
        keys = sorted(x["key"]["type"] for x in g["data"][0]["groups"])
        self.assertEqual(keys, ["t2i", "t2v"])
        # events
        self.err("GET", "/v1/usage/events", code="missing_field")
        self.err("GET", "/v1/usage/events?limit=501&start_time=" + start, code="value_out_of_range")
        e1 = self.ok("GET", "/v1/usage/events?limit=3&start_time=" + start)
        self.assertEqual((len(e1["data"]), e1["has_more"]), (3, True))
        e2 = self.ok("GET", "/v1/usage/events?limit=3&start_time=%s&cursor=%s" % (start, e1["next_cursor"]))
        self.assertEqual((len(e2["data"]), e2["has_more"], e2["next_cursor"]), (1, False, None))
        self.assertEqual(e2["data"][0]["type"], "image")
        self.assertEqual(e1["data"][0]["type"], "video")
        self.assertEqual(e1["data"][0]["status"], "completed")
        self.err("GET", "/v1/usage/events?start_time=%s&cursor=zzz" % start, code="invalid_page_token")


class TestWebhooks(Base):
    def test_crud(self):
        self.err("POST", "/v1/webhook_endpoints", {"url": "http://x.dev/h", "events": ["*"]},
                 code="invalid_format", param="url")
        self.err("POST", "/v1/webhook_endpoints", {"url": "https://x.dev/h", "events": ["nope"]},
                 param="events")
        self.err("POST", "/v1/webhook_endpoints", {"url": "https://x.dev/h", "events": ["*"],
                                                   "metadata": {"a": 1}}, param="metadata")
        self.err("POST", "/v1/webhook_endpoints", {"url": "https://x.dev/h", "events": ["*"],
                                                   "metadata": {str(i): "v" for i in range(51)}},
                 param="metadata")
        w = self.ok("POST", "/v1/webhook_endpoints", {"url": "https://x.dev/h", "events": ["*"],
                                                      "description": "d"}, 201)
        self.assertTrue(w["id"].startswith("we_") and w["secret"].startswith("whsec_"))
        self.assertEqual(len(w["events"]), 11)
        w2 = self.ok("POST", "/v1/webhook_endpoints", {"url": "https://y.dev/h", "events": ["image.completed"]},
                     201)
        g = self.ok("GET", "/v1/webhook_endpoints/" + w["id"])
        self.assertIsNone(g["secret"])
        self.assertTrue(g["secret_preview"].startswith("whsec_"))
        lst = self.ok("GET", "/v1/webhook_endpoints?limit=1")
        self.assertEqual((lst["data"][0]["id"], lst["has_more"]), (w2["id"], True))
        lst = self.ok("GET", "/v1/webhook_endpoints?limit=1&starting_after=" + w2["id"])
        self.assertEqual((lst["data"][0]["id"], lst["has_more"]), (w["id"], False))
        # update + is_active resets consecutive_failures
        self.ok("POST", "/_mock/webhook_endpoints/%s/fail_count" % w["id"],
                {"consecutive_failures": 20, "is_active": False}, key=None)
        u = self.ok("PATCH", "/v1/webhook_endpoints/" + w["id"], {"is_active": True, "events": ["video.failed"]})
        self.assertEqual((u["is_active"], u["consecutive_failures"], u["events"]), (True, 0, ["video.failed"]))
        # rotate
        r = self.ok("POST", "/v1/webhook_endpoints/%s/rotate_secret" % w["id"])
        self.assertTrue(r["secret"].startswith("whsec_") and r["secret"] != w["secret"])
        # test fire + deliveries
        self.err("POST", "/v1/webhook_endpoints/%s/test" % w["id"], {"event_type": "image.completed"},
                 param="event_type")
        t = self.ok("POST", "/v1/webhook_endpoints/%s/test" % w["id"], {"event_type": "video.failed"})
        self.assertEqual((t["object"], t["endpoint_id"], t["enqueued"]), ("webhook_test_fire", w["id"], True))
        self.assertTrue(t["event_id"].startswith("evt_"))
        self.ok("POST", "/_mock/webhook_endpoints/%s/fail_count" % w["id"], {"fail_next": 1}, key=None)
        self.ok("POST", "/v1/webhook_endpoints/%s/test" % w["id"], {"event_type": "video.failed"})
        d = self.ok("GET", "/v1/webhook_endpoints/%s/deliveries?limit=1" % w["id"])
        row = d["data"][0]
        self.assertEqual((row["object"], row["succeeded"], row["status_code"], row["attempt"], d["has_more"]),
                         ("webhook_delivery", False, 500, 1, True))
        d2 = self.ok("GET", "/v1/webhook_endpoints/%s/deliveries?starting_after=%s" % (w["id"], row["id"]))
        self.assertEqual(d2["data"][0]["event_id"], t["event_id"])
        self.assertTrue(d2["data"][0]["succeeded"])
        self.assertEqual(self.ok("GET", "/v1/webhook_endpoints/" + w["id"])["consecutive_failures"], 1)
        # delete
        self.assertEqual(self.ok("DELETE", "/v1/webhook_endpoints/" + w["id"]),
                         {"object": "webhook_endpoint", "deleted": True, "id": w["id"]})
        self.assertEqual(self.ok("DELETE", "/v1/webhook_endpoints/" + w["id"])["id"], None)
        self.err("GET", "/v1/webhook_endpoints/" + w["id"], status=404)


class TestFaultsAndControl(Base):
    def fault(self, **spec):
        self.ok("POST", "/_mock/faults", spec, key=None)

    def raw(self, method, path, body=b"", timeout=5):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        req = ("%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nX-Api-Key: %s\r\nContent-Length: %d\r\n\r\n"
               % (method, path, self.port, KEY, len(body))).encode() + body
        s.sendall(req)
        data = b""
        err = None
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
                if b"\r\n\r\n" in data:
                    head, rest = data.split(b"\r\n\r\n", 1)
                    m = re.search(rb"Content-Length: (\d+)", head)
                    if m and len(rest) >= int(m.group(1)):
                        break
        except (ConnectionResetError, socket.timeout) as e:
            err = e
        s.close()
        return data, err

    def test_status_faults(self):
        self.fault(path="^/v1/images$", action="status", status=429, retry_after=2, times=2)
        for _ in range(2):
            e, hd = self.err("POST", "/v1/images", {"prompt": "a"}, status=429, code="too_many_requests")
            self.assertEqual((e["type"], hd["retry-after"], hd["x-ratelimit-remaining"]), ("rate_limit", "2", "0"))
        self.image()
        self.fault(method="GET", path="/v1/balance", action="status", status=503)
        e, _ = self.err("GET", "/v1/balance", status=503)
        self.assertEqual(e["type"], "server_error")
        self.fault(path="/v1/balance", action="status", status=500, type="server_error", code="internal_error")
        self.err("GET", "/v1/balance", status=500, code="internal_error")
        self.fault(path="/v1/balance", action="status", status=408)
        self.err("GET", "/v1/balance", status=408)
        self.ok("GET", "/v1/balance")
        c = self.ok("GET", "/_mock/counters", key=None)
        self.assertEqual(c["executed"]["POST /v1/images"], 1)
        self.assertEqual(c["executed"]["GET /v1/balance"], 1)
        self.assertEqual(c["requests_total"], 7)

    def test_faults_in_order_and_method_filter(self):
        self.ok("POST", "/_mock/faults", {"faults": [
            {"path": "/v1/balance", "action": "status", "status": 502},
            {"path": "/v1/balance", "action": "status", "status": 504}]}, key=None)
        self.fault(method="POST", path="/v1/balance", action="status", status=500)
        self.err("GET", "/v1/balance", status=502)
        self.err("GET", "/v1/balance", status=504)
        self.ok("GET", "/v1/balance")
        self.assertEqual(len(self.ok("GET", "/_mock/faults", key=None)["data"]), 1)
        self.ok("DELETE", "/_mock/faults", key=None)
        self.assertEqual(self.ok("GET", "/_mock/faults", key=None)["data"], [])

    def test_reset_fault(self):
        self.fault(path="/v1/balance", action="reset")
        data, err = self.raw("GET", "/v1/balance")
        self.assertEqual(data, b"")
        c = self.ok("GET", "/_mock/counters", key=None)
        self.assertNotIn("GET /v1/balance", c["executed"])

    def test_execute_then_reset(self):
        self.fault(path="^/v1/images$", action="execute_then_reset")
        data, err = self.raw("POST", "/v1/images", b'{"prompt":"lost"}')
        self.assertEqual(data, b"")
        c = self.ok("GET", "/_mock/counters", key=None)
        self.assertEqual(c["executed"]["POST /v1/images"], 1)
        self.assertEqual(len(self.ok("GET", "/v1/images")["data"]), 1)

    def test_execute_then_status(self):
        self.fault(path="^/v1/images$", action="status", status=503, execute=True)
        self.err("POST", "/v1/images", {"prompt": "ran anyway"}, status=503, headers={"Idempotency-Key": "e-1"})
        self.assertEqual(len(self.ok("GET", "/v1/images")["data"]), 1)
        # the retry with the same key replays the stored success
        st, hd, js, b = self.call("POST", "/v1/images", {"prompt": "ran anyway"}, headers={"Idempotency-Key": "e-1"})
        self.assertEqual((st, hd.get("aurous-idempotent-replayed")), (201, "true"))
        self.assertEqual(self.ok("GET", "/_mock/counters", key=None)["executed"]["POST /v1/images"], 1)

    def test_truncate_malformed_html_huge(self):
        self.fault(path="/v1/balance", action="truncate")
        data, err = self.raw("GET", "/v1/balance")
        head, rest = data.split(b"\r\n\r\n", 1)
        declared = int(re.search(rb"Content-Length: (\d+)", head).group(1))
        self.assertLess(len(rest), declared)
        self.fault(path="/v1/balance", action="malformed")
        st, hd, js, b = (None, None, None, None)
        self.conn.request("GET", "/v1/balance", headers={"X-Api-Key": KEY})
        r = self.conn.getresponse()
        b = r.read()
        self.assertEqual(r.status, 200)
        self.assertRaises(ValueError, json.loads, b)
        self.fault(path="/v1/balance", action="html")
        self.conn.request("GET", "/v1/balance", headers={"X-Api-Key": KEY})
        r = self.conn.getresponse()
        b = r.read()
        self.assertEqual((r.status, r.getheader("Content-Type").split(";")[0]), (502, "text/html"))
        self.assertIn(b"Bad Gateway", b)
        self.fault(path="/v1/balance", action="huge", size=3 * 1024 * 1024 + 7)
        self.conn.request("GET", "/v1/balance", headers={"X-Api-Key": KEY})
        r = self.conn.getresponse()
        b = r.read()
        self.assertEqual(len(b), 3 * 1024 * 1024 + 7)
        self.assertEqual(json.loads(b)["object"], "list")
        self.ok("GET", "/v1/balance")  # keep-alive still fine

    def test_slow_faults(self):
        self.fault(path="/v1/balance", action="slow_headers", delay=0.3)
        t0 = time.time()
        self.ok("GET", "/v1/balance")
        self.assertGreaterEqual(time.time() - t0, 0.28)
        self.fault(path="/v1/balance", action="slow_body", delay=0.3)
        self.conn.request("GET", "/v1/balance", headers={"X-Api-Key": KEY})
        t0 = time.time()
        r = self.conn.getresponse()
        t1 = time.time()
        b = r.read()
        t2 = time.time()
        self.assertLess(t1 - t0, 0.2)
        self.assertGreaterEqual(t2 - t0, 0.25)
        self.assertEqual(json.loads(b)["object"], "balance")

    def test_fault_on_media(self):
        g = self.image()
        time.sleep(LAT * 1.1)
        self.fault(path="^/_media/", action="status", status=503)
        self.conn.request("GET", "/_media/%s/0" % g["id"])
        r = self.conn.getresponse()
        r.read()
        self.assertEqual(r.status, 503)

    def test_requests_log_and_reset(self):
        self.call("POST", "/v1/images?x=1&x=2", {"prompt": "logged"}, headers={"Idempotency-Key": "abc"})
        rows = self.ok("GET", "/_mock/requests", key=None)["data"]
        self.assertEqual(len(rows), 1)
        r = rows[0]
        self.assertEqual((r["method"], r["path"], r["query"], r["json"]),
                         ("POST", "/v1/images", {"x": ["1", "2"]}, {"prompt": "logged"}))
        self.assertEqual(r["headers"]["idempotency-key"], "abc")
        self.assertEqual(r["headers"]["x-api-key"], KEY)
        self.assertEqual(r["body_text"], '{"prompt": "logged"}')
        cfg = self.ok("POST", "/_mock/reset", {"latency": 0.05, "balance": 50}, key=None)["config"]
        self.assertEqual((cfg["latency"], cfg["balance"]), (0.05, 50))
        self.assertEqual(self.ok("GET", "/_mock/requests", key=None)["data"], [])
        self.assertEqual(self.ok("GET", "/v1/balance")["credits"], 50)
        self.assertEqual(self.ok("GET", "/_mock/counters", key=None)["executed"], {"GET /v1/balance": 1})
        cfg = self.ok("POST", "/_mock/reset", key=None)["config"]
        self.assertEqual((cfg["latency"], cfg["balance"]), (LAT, 1000))


class TestCli(unittest.TestCase):
    def start(self, *extra):
        p = subprocess.Popen([sys.executable, os.path.join(HERE, "server.py"), "--port", "0", "--quiet"]
                             + list(extra), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        line = p.stdout.readline().decode()
        self.assertRegex(line, r"^AUROUS_MOCK_URL=http://127\.0\.0\.1:\d+\n$")
        return p, line.strip().split("=", 1)[1]

    def test_sigterm_and_stdin_eof(self):
        p, url = self.start()
        port = int(url.rsplit(":", 1)[1])
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        c.request("GET", "/v1/loras", headers={"X-Api-Key": KEY})
        self.assertEqual(c.getresponse().status, 200)
        c.close()
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(5), 0)
        p.stdin.close()
        p.stdout.close()
        p.stderr.close()
        p, url = self.start("--exit-on-stdin-eof")
        p.stdin.close()
        self.assertEqual(p.wait(5), 0)
        p.stdout.close()
        p.stderr.close()


if __name__ == "__main__":
    unittest.main()
