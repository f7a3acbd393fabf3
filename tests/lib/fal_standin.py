#!/usr/bin/python3
"""Local HTTPS stand-in for fal.ai's queue API (tests, demo, benchmark).

Usage:
  fal_standin.py --port 0 --cert C --key K [--key-required KEY]
                 [--port-file F] [--model-time SECONDS]

Listens on 127.0.0.1 only. Speaks the queue API as described in
/work/shared/reference/fal-queue-api.md:
  POST /{owner}/{alias}[/{sub-path}]             submit
  GET  /{owner}/{alias}/requests/{id}/status     status (?logs=0|1)
  GET  /{owner}/{alias}/requests/{id}/status/stream   status as SSE
  GET  /{owner}/{alias}/requests/{id}[/response] result
  PUT  /{owner}/{alias}/requests/{id}/cancel     cancel
Status/result/cancel with the endpoint sub-path in the path answer 405.

Control API (no auth, JSON), for tests:
  POST /_standin/config  {"endpoint": ID or "*", "mode": ..., "delay": s,
                          "queue_time": s, "error_code": n, "result": {...},
                          "response_path": bool, "hang_seconds": s, "size": n,
                          faults and limits below}
  GET  /_standin/config  current configs
  GET  /_standin/stats   counters (see State.stats)
  GET  /_standin/requests  every request accepted since the last reset, with
                         its drawn fate and what happened to it (see Req.doc)
  POST /_standin/reset   clear counters and configs (known requests are kept)
Modes: ok, status:NNN, ingress:NNN, drop, hang, hang_submit, in_queue, error,
malformed, huge, no_images, fail_n:N:MODE.

The status stream (SSE, as fal documents it: one `data:` event with the
status JSON at once and at every change, a comment line as keepalive, the
body ended right after the COMPLETED event), per endpoint config, read when
the stream is opened:
  "stream": "on"         (default)
  "stream": "off"        the stream is not offered: answered with
                         "stream_off_code" (default 404, {"detail": "Not Found"})
  "stream": "break"      after "stream_break_after" events (default 1) the
                         connection is closed mid-body (no final chunk)
  "stream_keepalive": s  seconds between keepalive comments (default 1;
                         fal sends one every 15 s)
Stream opens count in status_polls (each is one status request) and in
status_streams; events sent in stream_events, breaks in stream_breaks,
refusals in stream_refused.

Probabilistic faults, per endpoint config, applied to submits whose mode is
"ok" (an explicit mode or a pending fail_n wins):
  "submit_error_rate": p   the submit is answered with error_code (5xx):
                         refused, no request id, nothing accepted or billed
  "error_rate": p, "hang_rate": p   the request completes with error_code
                         (after its drawn delay, or "error_delay_range"), or
                         stays IN_PROGRESS until cancelled
  "delay_range": [lo, hi], "queue_time_range": [lo, hi]   uniform draws in
                         seconds, instead of the fixed delay / queue_time
  "seed": n              draws repeat: each is a function of (seed, endpoint,
                         request body, how many earlier accepted submits had
                         that body), whatever the interleaving of concurrent
                         clients; without a seed they are random.
HTTP 429 on submit (error_type concurrent_requests_limit):
  "retry_after": s       adds Retry-After: s to every 429 this config answers
                         (also to mode status:429 and fail_n:N:status:429,
                         which is "the next N submits")
  "max_in_progress": K   answers 429 while K or more requests are
                         IN_PROGRESS (fal's account concurrency limit is
                         counted over IN_PROGRESS requests), counted over
                         this endpoint, or over every endpoint with
  "limit_scope": "account"   (default "endpoint").
  Real fal keeps such requests queued instead; the 429 is what fal.run's
  synchronous host and fal_max_queue_length answer.

Choices where the reference doc is silent (marked [UNVERIFIED] there):
status "logs" is null unless ?logs=1; a cancel ends a queued or running
request at once (COMPLETED, error_type client_cancelled, result 499); a
result GET before COMPLETED answers 400 "Request is still in progress".
Every response has Content-Length except the SSE stream (chunked).
Billing as the stats count it: a request is billed once it has run
(reached IN_PROGRESS), unless it ended with a 5xx error (fal: "5xx failures
are not charged"); a cancel while IN_QUEUE is free, while IN_PROGRESS billed.
"""
import argparse
import hashlib
import json
import os
import random
import select
import signal
import socket
import ssl
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

INF = float("inf")
SUBMIT_ERROR = object()           # admit_and_accept: the submit is refused with error_code
STOP = threading.Event()          # set on SIGTERM/SIGINT: ends hangs/streams
SUBMIT_MODES = ("ok", "hang", "hang_submit", "in_queue", "error", "malformed",
                "huge", "no_images", "drop")

