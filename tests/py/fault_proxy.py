"""A fault-injecting HTTP proxy for the S3 fault tests: forwards every request to an
upstream S3 server (moto) and, at the chosen rates, answers 503 SlowDown or 500
InternalError instead, drops the connection before or after forwarding (the request
never arrives, or its answer is lost), or delays the answer.

    fault_proxy.py PORT UPSTREAM_PORT FAULT_RATE SLOW_RATE SEED

FAULT_RATE is split over the four faults; SLOW_RATE delays 0.2-1.0 s. `GET /__faults`
answers what it did so far, as JSON. `POST /__stall?seconds=N` holds every request that
arrives in the next N seconds until then, and forwards it (S3 unreachable, its
connections hanging).
"""
import http.client
import json
import random
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, UPSTREAM, FAULT, SLOW, SEED = (
    int(sys.argv[1]),
    int(sys.argv[2]),
    float(sys.argv[3]),
    float(sys.argv[4]),
    int(sys.argv[5]),
)
rng = random.Random(SEED)
lock = threading.Lock()
counts = {"requests": 0, "slowdown": 0, "error": 0, "drop_before": 0, "drop_after": 0, "slow": 0, "stalled": 0}
stall_until = 0.0

ERROR_BODY = (
    '<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
    "<Message>injected by fault_proxy</Message></Error>"
)


def draw():
    with lock:
        counts["requests"] += 1
        r, s = rng.random(), rng.random()
    fault = None
    if r < FAULT * 0.4:
        fault = "slowdown"
    elif r < FAULT * 0.65:
        fault = "error"
    elif r < FAULT * 0.85:
        fault = "drop_before"
    elif r < FAULT:
        fault = "drop_after"
    slow = s < SLOW
    with lock:
        if fault:
            counts[fault] += 1
        if slow:
            counts["slow"] += 1
    return fault, slow


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def handle_any(self):
        global stall_until
        if self.path.startswith("/__stall?seconds="):
            with lock:
                stall_until = time.time() + float(self.path.split("=", 1)[1])
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path == "/__faults":
            with lock:
                payload = json.dumps(counts).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with lock:
            until = stall_until
            if time.time() < until:
                counts["stalled"] += 1
        time.sleep(max(0.0, until - time.time()))
        fault, slow = draw()
        if slow:
            time.sleep(0.2 + 0.8 * rng.random())
        if fault == "drop_before":
            return self.drop()
        if fault in ("slowdown", "error"):
            status, code = (503, "SlowDown") if fault == "slowdown" else (500, "InternalError")
            payload = ERROR_BODY.format(code=code).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
            return
        upstream = http.client.HTTPConnection("127.0.0.1", UPSTREAM, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
        upstream.request(self.command, self.path, body=body, headers=headers)
        answer = upstream.getresponse()
        data = answer.read()
        upstream.close()
        if fault == "drop_after":
            return self.drop()
        self.send_response(answer.status, answer.reason)
        for k, v in answer.getheaders():
            if k.lower() not in ("connection", "transfer-encoding", "content-length", "server", "date"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def drop(self):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any


def main():
    server = ThreadingHTTPServer(("127.0.0.1", PORT), Proxy)
    server.daemon_threads = True

    server.serve_forever()


if __name__ == "__main__":
    main()
