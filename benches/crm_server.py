"""A minimal HubSpot-like server for the sync benchmark: batch/update of
companies (at most 100 inputs, string values), the list endpoint for the
healthcheck, and HubSpot's rolling ten-second limit (429 past it).

    python3 benches/crm_server.py <port> <requests per 10 s>
"""
import collections
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, LIMIT = int(sys.argv[1]), int(sys.argv[2])
lock = threading.Lock()
starts = collections.deque()
stats = {"requests": 0, "throttled": 0, "records": 0}


class H(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path.startswith("/stats"):
            return self.reply(200, stats)
        self.reply(200, {"results": []})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        now = time.monotonic()
        with lock:
            while starts and now - starts[0] >= 10.0:
                starts.popleft()
            if len(starts) >= LIMIT:
                stats["throttled"] += 1
                return self.reply(429, {"status": "error", "errorType": "RATE_LIMIT", "policyName": "TEN_SECONDLY_ROLLING"})
            starts.append(now)
            stats["requests"] += 1
        inputs = body["inputs"]
        if len(inputs) > 100 or any(not isinstance(v, str) for i in inputs for v in i["properties"].values()):
            return self.reply(400, {"status": "error", "category": "VALIDATION_ERROR"})
        with lock:
            stats["records"] += len(inputs)
        self.reply(200, {"status": "COMPLETE", "results": []})


ThreadingHTTPServer(("127.0.0.1", PORT), H).serve_forever()
