#!/usr/bin/env python3
"""A tiny threaded HTTP/1.1 server (keep-alive) for the aurous.core HTTP specs.

Prints "<port>" on the first stdout line and "<closed port>" (a port nothing
listens on) on the second. Stops when its stdin reaches EOF or on SIGTERM.

Routes (any method):
  /echo...                 JSON: method, path, query, headers [[name, value]...],
                           body (UTF-8, replaced), body_hex, conn (connection id),
                           client_port, request_no (on this connection)
  /multipart               JSON: {"parts": [{name, filename, content_type, data_hex}]}
  /bytes?n=N[&chunked=1]   N deterministic bytes: ALPHABET repeated, cut to N
  /slow_headers?delay=S    waits S seconds, then answers "ok"
  /slow_body?delay=S&n=N   sends headers and 1 byte, waits S seconds, then the rest (N bytes)
  /redirect?to=URL[&code=302]
  /status/N                status N, body "status N"
  /reset                   closes the socket (RST) without answering
  /headers[?pad=N]         repeated Set-Cookie and X-Multi, a Mixed-Case header, a folded one;
                           pad: N more headers, then X-Multi a third time
  /huge_headers?n=N        N headers of about 100 bytes each
  /drip?n=N&chunks=K&delay=S  chunked body in K pieces, S seconds apart
"""
import email.parser
import email.policy
import http.server
import itertools
import json
import signal
import socket
import struct
import sys
import threading
import time
import urllib.parse

ALPHABET = b"abcdefghijklmnopqrstuvwxyz0123456789"
_conn_ids = itertools.count(1)


def pattern(n):
    reps = n // len(ALPHABET) + 1
    return (ALPHABET * reps)[:n]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "aurous-fixture/1"

    def log_message(self, fmt, *args):  # quiet
        pass

    def setup(self):
        super().setup()
        self.conn_id = next(_conn_ids)
        self.request_no = 0

    # ---- helpers ----
    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                line = self.rfile.readline()
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def send(self, status, body, ctype="text/plain", extra=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, obj, status=200):
        self.send(status, json.dumps(obj, sort_keys=True).encode(), "application/json")

    # ---- dispatch ----
    def handle_any(self):
        self.request_no += 1
        url = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        body = self.read_body()
        path = url.path
        if path == "/multipart":
            return self.multipart(body)
        if path == "/bytes":
            n = int(q.get("n", "0"))
            data = pattern(n)
            if q.get("chunked") == "1":
                return self.chunked([data[i:i + 7000] for i in range(0, n, 7000)], 0)
            return self.send(200, data, "application/octet-stream")
        if path == "/slow_headers":
            time.sleep(float(q.get("delay", "1")))
            return self.send(200, b"ok")
        if path == "/slow_body":
            n = int(q.get("n", "10"))
            data = pattern(n)
            self.send_response(200)
            self.send_header("Content-Length", str(n))
            self.end_headers()
            self.wfile.write(data[:1])
            self.wfile.flush()
            time.sleep(float(q.get("delay", "1")))
            self.wfile.write(data[1:])
            return
        if path == "/drip":
            n = int(q.get("n", "100"))
            k = max(1, int(q.get("chunks", "5")))
            data = pattern(n)
            step = (n + k - 1) // k or 1
            return self.chunked([data[i:i + step] for i in range(0, n, step)],
                                float(q.get("delay", "0.05")))
        if path == "/redirect":
            return self.send(int(q.get("code", "302")), b"redirecting", extra=[("Location", q.get("to", "/echo"))])
        if path.startswith("/status/"):
            code = int(path[len("/status/"):])
            return self.send(code, ("status %d" % code).encode())
        if path == "/reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        if path == "/headers":
            return self.send(200, b"headers", extra=[
                ("Set-Cookie", "a=1; Path=/"), ("Set-Cookie", "b=2; Path=/"),
                ("X-Multi", "one"), ("X-Multi", "two"), ("Mixed-Case-Header", "MiXeD"),
                ("X-Empty", ""), ("X-Folded", "part one\r\n\tpart two"),
            ] + [("X-Pad-%d" % i, "p") for i in range(int(q.get("pad", "0")))] + (
                [("X-Multi", "three")] if "pad" in q else []))
        if path == "/huge_headers":
            n = int(q.get("n", "1000"))
            return self.send(200, b"huge", extra=[("X-Filler-%d" % i, "v" * 90) for i in range(n)])
        # default: echo
        self.send_json({
            "method": self.command,
            "path": url.path,
            "query": url.query,
            "headers": [[k, v] for k, v in self.headers.items()],
            "body": body.decode("utf-8", "replace"),
            "body_hex": body.hex(),
            "conn": self.conn_id,
            "client_port": self.client_address[1],
            "request_no": self.request_no,
        })

    def chunked(self, pieces, delay):
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for p in pieces:
            if not p:
                continue
            self.wfile.write(b"%x\r\n%s\r\n" % (len(p), p))
            self.wfile.flush()
            if delay:
                time.sleep(delay)
        self.wfile.write(b"0\r\n\r\n")

    def multipart(self, body):
        ctype = self.headers.get("Content-Type", "")
        raw = b"Content-Type: " + ctype.encode() + b"\r\nMIME-Version: 1.0\r\n\r\n" + body
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
        parts = []
        if msg.is_multipart():
            for part in msg.iter_parts():
                parts.append({
                    "name": part.get_param("name", header="content-disposition"),
                    "filename": part.get_filename(),
                    "content_type": part.get_content_type() if part.get("Content-Type") else None,
                    "data_hex": (part.get_payload(decode=True) or b"").hex(),
                })
        self.send_json({"content_type": ctype, "parts": parts})

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = handle_any

    def handle_one_request(self):
        try:
            super().handle_one_request()
        except (ConnectionError, socket.timeout):
            self.close_connection = True


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


def closed_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sys.stdout.write("%d\n%d\n" % (server.server_address[1], closed_port()))
    sys.stdout.flush()

    def stop(*_):
        server.shutdown()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except (KeyboardInterrupt, OSError):
        pass
    server.shutdown()


if __name__ == "__main__":
    main()