# Error bodies in fal's two formats (reference doc section 1.8).
ERRORS = {
    400: ("bad_request", "Bad request"),
    401: (None, "No user found for Key ID and Secret"),
    403: (None, "User is locked. Reason: Exhausted balance. Top up your "
                "balance at fal.ai/dashboard/billing."),
    404: (None, "Application not found"),
    408: (None, "Request timeout"),
    409: (None, "Conflict"),
    410: (None, "This endpoint is deprecated"),
    429: ("concurrent_requests_limit", "Too many requests"),
    499: ("client_cancelled", "Request cancelled by client"),
    500: ("runner_server_error", "Internal server error"),
    502: ("runner_incomplete_response", "Runner returned an incomplete response"),
    503: ("runner_scheduling_failure", "Failed to schedule a runner"),
    504: ("request_timeout", "Request timed out"),
}
VALIDATION_422 = [{"loc": ["body", "image_urls", 0],
                   "msg": "Failed to download the file. Please check if the "
                          "URL is accessible.",
                   "type": "file_download_error",
                   "url": "https://docs.fal.ai/errors#file_download_error",
                   "input": "standin"}]
NGINX_REASON = {502: "Bad Gateway", 503: "Service Temporarily Unavailable",
                504: "Gateway Time-out"}


def error_body(code):
    """(body dict, error_type or None) for an HTTP error code."""
    if code == 422:
        return {"detail": VALIDATION_422}, "file_download_error"
    etype, msg = ERRORS.get(code, ("internal_error", "Error %d" % code))
    body = {"detail": msg}
    if etype:
        body["error_type"] = etype
    return body, etype


def parse_mode(mode):
    """Validate a mode string; returns it or raises ValueError."""
    if mode in SUBMIT_MODES:
        return mode
    if mode.startswith(("status:", "ingress:")):
        code = int(mode.split(":", 1)[1])
        if not 400 <= code <= 599:
            raise ValueError("status code must be 400..599")
        return mode
    if mode.startswith("fail_n:"):
        _, n, inner = mode.split(":", 2)
        if int(n) < 0 or inner.startswith("fail_n"):
            raise ValueError("bad fail_n")
        parse_mode(inner)
        return mode
    raise ValueError("unknown mode %r" % mode)


class Req:
    """One submitted request and its timeline (time.monotonic based)."""

    def __init__(self, rid, endpoint, app, mode, cfg, timeout, queue_time=None, delay=None):
        self.id, self.endpoint, self.app, self.mode = rid, endpoint, app, mode
        self.t0 = time.monotonic()
        qt = cfg["queue_time"] if queue_time is None else queue_time
        self.queue_time = INF if mode == "in_queue" else qt
        self.delay = INF if mode == "hang" else (cfg["delay"] if delay is None else delay)
        self.timeout = timeout          # X-Fal-Request-Timeout (s) or None
        self.cancelled_at = None
        self.cancel_kind = None         # "in_queue" (free) or "in_progress" (billed)
        self.fetched = False            # its image was delivered by a result GET
        self.drawn = False              # its fate came from the probabilistic faults
        self.cfg = cfg
        self.expiry_counted = False     # request_timeouts_expired counted once
        self.changed = threading.Event()  # set by a cancel: streams look at once

    def span(self):
        """(start, end, error code or None): IN_PROGRESS is [start, end);
        start == end when it never ran."""
        start = self.t0 + self.queue_time
        end = start + self.delay
        err = self.cfg["error_code"] if self.mode == "error" else None
        # X-Fal-Request-Timeout is a time-to-start deadline: a request still
        # queued when it passes never starts and completes with a 504.
        if self.timeout is not None and start > self.t0 + self.timeout:
            start = end = self.t0 + self.timeout
            err = 504
        # a cancel ends the request at once (queued or running)
        if self.cancelled_at is not None and self.cancelled_at < end:
            end, err = self.cancelled_at, 499
            start = min(start, end)
        return start, end, err

    def state(self, now):
        """('IN_QUEUE'|'IN_PROGRESS'|'COMPLETED', error HTTP code or None)."""
        start, end, err = self.span()
        if now < start:
            return "IN_QUEUE", None
        if now < end:
            return "IN_PROGRESS", None
        return "COMPLETED", err

    def billed(self, now):
        """Has run (reached IN_PROGRESS by now) and did not end in a 5xx."""
        start, end, err = self.span()
        if start >= end or now < start:
            return False
        return not (now >= end and err is not None and 500 <= err <= 599)

    def doc(self, now, epoch):
        start, end, err = self.span()
        state, _ = self.state(now)
        rel = lambda t: None if t == INF else round(t - epoch, 4)
        return {"id": self.id, "endpoint": self.endpoint, "mode": self.mode,
                "drawn": self.drawn, "submitted": rel(self.t0),
                "t0_monotonic": self.t0,
                "queue_time": None if self.queue_time == INF else self.queue_time,
                "delay": None if self.delay == INF else self.delay,
                "started": rel(start) if start < end and now >= start else None,
                "ended": rel(end) if now >= end else None,
                "state": state, "error_code": err if state == "COMPLETED" else None,
                "cancelled": self.cancel_kind, "fetched": self.fetched,
                "billed": self.billed(now)}


class State:
    """All shared state, guarded by one lock."""

    def __init__(self, model_time):
        self.lock = threading.RLock()   # re-entrant: admit() nests the others
        self.model_time = model_time
        self.requests = {}          # request_id -> Req
        self.queued = {}            # app -> [Req] that may still be IN_QUEUE
        self.live = []              # Req not yet COMPLETED (for max_in_progress)
        self.rngs = {}              # endpoint -> Random for unseeded draws
        self.reset()

    def reset(self):
        with self.lock:
            self.configs = {}
            self.c = {k: {} for k in ("submits", "cancels", "status_polls",
                                      "results", "request_timeouts",
                                      "request_timeouts_expired", "last_bodies",
                                      "request_ids", "accepted",
                                      "cancels_in_queue", "cancels_in_progress",
                                      "cancels_completed", "fetched",
                                      "throttled", "fault_errors", "fault_hangs",
                                      "fault_submit_errors", "status_streams",
                                      "stream_events", "stream_breaks",
                                      "stream_refused")}
            self.n = {"auth_failures": 0, "not_found": 0,
                      "method_not_allowed": 0, "connections": 0,
                      "handshake_failures": 0}
            self.last_user_agent = None
            self.epoch = time.monotonic()
            self.since_reset = []       # Req accepted since the reset, in order
            self.draws = {}             # (endpoint, body digest) -> accepted submits

    def default_cfg(self):
        return {"mode": "ok", "delay": self.model_time, "queue_time": 0.0,
                "error_code": 422, "result": None, "response_path": False,
                "hang_seconds": 120.0, "size": 20 * 1024 * 1024,
                "fail_left": 0, "fail_mode": None,
                "error_rate": 0.0, "hang_rate": 0.0, "submit_error_rate": 0.0, "delay_range": None,
                "queue_time_range": None, "error_delay_range": None, "seed": None,
                "retry_after": None, "max_in_progress": None, "limit_scope": "endpoint",
                "stream": "on", "stream_break_after": 1, "stream_off_code": 404,
                "stream_keepalive": 1.0}

    def set_config(self, doc):
        ep = doc.get("endpoint")
        if not isinstance(ep, str) or not ep:
            raise ValueError("endpoint (string) required")
        cfg = self.default_cfg()
        mode = parse_mode(str(doc.get("mode", "ok")))
        if mode.startswith("fail_n:"):
            _, n, inner = mode.split(":", 2)
            cfg["fail_left"], cfg["fail_mode"] = int(n), inner
        else:
            cfg["mode"] = mode
        for k in ("delay", "queue_time", "hang_seconds"):
            if k in doc:
                cfg[k] = float(doc[k])
                if cfg[k] < 0:
                    raise ValueError(k + " must be >= 0")
        for k in ("error_code", "size"):
            if k in doc:
                cfg[k] = int(doc[k])
        if "result" in doc:
            cfg["result"] = doc["result"]
        if "response_path" in doc:
            cfg["response_path"] = bool(doc["response_path"])
        for k in ("error_rate", "hang_rate", "submit_error_rate"):
            if k in doc:
                cfg[k] = float(doc[k])
                if not 0 <= cfg[k] <= 1:
                    raise ValueError(k + " must be in [0, 1]")
        if cfg["error_rate"] + cfg["hang_rate"] + cfg["submit_error_rate"] > 1:
            raise ValueError("error_rate + hang_rate + submit_error_rate must be <= 1")
        for k in ("delay_range", "queue_time_range", "error_delay_range"):
            if doc.get(k) is not None:
                r = doc[k]
                if not isinstance(r, list) or len(r) != 2:
                    raise ValueError(k + " must be [lo, hi]")
                lo, hi = float(r[0]), float(r[1])
                if not 0 <= lo <= hi:
                    raise ValueError(k + " must have 0 <= lo <= hi")
                cfg[k] = [lo, hi]
        if doc.get("seed") is not None:
            cfg["seed"] = int(doc["seed"])
        if doc.get("retry_after") is not None:
            cfg["retry_after"] = float(doc["retry_after"])
            if cfg["retry_after"] < 0:
                raise ValueError("retry_after must be >= 0")
        if doc.get("max_in_progress") is not None:
            cfg["max_in_progress"] = int(doc["max_in_progress"])
            if cfg["max_in_progress"] < 0:
                raise ValueError("max_in_progress must be >= 0")
        if "stream" in doc:
            if doc["stream"] not in ("on", "off", "break"):
                raise ValueError('stream must be "on", "off" or "break"')
            cfg["stream"] = doc["stream"]
        for k in ("stream_break_after", "stream_off_code"):
            if k in doc:
                cfg[k] = int(doc[k])
                if cfg[k] < 0:
                    raise ValueError(k + " must be >= 0")
        if "stream_keepalive" in doc:
            cfg["stream_keepalive"] = float(doc["stream_keepalive"])
            if not cfg["stream_keepalive"] > 0:
                raise ValueError("stream_keepalive must be > 0")
        if "limit_scope" in doc:
            if doc["limit_scope"] not in ("endpoint", "account"):
                raise ValueError('limit_scope must be "endpoint" or "account"')
            cfg["limit_scope"] = doc["limit_scope"]
        # unseeded draws: one generator per config, from the OS
        cfg_rng = random.Random(cfg["seed"] if cfg["seed"] is not None else os.urandom(16))
        with self.lock:
            self.configs[ep] = cfg
            self.rngs[ep] = cfg_rng
        return cfg

    def next_mode(self, endpoint):
        """Config for a new submit and the mode it gets (consumes fail_n)."""
        with self.lock:
            cfg = self.configs.get(endpoint) or self.configs.get("*")
            if cfg is None:
                return self.default_cfg(), "ok"
            if cfg["fail_left"] > 0:
                cfg["fail_left"] -= 1
                return cfg, cfg["fail_mode"]
            return cfg, cfg["mode"]

    def draw(self, endpoint, cfg, mode, body):
        """The fate of an accepted "ok" submit: (mode, queue_time, delay,
        drawn). Seeded draws depend only on (seed, endpoint, body, how many
        accepted submits of that body came before), not on the order in
        which concurrent clients arrive."""
        if mode != "ok" or not (cfg["error_rate"] or cfg["hang_rate"] or cfg["delay_range"]
                                or cfg["queue_time_range"] or cfg["submit_error_rate"]):
            return mode, None, None, False
        with self.lock:
            if cfg["seed"] is not None:
                digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
                k = (endpoint, digest)
                n = self.draws.get(k, 0)
                self.draws[k] = n + 1
                rng = random.Random("%d|%s|%s|%d" % (cfg["seed"], endpoint, digest, n))
            else:
                key = endpoint if endpoint in self.rngs else "*"
                rng = self.rngs.setdefault(key, random.Random(os.urandom(16)))
            u = rng.random()
            qr, dr, er = cfg["queue_time_range"], cfg["delay_range"], cfg["error_delay_range"]
            qt = rng.uniform(*qr) if qr else cfg["queue_time"]
            delay = rng.uniform(*dr) if dr else cfg["delay"]
            edelay = rng.uniform(*er) if er else delay
            ser = cfg["submit_error_rate"]
            if u < ser:
                # refused at submit: no request id, nothing accepted
                mode = "submit_error"
                c = self.c["fault_submit_errors"]
                c[endpoint] = c.get(endpoint, 0) + 1
            elif u < ser + cfg["error_rate"]:
                mode, delay = "error", edelay
                c = self.c["fault_errors"]
                c[endpoint] = c.get(endpoint, 0) + 1
            elif u < ser + cfg["error_rate"] + cfg["hang_rate"]:
                mode = "hang"
                c = self.c["fault_hangs"]
                c[endpoint] = c.get(endpoint, 0) + 1
        return mode, round(qt, 4), round(delay, 4), True

    def in_progress(self, now, endpoint=None):
        """Requests IN_PROGRESS now (of endpoint, or all)."""
        with self.lock:
            self.live[:] = [r for r in self.live if r.state(now)[0] != "COMPLETED"]
            return sum(1 for r in self.live if endpoint in (None, r.endpoint)
                       and r.state(now)[0] == "IN_PROGRESS")

    def admit(self, endpoint, cfg):
        """None, or the Retry-After value (or "") of a 429 for this submit."""
        k = cfg["max_in_progress"]
        if k is None:
            return None
        scope = None if cfg["limit_scope"] == "account" else endpoint
        if self.in_progress(time.monotonic(), scope) < k:
            return None
        return cfg["retry_after"] if cfg["retry_after"] is not None else ""

    def admit_and_accept(self, rid, endpoint, app, mode, cfg, timeout, body):
        """(Req, None) for an accepted submit, or (None, Retry-After) for a
        429 from max_in_progress; one critical section, so concurrent
        submits cannot both take the last slot."""
        with self.lock:
            ra = self.admit(endpoint, cfg)
            if ra is not None:
                c = self.c["throttled"]
                c[endpoint] = c.get(endpoint, 0) + 1
                return None, ra
            mode, qt, delay, drawn = self.draw(endpoint, cfg, mode, body)
            if mode == "submit_error":
                return None, SUBMIT_ERROR
            req = Req(rid, endpoint, app, mode, cfg, timeout, qt, delay)
            req.drawn = drawn
            self.accept(req)
            return req, None

    def accept(self, req):
        with self.lock:
            self.requests[req.id] = req
            self.since_reset.append(req)
            self.live.append(req)
            if req.queue_time > 0:
                self.queued.setdefault(req.app, []).append(req)
            c = self.c["accepted"]
            c[req.endpoint] = c.get(req.endpoint, 0) + 1

    def peaks(self, now):
        """(most IN_PROGRESS at once overall, the same per endpoint, now):
        a sweep over the IN_PROGRESS spans of requests since the reset,
        as far as they have happened by now."""
        with self.lock:
            spans = []
            for r in self.since_reset:
                start, end, _ = r.span()
                if start < end and start <= now:
                    spans.append((start, min(end, now + 1e-9), r.endpoint))
        def sweep(items):
            ev = sorted([(e, -1) for _, e, _ in items] + [(s0, 1) for s0, _, _ in items])
            cur = best = 0
            for _, d in ev:      # at equal times an end sorts before a start
                cur += d
                best = max(best, cur)
            return best
        by_ep = {}
        for sp in spans:
            by_ep.setdefault(sp[2], []).append(sp)
        cur = sum(1 for s0, e, _ in spans if s0 <= now < e)
        return sweep(spans), {ep: sweep(v) for ep, v in by_ep.items()}, cur

    def bump(self, kind, key, value=1):
        with self.lock:
            d = self.c[kind]
            if kind == "request_timeouts" or kind == "request_ids":
                d.setdefault(key, []).append(value)
            elif kind == "last_bodies":
                d[key] = value
            else:
                d[key] = d.get(key, 0) + value

    def note_expiry(self, req):
        """Count a request whose X-Fal-Request-Timeout passed (once)."""
        with self.lock:
            if not req.expiry_counted:
                req.expiry_counted = True
                c = self.c["request_timeouts_expired"]
                c[req.endpoint] = c.get(req.endpoint, 0) + 1

    def count(self, name):
        with self.lock:
            self.n[name] += 1

    def stats(self):
        now = time.monotonic()
        peak, peak_by_ep, cur = self.peaks(now)
        with self.lock:
            out = json.loads(json.dumps(self.c))
            out.update(self.n)
            out["last_user_agent"] = self.last_user_agent
            out["configs"] = json.loads(json.dumps(self.configs))
            billed = {}
            for r in self.since_reset:
                if r.billed(now):
                    billed[r.endpoint] = billed.get(r.endpoint, 0) + 1
            out["billed"] = billed
        out["in_progress_max"] = peak
        out["in_progress_max_by_endpoint"] = peak_by_ep
        out["in_progress_now"] = cur
        return out

    def request_docs(self):
        now = time.monotonic()
        with self.lock:
            return {"now": round(now - self.epoch, 4), "epoch_monotonic": self.epoch,
                    "requests": [r.doc(now, self.epoch) for r in self.since_reset]}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"     # keep-alive
    server_version = "fal-standin/1.0"
    sys_version = ""
    timeout = 75                      # idle keep-alive timeout (like nginx)

    # ---- plumbing -------------------------------------------------------
    def log_message(self, fmt, *args):
        # Only the request line/status: never headers (Authorization).
        sys.stderr.write("standin %s %s\n" % (self.address_string(), fmt % args))

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline().strip():
                        pass          # trailers
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def send(self, code, body, ctype="application/json", headers=None):
        """Send a complete response; Content-Length is always set."""
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_error_code(self, code, rid=None, extra=None):
        body, etype = error_body(code)
        h = {"x-fal-request-id": rid or str(uuid.uuid4())}
        if etype:
            h["X-Fal-Error-Type"] = etype
        h.update(extra or {})
        self.send(code, body, headers=h)

    def base_url(self):
        return "https://localhost:%d" % self.server.server_address[1]

    # ---- routing --------------------------------------------------------
    def dispatch(self, method):
        st = self.server.state
        try:
            self.body = self.read_body()
        except (ValueError, OSError):
            self.close_connection = True
            return self.send(400, {"detail": "bad request body"})
        url = urlsplit(self.path)
        self.query = parse_qs(url.query)
        parts = [p for p in url.path.split("/") if p]
        if parts[:1] == ["_standin"]:
            return self.control(method, parts[1:])
        with st.lock:
            st.last_user_agent = self.headers.get("User-Agent")
        if not self.check_auth():
            return
        if "requests" in parts:
            return self.queue_op(method, parts)
        if method != "POST":
            st.count("method_not_allowed")
            return self.send(405, {"detail": "Method Not Allowed"})
        return self.submit(parts)

    def check_auth(self):
        want = self.server.key_required
        if want is None:
            return True
        got = self.headers.get("Authorization")
        if got == "Key " + want:
            return True
        self.server.state.count("auth_failures")
        msg = ("Missing Authorization header" if got is None else
               "No user found for Key ID and Secret")
        self.send(401, {"detail": msg})
        return False

    # ---- submit ---------------------------------------------------------
    def submit(self, parts):
        st = self.server.state
        if len(parts) < 2:
            return self.send(404, {"detail": "Application not found"})
        endpoint, app = "/".join(parts), "/".join(parts[:2])
        st.bump("submits", endpoint)
        raw_to = self.headers.get("X-Fal-Request-Timeout")
        timeout = None
        if raw_to is not None:
            try:
                timeout = float(raw_to)
            except ValueError:
                pass
            st.bump("request_timeouts", endpoint, timeout if timeout is not None else raw_to)
        try:
            doc = json.loads(self.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            doc = None
        if not isinstance(doc, dict):
            return self.send(422, {"detail": [{
                "loc": ["body"], "msg": "Input should be a valid dictionary",
                "type": "dict_type"}]})
        st.bump("last_bodies", endpoint, doc)
        cfg, mode = st.next_mode(endpoint)
        if mode.startswith("status:"):
            code = int(mode.split(":")[1])
            if code == 429:
                st.bump("throttled", endpoint)
                return self.send_error_code(429, extra=self.retry_after(cfg["retry_after"]))
            return self.send_error_code(code)
        if mode.startswith("ingress:"):   # nginx page, no x-fal-request-id
            code = int(mode.split(":")[1])
            reason = NGINX_REASON.get(code, "Error")
            page = ("<html>\r\n<head><title>%d %s</title></head>\r\n<body>\r\n"
                    "<center><h1>%d %s</h1></center>\r\n<hr><center>nginx"
                    "</center>\r\n</body>\r\n</html>\r\n" % (code, reason, code, reason))
            return self.send(code, page.encode(), "text/html")
        if mode == "drop":                # connection closed, no answer
            self.log_message('"%s" dropped (mode drop)', self.requestline)
            self.close_connection = True
            return None
        if mode == "hang_submit":
            self.log_message('"%s" hanging (mode hang_submit)', self.requestline)
            self.hang_until_disconnect(cfg["hang_seconds"])
            self.log_message('"%s" hang ended, closing', self.requestline)
            return None
        maxq = self.query.get("fal_max_queue_length", [""])[0]
        if maxq.isdigit() and len(self.queued_reqs(app, endpoint)) > int(maxq):
            st.bump("throttled", endpoint)
            return self.send_error_code(429, extra=self.retry_after(cfg["retry_after"]))
        rid = str(uuid.uuid4())
        req, ra = st.admit_and_accept(rid, endpoint, app, mode, cfg, timeout, doc)
        if req is None and ra is SUBMIT_ERROR:
            return self.send_error_code(cfg["error_code"])
        if req is None:
            return self.send_error_code(429, extra=self.retry_after(ra))
        st.bump("request_ids", endpoint, rid)
        base = "%s/%s/requests/%s" % (self.base_url(), app, rid)
        self.send(200, {
            "request_id": rid,
            "response_url": base + ("/response" if cfg["response_path"] else ""),
            "status_url": base + "/status",
            "cancel_url": base + "/cancel",
            "queue_position": self.queue_position(req),
            "status": "IN_QUEUE"}, headers={"x-fal-request-id": rid})

    @staticmethod
    def retry_after(value):
        """The Retry-After header for a 429 ({} when not configured)."""
        if value is None or value == "":
            return {}
        return {"Retry-After": "%d" % value if float(value).is_integer() else "%g" % value}

    def hang_until_disconnect(self, limit):
        """Never answer: wait until the client goes away, limit, or STOP."""
        sock = self.connection
        deadline = time.monotonic() + limit
        while not STOP.is_set() and time.monotonic() < deadline:
            ready, _, _ = select.select([sock], [], [], 0.2)
            if not ready:
                continue
            try:
                sock.settimeout(0.5)
                if not sock.recv(4096):
                    break             # orderly close / close_notify
            except (socket.timeout, ssl.SSLWantReadError):
                continue
            except OSError:
                break                 # reset
        self.close_connection = True

    # ---- status / result / cancel ----------------------------------------
    def queued_reqs(self, app, endpoint=None):
        """Requests of app (or of endpoint) now IN_QUEUE, oldest first."""
        now = time.monotonic()
        st = self.server.state
        with st.lock:
            lst = st.queued.get(app, [])
            lst[:] = [r for r in lst if r.state(now)[0] == "IN_QUEUE"]  # prune
            return [r for r in lst if endpoint in (None, r.endpoint)]

    def queue_position(self, req):
        """0-based number of requests of the same app queued before req."""
        return sum(1 for r in self.queued_reqs(req.app) if r.t0 < req.t0)

    def queue_op(self, method, parts):
        st = self.server.state
        i = parts.index("requests")
        if i > 2:                         # sub-path used: fal answers 405
            st.count("method_not_allowed")
            return self.send(405, {"detail": "Method Not Allowed"})
        if i < 2 or len(parts) < 4:
            st.count("not_found")
            return self.send(404, {"status": "NOT_FOUND"})
        app, rid, action = "/".join(parts[:2]), parts[3], parts[4:]
        if method == "GET" and action in ([], ["response"]):
            op = "result"
        elif method == "GET" and action in (["status"], ["status", "stream"]):
            op = "status"
        elif method == "PUT" and action == ["cancel"]:
            op = "cancel"
        else:
            st.count("method_not_allowed")
            return self.send(405, {"detail": "Method Not Allowed"})
        with st.lock:
            req = st.requests.get(rid)
        if req is None or req.app != app:
            st.count("not_found")
            return self.send(404, {"status": "NOT_FOUND"})
        if op == "status":
            st.bump("status_polls", req.endpoint)
            logs = self.query.get("logs", ["0"])[0].lower() in ("1", "true")
            if action == ["status", "stream"]:
                return self.stream(req, logs)
            return self.send(200, self.status_doc(req, logs),
                             headers={"x-fal-request-id": rid})
        if op == "cancel":
            return self.cancel(req)
        return self.result(req)

    def status_doc(self, req, logs):
        now = time.monotonic()
        state, err = req.state(now)
        resp_url = "%s/%s/requests/%s%s" % (self.base_url(), req.app, req.id,
                                            "/response" if req.cfg["response_path"] else "")
        doc = {"status": state, "request_id": req.id, "response_url": resp_url}
        if state == "IN_QUEUE":
            doc["queue_position"] = self.queue_position(req)
            return doc
        # logs are null unless asked for (the doc: "may be null or absent")
        doc["logs"] = ([{"message": "standin: running %s" % req.endpoint,
                         "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
                         "level": "INFO", "source": "USER"}] if logs else None)
        if state == "COMPLETED":
            if err is None:
                doc["metrics"] = {"inference_time": round(req.delay, 3)}
            else:
                body, etype = error_body(err)
                d = body["detail"]
                doc["error"] = d if isinstance(d, str) else d[0]["msg"]
                doc["error_type"] = etype
                if err == 504:
                    self.server.state.note_expiry(req)
        return doc

    def stream_cfg(self, req):
        """The endpoint's config as it is now (so a test can switch the
        stream off or on for requests already submitted), else req's."""
        st = self.server.state
        with st.lock:
            return st.configs.get(req.endpoint) or st.configs.get("*") or req.cfg

    def stream(self, req, logs):
        """SSE: one `data:` event at once and one per status change, sent
        when the change happens (no polling lag); ends at COMPLETED, the
        final chunk in the same write as the last event."""
        st = self.server.state
        cfg = self.stream_cfg(req)
        if cfg["stream"] == "off":
            st.bump("stream_refused", req.endpoint)
            return self.send(cfg["stream_off_code"], {"detail": "Not Found"})
        st.bump("status_streams", req.endpoint)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("x-fal-request-id", req.id)
        self.end_headers()
        self.wfile.flush()

        def chunk(data, last=False):
            self.wfile.write(b"%x\r\n%s\r\n%s" % (len(data), data, b"0\r\n\r\n" if last else b""))
            self.wfile.flush()

        keepalive = cfg["stream_keepalive"]
        last, last_write, events = None, time.monotonic(), 0
        while not STOP.is_set():
            if cfg["stream"] == "break" and events >= cfg["stream_break_after"]:
                st.bump("stream_breaks", req.endpoint)
                self.log_message('"%s" stream broken after %d events', self.requestline, events)
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            doc = self.status_doc(req, logs)
            key = (doc["status"], doc.get("queue_position"))
            now = time.monotonic()
            if key != last:
                done = doc["status"] == "COMPLETED"
                chunk(b"data: " + json.dumps(doc).encode() + b"\n\n", last=done)
                st.bump("stream_events", req.endpoint)
                events += 1
                last, last_write = key, now
                if done:
                    return
                continue
            if now - last_write >= keepalive:   # also detects gone clients
                chunk(b": keepalive\n\n")
                last_write = now
            # Sleep until the next change is due (its span says when), the
            # next keepalive, or a cancel; queue positions move with other
            # requests, so look at least every 0.25 s.
            start, end, _ = req.span()
            nxt = min([t for t in (start, end) if t > now] or [INF])
            wait = min(nxt - now + 0.0005, last_write + keepalive - now, 0.25)
            if wait > 0:
                req.changed.wait(wait)
        self.close_connection = True

    def cancel(self, req):
        st = self.server.state
        st.bump("cancels", req.endpoint)
        now = time.monotonic()
        with st.lock:
            state, _ = req.state(now)
            if state != "COMPLETED":
                # queued: removed at once; in progress: this app honours it
                req.cancelled_at = now
                req.cancel_kind = state.lower()      # in_queue | in_progress
                req.changed.set()
            kind = "cancels_" + (state.lower() if state != "COMPLETED" else "completed")
            c = st.c[kind]
            c[req.endpoint] = c.get(req.endpoint, 0) + 1
        if state == "COMPLETED":
            return self.send(400, {"status": "ALREADY_COMPLETED"})
        return self.send(202, {"status": "CANCELLATION_REQUESTED"},
                         headers={"x-fal-request-id": req.id})

    def result(self, req):
        st = self.server.state
        st.bump("results", req.endpoint)
        state, err = req.state(time.monotonic())
        h = {"x-fal-request-id": req.id}
        if state != "COMPLETED":
            return self.send(400, {"detail": "Request is still in progress"}, headers=h)
        if err == 504:
            st.note_expiry(req)
            return self.send_error_code(504, req.id, {"X-Fal-Request-Timeout-Type": "user"})
        if err is not None:
            return self.send_error_code(err, req.id)
        if req.mode == "malformed":
            return self.send(200, b'{"images": [{"url": <html>not json</html>', headers=h)
        if req.mode == "no_images":
            return self.send(200, {"images": []}, headers=h)
        out = req.cfg["result"] or {"images": [{
            "url": "https://fal.media/files/standin/%s.png" % req.id,
            "content_type": "image/png", "width": 768, "height": 1024}], "seed": 42}
        if req.mode in ("ok", "huge"):            # an image was delivered
            with st.lock:
                if not req.fetched:
                    req.fetched = True
                    c = st.c["fetched"]
                    c[req.endpoint] = c.get(req.endpoint, 0) + 1
        body = json.dumps(out).encode()
        if req.mode == "huge":            # valid JSON, padded to `size` bytes
            pad = max(0, req.cfg["size"] - len(body) - len(b', "padding": ""'))
            body = body[:-1] + b', "padding": "' + b"x" * pad + b'"}'
        return self.send(200, body, headers=h)

    # ---- control API ----------------------------------------------------
    def control(self, method, parts):
        st = self.server.state
        if method == "GET" and parts == ["stats"]:
            return self.send(200, st.stats())
        if method == "GET" and parts == ["requests"]:
            return self.send(200, st.request_docs())
        if method == "GET" and parts == ["config"]:
            with st.lock:
                return self.send(200, json.loads(json.dumps(st.configs)))
        if method == "POST" and parts == ["reset"]:
            st.reset()
            return self.send(200, {"ok": True})
        if method == "POST" and parts == ["config"]:
            try:
                doc = json.loads(self.body or b"{}")
                if not isinstance(doc, dict):
                    raise ValueError("body must be a JSON object")
                return self.send(200, {"ok": True, "config": st.set_config(doc)})
            except (ValueError, TypeError) as e:
                return self.send(400, {"detail": str(e)})
        return self.send(404, {"detail": "unknown control path"})


class StandinServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog of 5 drops SYNs when 64+ clients
    # connect at once (they then wait a 1 s retransmit).
    request_queue_size = 512

    def __init__(self, addr, ctx, state, key_required):
        self.ctx, self.state, self.key_required = ctx, state, key_required
        super().__init__(addr, Handler)

    def finish_request(self, request, client_address):
        # TLS handshake here, in the per-connection thread (not in accept).
        self.state.count("connections")
        request.settimeout(10)
        # Headers and body leave as two TLS records: without NODELAY, Nagle
        # holds the second for the client's delayed ACK (about 40 ms).
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            tls = self.ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as e:
            self.state.count("handshake_failures")
            sys.stderr.write("standin %s TLS handshake failed: %s\n"
                             % (client_address[0], e))
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            # A TLS close without close_notify makes OpenSSL drop the
            # session from the server's cache; real front ends keep it, so
            # that a client's next connection resumes it (an abbreviated
            # handshake). The client has gone by now: this does not wait.
            try:
                tls.settimeout(0.2)
                tls.unwrap()
            except (OSError, ValueError):
                pass
            try:
                tls.close()
            except OSError:
                pass

    def handle_error(self, request, client_address):
        e = sys.exc_info()[1]
        sys.stderr.write("standin %s connection error: %r\n" % (client_address[0], e))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--key-required", default=None, metavar="FAKEKEY")
    ap.add_argument("--port-file", default=None)
    ap.add_argument("--model-time", type=float, default=0.2)
    a = ap.parse_args()

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2   # BearSSL tops out at 1.2
    ctx.load_cert_chain(a.cert, a.key)
    ctx.set_alpn_protocols(["http/1.1"])

    server = StandinServer(("127.0.0.1", a.port), ctx, State(a.model_time), a.key_required)
    port = server.server_address[1]
    signal.signal(signal.SIGTERM, lambda *_: STOP.set())
    signal.signal(signal.SIGINT, lambda *_: STOP.set())
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              daemon=True)
    thread.start()
    if a.port_file:                       # atomically: temp file then rename
        tmp = "%s.tmp.%d" % (a.port_file, os.getpid())
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, a.port_file)
    sys.stderr.write("standin listening on https://localhost:%d (pid %d)\n" % (port, os.getpid()))
    while not STOP.wait(0.5):
        pass
    sys.stderr.write("standin stopping\n")
    server.shutdown()
    server.server_close()
    if a.port_file:
        try:
            os.unlink(a.port_file)
        except OSError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
