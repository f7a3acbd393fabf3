#!/usr/bin/python3
"""Quick self-check of tests/lib/make_test_ca.sh and tests/lib/fal_standin.py.

Generates a CA in a temp dir, runs the stand-in with the EC and then the RSA
certificate and talks to it with urllib/http.client over verified TLS
(cafile=ca.pem, host name localhost). Ends with "N passed, N failed".
Standard library only; only loopback addresses.
"""
import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
MAKE_CA = os.path.join(HERE, "make_test_ca.sh")
STANDIN = os.path.join(HERE, "fal_standin.py")
KEY = "standin-id:standin-secret"
PRIMARY = "fal-ai/flux-2-lora-gallery/virtual-tryon"
BACKUP = "fal-ai/fashn/tryon/v1.6"
BODY = {"image_urls": ["https://example.invalid/p.png", "https://example.invalid/g.png"],
        "prompt": "A person wearing the garment, virtual try-on",
        "guidance_scale": 2.5, "num_inference_steps": 40}

RESULTS = {"passed": 0, "failed": 0}


def check(name, cond, detail=""):
    if cond:
        RESULTS["passed"] += 1
        print("ok   - %s" % name)
    else:
        RESULTS["failed"] += 1
        print("FAIL - %s %s" % (name, detail))
    return cond


def wait_for(cond, timeout=10.0, step=0.02):
    """Poll cond() until true or the deadline; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(step)


class Standin:
    """A stand-in process, stopped by PID in stop()."""

    def __init__(self, tmp, name, cert, key, extra=()):
        self.port_file = os.path.join(tmp, name + ".port")
        self.log_path = os.path.join(tmp, name + ".log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, STANDIN, "--port", "0", "--cert", cert, "--key", key,
             "--port-file", self.port_file, "--key-required", KEY] + list(extra),
            stdout=subprocess.DEVNULL, stderr=self.log)
        ok = wait_for(lambda: os.path.exists(self.port_file) or self.proc.poll() is not None)
        if not ok or not os.path.exists(self.port_file):
            self.stop()
            raise RuntimeError("stand-in did not start: " + open(self.log_path).read())
        with open(self.port_file) as f:
            self.port = int(f.read())
        self.base = "https://localhost:%d" % self.port

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


def call(method, url, body=None, key=KEY, headers=None, ctx=None, timeout=10):
    """-> (status, body bytes, headers). HTTP errors are returned, not raised."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("User-Agent", "standin-selfcheck/1")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if key is not None:
        req.add_header("Authorization", "Key " + key)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=timeout) as r:
            return r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers


def jcall(*a, **kw):
    code, raw, h = call(*a, **kw)
    try:
        return code, json.loads(raw), h
    except ValueError:
        return code, None, h


def poll_until_completed(url, ctx, timeout=10.0):
    seen = []

    def done():
        code, doc, _ = jcall("GET", url + "?logs=1", ctx=ctx)
        if code != 200:
            seen.append(code)
            return True
        if not seen or seen[-1] != doc["status"]:
            seen.append(doc["status"])
        return doc if doc["status"] == "COMPLETED" else None
    doc = wait_for(done, timeout)
    return (doc if isinstance(doc, dict) else None), seen


def suite(s, ctx, full):
    """Queue API and control API checks against one running stand-in."""
    base = s.base
    ctl = lambda m, p, b=None: jcall(m, base + "/_standin/" + p, b, key=None, ctx=ctx)
    ctl("POST", "reset")

    # --- default ok: submit -> status -> result ---------------------------
    code, sub, h = jcall("POST", base + "/" + PRIMARY, BODY, ctx=ctx)
    check("submit 200", code == 200, code)
    rid = sub["request_id"]
    app = base + "/fal-ai/flux-2-lora-gallery/requests/" + rid
    check("submit urls use owner/alias only",
          sub["status_url"] == app + "/status" and sub["cancel_url"] == app + "/cancel"
          and sub["response_url"] == app, sub)
    check("submit IN_QUEUE, position 0", sub["status"] == "IN_QUEUE" and sub["queue_position"] == 0)
    check("x-fal-request-id header", h.get("x-fal-request-id") == rid)
    doc, seen = poll_until_completed(sub["status_url"], ctx)
    check("status reaches COMPLETED", doc is not None, seen)
    check("status sequence sane", set(seen) <= {"IN_QUEUE", "IN_PROGRESS", "COMPLETED"}
          and seen[-1] == "COMPLETED", seen)
    check("COMPLETED has metrics", doc and "inference_time" in doc.get("metrics", {}), doc)
    code, res, _ = jcall("GET", sub["response_url"], ctx=ctx)
    check("result 200 with image", code == 200 and res["images"][0]["url"]
          == "https://fal.media/files/standin/%s.png" % rid and res["seed"] == 42, res)
    code, _, _ = jcall("GET", base + "/" + PRIMARY + "/requests/" + rid + "/status", ctx=ctx)
    check("status with sub-path -> 405", code == 405, code)
    code, doc, _ = jcall("GET", base + "/fal-ai/flux-2-lora-gallery/requests/nope/status", ctx=ctx)
    check("unknown id -> 404 NOT_FOUND", code == 404 and doc == {"status": "NOT_FOUND"}, code)

    # --- auth and body ----------------------------------------------------
    code, doc, _ = jcall("POST", base + "/" + PRIMARY, BODY, key="wrong:key", ctx=ctx)
    check("wrong key -> 401 detail", code == 401 and "detail" in doc, code)
    code, _, _ = jcall("POST", base + "/" + PRIMARY, BODY, key=None, ctx=ctx)
    check("missing key -> 401", code == 401, code)
    code, _, _ = jcall("POST", base + "/" + PRIMARY, b"[1,2]", ctx=ctx)
    check("non-object body -> 422", code == 422, code)
    _, st, _ = ctl("GET", "stats")
    check("stats auth_failures == 2", st["auth_failures"] == 2, st["auth_failures"])
    check("stats last body / user agent", st["last_bodies"].get(PRIMARY) == BODY
          and st["last_user_agent"] == "standin-selfcheck/1", st)

    # --- fail_n and submit counting -----------------------------------------
    code, _, _ = ctl("POST", "config", {"endpoint": BACKUP, "mode": "fail_n:2:status:503"})
    check("config fail_n accepted", code == 200, code)
    codes = [call("POST", base + "/" + BACKUP, {"model_image": "a", "garment_image": "b"},
                  ctx=ctx)[0] for _ in range(3)]
    check("fail_n:2:status:503 -> 503, 503, 200", codes == [503, 503, 200], codes)
    _, st, _ = ctl("GET", "stats")
    check("stats submits backup == 3", st["submits"].get(BACKUP) == 3, st["submits"])

    # --- hang, early result, cancel ---------------------------------------
    ctl("POST", "config", {"endpoint": PRIMARY, "mode": "hang"})
    _, sub, _ = jcall("POST", base + "/" + PRIMARY, BODY, ctx=ctx)
    code, doc, _ = jcall("GET", sub["response_url"], ctx=ctx)
    check("result before completion -> 400", code == 400 and doc["detail"]
          == "Request is still in progress", (code, doc))
    code, doc, _ = jcall("PUT", sub["cancel_url"], ctx=ctx)
    check("cancel -> 202 CANCELLATION_REQUESTED", code == 202
          and doc == {"status": "CANCELLATION_REQUESTED"}, (code, doc))
    code, doc, _ = jcall("PUT", sub["cancel_url"], ctx=ctx)
    check("second cancel -> 400 ALREADY_COMPLETED", code == 400
          and doc == {"status": "ALREADY_COMPLETED"}, (code, doc))
    code, doc, _ = jcall("GET", sub["status_url"], ctx=ctx)
    check("cancelled -> COMPLETED client_cancelled", doc.get("status") == "COMPLETED"
          and doc.get("error_type") == "client_cancelled", doc)
    code, _, _ = jcall("PUT", base + "/fal-ai/flux-2-lora-gallery/requests/nope/cancel", ctx=ctx)
    check("cancel unknown -> 404", code == 404, code)
    _, st, _ = ctl("GET", "stats")
    check("stats cancels == 2", st["cancels"].get(PRIMARY) == 2, st["cancels"])

    # --- keep-alive: several requests on one TLS connection -----------------
    before = ctl("GET", "stats")[1]["connections"]
    conn = http.client.HTTPSConnection("localhost", s.port, context=ctx, timeout=10)
    try:
        ok = True
        for _ in range(3):
            conn.request("GET", "/fal-ai/flux-2-lora-gallery/requests/nope/status",
                         headers={"Authorization": "Key " + KEY})
            r = conn.getresponse()
            ok = ok and r.status == 404 and r.getheader("Content-Length") is not None
            r.read()
    finally:
        conn.close()
    after = ctl("GET", "stats")[1]["connections"]
    # urllib opens one connection per call: +1 for http.client, +1 for this stats call
    check("keep-alive: 3 requests, 1 connection", ok and after - before == 2, after - before)

    if not full:
        return

    # --- error mode, request timeout ---------------------------------------
    ctl("POST", "config", {"endpoint": PRIMARY, "mode": "error", "delay": 0.05})
    _, sub, _ = jcall("POST", base + "/" + PRIMARY, BODY, ctx=ctx)
    doc, _ = poll_until_completed(sub["status_url"], ctx)
    check("error: COMPLETED with error", doc and doc.get("error") and doc.get("error_type"), doc)
    code, doc, _ = jcall("GET", sub["response_url"], ctx=ctx)
    check("error: result 422 detail list", code == 422 and isinstance(doc["detail"], list), code)

    ctl("POST", "config", {"endpoint": PRIMARY, "mode": "in_queue"})
    _, sub, _ = jcall("POST", base + "/" + PRIMARY, BODY, ctx=ctx,
                      headers={"X-Fal-Request-Timeout": "0.3"})
    doc, seen = poll_until_completed(sub["status_url"], ctx)
    check("request timeout: IN_QUEUE then COMPLETED request_timeout",
          seen[0] == "IN_QUEUE" and doc and doc.get("error_type") == "request_timeout", seen)
    code, doc, h = jcall("GET", sub["response_url"], ctx=ctx)
    check("request timeout: result 504 user", code == 504
          and h.get("X-Fal-Request-Timeout-Type") == "user", code)
    _, st, _ = ctl("GET", "stats")
    check("stats request_timeouts", st["request_timeouts"].get(PRIMARY) == [0.3]
          and st["request_timeouts_expired"].get(PRIMARY) == 1, st["request_timeouts"])

    # --- queue positions, fal_max_queue_length, cancel while queued ---------
    ctl("POST", "config", {"endpoint": PRIMARY, "mode": "ok", "queue_time": 30})
    subs = [jcall("POST", base + "/" + PRIMARY, BODY, ctx=ctx)[1] for _ in range(3)]
    pos = [jcall("GET", x["status_url"], ctx=ctx)[1].get("queue_position") for x in subs]
    check("queue positions 0,1,2", pos == [0, 1, 2], pos)
    code, _, _ = jcall("POST", base + "/" + PRIMARY + "?fal_max_queue_length=2", BODY, ctx=ctx)
    check("fal_max_queue_length exceeded -> 429", code == 429, code)
    jcall("PUT", subs[0]["cancel_url"], ctx=ctx)
    doc = jcall("GET", subs[1]["status_url"], ctx=ctx)[1]
    check("cancel while queued: next moves to position 0",
          doc.get("status") == "IN_QUEUE" and doc.get("queue_position") == 0, doc)
    for x in subs[1:]:
        jcall("PUT", x["cancel_url"], ctx=ctx)

    # --- result body modes -------------------------------------------------
    for mode, test in (("malformed", lambda raw: not _is_json(raw)),
                       ("no_images", lambda raw: json.loads(raw) == {"images": []}),
                       ("huge", lambda raw: len(raw) == 20 * 1024 * 1024 and _is_json(raw))):
        ctl("POST", "config", {"endpoint": BACKUP, "mode": mode, "delay": 0})
        _, sub, _ = jcall("POST", base + "/" + BACKUP, {}, ctx=ctx)
        check(mode + ": status url without sub-path",
              "/fal-ai/fashn/requests/" in sub["status_url"], sub["status_url"])
        poll_until_completed(sub["status_url"], ctx)
        code, raw, _ = call("GET", sub["response_url"], ctx=ctx, timeout=30)
        check(mode + ": result body", code == 200 and test(raw), (code, len(raw)))

    # --- SSE status stream -------------------------------------------------
    ctl("POST", "config", {"endpoint": PRIMARY, "mode": "ok", "queue_time": 0.1, "delay": 0.1})
    _, sub, _ = jcall("POST", base + "/" + PRIMARY, BODY, ctx=ctx)
    code, raw, h = call("GET", sub["status_url"] + "/stream?logs=0", ctx=ctx)
    events = [json.loads(l[6:]) for l in raw.decode().splitlines() if l.startswith("data: ")]
    check("SSE stream ends with COMPLETED", code == 200 and events
          and events[-1]["status"] == "COMPLETED"
          and h.get("Content-Type") == "text/event-stream", [e["status"] for e in events])
    check("SSE stream: IN_QUEUE, IN_PROGRESS, COMPLETED in order",
          [e["status"] for e in events] == ["IN_QUEUE", "IN_PROGRESS", "COMPLETED"],
          [e["status"] for e in events])

    # Each event leaves when its change happens (no polling lag): read the
    # stream line by line and time the COMPLETED event against the span.
    ctl("POST", "config", {"endpoint": PRIMARY, "mode": "ok", "queue_time": 0, "delay": 0.3})
    s0 = ctl("GET", "stats")[1]
    _, sub, _ = jcall("POST", base + "/" + PRIMARY, BODY, ctx=ctx)
    t_sub = time.monotonic()
    req = urllib.request.Request(sub["status_url"] + "/stream?logs=0")
    req.add_header("Authorization", "Key " + KEY)
    arrivals = []
    with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
        for line in r:
            if line.startswith(b"data: "):
                arrivals.append((json.loads(line[6:])["status"], time.monotonic() - t_sub))
    done_at = [t for st_, t in arrivals if st_ == "COMPLETED"]
    check("SSE stream: COMPLETED sent within 25 ms of the model's end",
          done_at and 0.3 - 0.01 <= done_at[0] <= 0.3 + 0.025, arrivals)
    s1 = ctl("GET", "stats")[1]
    delta = lambda k: s1[k].get(PRIMARY, 0) - s0[k].get(PRIMARY, 0)
    check("SSE stream: counted as one status request, one stream, two events",
          (delta("status_polls"), delta("status_streams"), delta("stream_events")) == (1, 1, 2),
          (delta("status_polls"), delta("status_streams"), delta("stream_events")))

    # Switched off: refused like an unknown route; polling still works.
    ctl("POST", "config", {"endpoint": PRIMARY, "mode": "ok", "delay": 0.05, "stream": "off"})
    _, sub, _ = jcall("POST", base + "/" + PRIMARY, BODY, ctx=ctx)
    code, raw, h = call("GET", sub["status_url"] + "/stream?logs=0", ctx=ctx)
    check("stream off -> 404 JSON, counted as refused",
          code == 404 and json.loads(raw) == {"detail": "Not Found"}
          and ctl("GET", "stats")[1]["stream_refused"].get(PRIMARY) == 1, (code, raw[:80]))
    doc, _ = poll_until_completed(sub["status_url"], ctx)
    check("stream off -> status polls still answer", doc and doc["status"] == "COMPLETED", doc)

    # Broken: the connection closes mid-body after one event, no final chunk.
    ctl("POST", "config", {"endpoint": PRIMARY, "mode": "ok", "delay": 0.5, "stream": "break",
                           "stream_break_after": 1})
    _, sub, _ = jcall("POST", base + "/" + PRIMARY, BODY, ctx=ctx)
    req = urllib.request.Request(sub["status_url"] + "/stream?logs=0")
    req.add_header("Authorization", "Key " + KEY)
    got, t_open = [], time.monotonic()
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            for line in r:   # http.client may end a cut chunked body quietly
                if line.startswith(b"data: "):
                    got.append(json.loads(line[6:])["status"])
    except (http.client.IncompleteRead, ConnectionError, ssl.SSLError, OSError):
        pass
    check("stream break -> one event, then the body ends before COMPLETED",
          got == ["IN_PROGRESS"] and time.monotonic() - t_open < 0.4
          and ctl("GET", "stats")[1]["stream_breaks"].get(PRIMARY) == 1, got)
    ctl("POST", "config", {"endpoint": PRIMARY, "mode": "ok"})

    # --- ingress, drop, hang_submit, response_path ------------------------
    ctl("POST", "config", {"endpoint": PRIMARY, "mode": "ingress:502"})
    code, raw, h = call("POST", base + "/" + PRIMARY, BODY, ctx=ctx)
    check("ingress:502 -> nginx html, no x-fal-request-id", code == 502 and b"nginx" in raw
          and h.get("x-fal-request-id") is None, code)
    ctl("POST", "config", {"endpoint": PRIMARY, "mode": "drop"})
    try:
        call("POST", base + "/" + PRIMARY, BODY, ctx=ctx)
        dropped = False
    except (http.client.RemoteDisconnected, urllib.error.URLError, ConnectionError):
        dropped = True
    check("drop -> connection closed without answer", dropped)
    ctl("POST", "config", {"endpoint": PRIMARY, "mode": "hang_submit", "hang_seconds": 5})
    t0 = time.monotonic()
    try:
        call("POST", base + "/" + PRIMARY, BODY, ctx=ctx, timeout=0.5)
        timed_out = False
    except (socket.timeout, TimeoutError, urllib.error.URLError):
        timed_out = True
    check("hang_submit -> client timeout", timed_out and time.monotonic() - t0 < 3)
    ctl("POST", "config", {"endpoint": PRIMARY, "mode": "ok", "response_path": True})
    _, sub, _ = jcall("POST", base + "/" + PRIMARY, BODY, ctx=ctx)
    poll_until_completed(sub["status_url"], ctx)
    code, res, _ = jcall("GET", sub["response_url"], ctx=ctx)
    check("response_path: .../response works", sub["response_url"].endswith("/response")
          and code == 200 and res["images"], (code, sub["response_url"]))

    # --- control API -------------------------------------------------------
    code, _, _ = ctl("POST", "config", {"endpoint": PRIMARY, "mode": "bogus"})
    check("bad mode -> 400", code == 400, code)
    ctl("POST", "reset")
    _, st, _ = ctl("GET", "stats")
    check("reset clears counters", st["submits"] == {} and st["auth_failures"] == 0, st)

    suite_counters(s, ctx)


def body_for(i, tag="b"):
    return dict(BODY, image_urls=["https://example.invalid/%s/%d/p.png" % (tag, i),
                                  "https://example.invalid/%s/%d/g.png" % (tag, i)])


def suite_counters(s, ctx):
    """Accepted, cancels split by state, results fetched, most in progress at
    once, 429 with Retry-After, and the seeded probabilistic faults."""
    base = s.base
    ctl = lambda m, p, b=None: jcall(m, base + "/_standin/" + p, b, key=None, ctx=ctx)
    submit = lambda ep, body=BODY, **kw: jcall("POST", base + "/" + ep, body, ctx=ctx, **kw)
    stats = lambda: ctl("GET", "stats")[1]

    # --- accepted vs submits ---------------------------------------------
    ctl("POST", "reset")
    ctl("POST", "config", {"endpoint": PRIMARY, "mode": "fail_n:1:status:503", "delay": 0.05})
    codes = [submit(PRIMARY)[0] for _ in range(4)]
    st = stats()
    check("accepted counts submits that got a request id", codes == [503, 200, 200, 200]
          and st["submits"].get(PRIMARY) == 4 and st["accepted"].get(PRIMARY) == 3,
          (codes, st["submits"], st["accepted"]))
    check("request_ids agree with accepted", len(st["request_ids"].get(PRIMARY, [])) == 3)

    # --- results fetched: once per request, only with an image ------------
    ctl("POST", "reset")
    ctl("POST", "config", {"endpoint": PRIMARY, "mode": "ok", "delay": 0.05})
    _, sub, _ = submit(PRIMARY)
    poll_until_completed(sub["status_url"], ctx)
    c1 = jcall("GET", sub["response_url"], ctx=ctx)[0]
    c2 = jcall("GET", sub["response_url"], ctx=ctx)[0]
    ctl("POST", "config", {"endpoint": PRIMARY, "mode": "error", "delay": 0.05,
                           "error_code": 500})
    _, sub, _ = submit(PRIMARY)
    poll_until_completed(sub["status_url"], ctx)
    c3 = jcall("GET", sub["response_url"], ctx=ctx)[0]
    st = stats()
    check("fetched: one per request with an image; results counts every GET",
          (c1, c2, c3) == (200, 200, 500) and st["fetched"].get(PRIMARY) == 1
          and st["results"].get(PRIMARY) == 3, (c1, c2, c3, st["fetched"], st["results"]))
    check("billed: an image yes, a 5xx failure no", st["billed"].get(PRIMARY) == 1,
          st["billed"])

    # --- cancels: in queue (free), in progress (billed), completed ---------
    ctl("POST", "reset")
    ctl("POST", "config", {"endpoint": PRIMARY, "mode": "ok", "queue_time": 30})
    _, queued, _ = submit(PRIMARY)
    ctl("POST", "config", {"endpoint": PRIMARY, "mode": "ok", "delay": 30})
    _, running, _ = submit(PRIMARY)
    wait_for(lambda: jcall("GET", running["status_url"], ctx=ctx)[1].get("status")
             == "IN_PROGRESS", 5)
    a = jcall("PUT", queued["cancel_url"], ctx=ctx)[0]
    b = jcall("PUT", running["cancel_url"], ctx=ctx)[0]
    c = jcall("PUT", running["cancel_url"], ctx=ctx)[0]
    st = stats()
    check("cancel codes 202, 202, 400", (a, b, c) == (202, 202, 400), (a, b, c))
    check("cancels split: 1 in queue, 1 in progress, 1 completed",
          st["cancels_in_queue"].get(PRIMARY) == 1 and st["cancels_in_progress"].get(PRIMARY) == 1
          and st["cancels_completed"].get(PRIMARY) == 1 and st["cancels"].get(PRIMARY) == 3,
          {k: st[k] for k in ("cancels", "cancels_in_queue", "cancels_in_progress",
                              "cancels_completed")})
    check("billed: cancelled in progress yes, in queue no", st["billed"].get(PRIMARY) == 1,
          st["billed"])
    _, rq, _ = ctl("GET", "requests")
    kinds = {r["id"]: (r["cancelled"], r["billed"], r["started"] is not None)
             for r in rq["requests"]}
    check("/_standin/requests: cancel kind, billed, started per request",
          kinds.get(queued["request_id"]) == ("in_queue", False, False)
          and kinds.get(running["request_id"]) == ("in_progress", True, True), kinds)

    # --- most in progress at once ------------------------------------------
    ctl("POST", "reset")
    ctl("POST", "config", {"endpoint": PRIMARY, "mode": "ok", "delay": 0.1})
    for _ in range(2):                 # one after the other: never 2 at once
        _, sub, _ = submit(PRIMARY)
        poll_until_completed(sub["status_url"], ctx)
    st = stats()
    check("in_progress_max 1 for sequential requests", st["in_progress_max"] == 1
          and st["in_progress_now"] == 0, (st["in_progress_max"], st["in_progress_now"]))
    ctl("POST", "config", {"endpoint": PRIMARY, "mode": "ok", "delay": 1.5})
    ctl("POST", "config", {"endpoint": BACKUP, "mode": "ok", "delay": 1.5})
    subs = [submit(PRIMARY)[1] for _ in range(3)] + [submit(BACKUP, {})[1] for _ in range(2)]
    st = stats()
    check("in_progress_max 5 at once, per endpoint 3 and 2, 5 now",
          st["in_progress_max"] == 5 and st["in_progress_now"] == 5
          and st["in_progress_max_by_endpoint"] == {PRIMARY: 3, BACKUP: 2},
          (st["in_progress_max"], st["in_progress_max_by_endpoint"], st["in_progress_now"]))
    for x in subs:
        jcall("PUT", x["cancel_url"], ctx=ctx)
    st = stats()
    check("cancelled: none in progress now, the peak stays",
          st["in_progress_now"] == 0 and st["in_progress_max"] == 5, st["in_progress_now"])

    # --- 429: max_in_progress (endpoint, account), fail_n with Retry-After --
    ctl("POST", "reset")
    ctl("POST", "config", {"endpoint": PRIMARY, "mode": "ok", "delay": 30, "max_in_progress": 2,
                           "retry_after": 1})
    r1, r2 = submit(PRIMARY)[1], submit(PRIMARY)[1]
    code, doc, h = submit(PRIMARY)
    check("max_in_progress 2: third submit -> 429 concurrent_requests_limit, Retry-After 1",
          code == 429 and h.get("Retry-After") == "1"
          and doc.get("error_type") == "concurrent_requests_limit", (code, doc, dict(h)))
    code_b, _, _ = submit(BACKUP, {})
    check("max_in_progress per endpoint: the other endpoint is not limited", code_b == 200, code_b)
    jcall("PUT", r1["cancel_url"], ctx=ctx)
    code, sub, _ = submit(PRIMARY)
    check("a cancel frees a slot: submit -> 200", code == 200, code)
    st = stats()
    check("throttled 1, accepted 3 (429s are not accepted)",
          st["throttled"].get(PRIMARY) == 1 and st["accepted"].get(PRIMARY) == 3,
          (st["throttled"], st["accepted"]))
    ctl("POST", "config", {"endpoint": BACKUP, "mode": "ok", "max_in_progress": 3,
                           "limit_scope": "account"})
    code_b, _, h = submit(BACKUP, {})
    check("limit_scope account counts every endpoint: 429 without Retry-After",
          code_b == 429 and h.get("Retry-After") is None, (code_b, dict(h)))
    for x in (r2, sub):
        jcall("PUT", x["cancel_url"], ctx=ctx)
    ctl("POST", "config", {"endpoint": PRIMARY, "mode": "fail_n:2:status:429",
                           "retry_after": 0.5, "delay": 0.05})
    got = [submit(PRIMARY) for _ in range(3)]
    check("fail_n:2:status:429 with retry_after 0.5: 429, 429, 200",
          [g[0] for g in got] == [429, 429, 200]
          and [g[2].get("Retry-After") for g in got[:2]] == ["0.5", "0.5"],
          [(g[0], g[2].get("Retry-After")) for g in got])

    # --- seeded probabilistic faults ---------------------------------------
    prof = {"endpoint": PRIMARY, "mode": "ok", "error_rate": 0.3, "hang_rate": 0.2,
            "delay_range": [0.05, 0.25], "queue_time_range": [0.0, 0.05],
            "error_code": 500, "seed": 11}

    def run(order):
        ctl("POST", "reset")
        code, _, _ = ctl("POST", "config", prof)
        ids = {}
        for i in order:
            ids[i] = submit(PRIMARY, body_for(i))[1]["request_id"]
        ids["again"] = submit(PRIMARY, body_for(0))[1]["request_id"]   # 2nd of body 0
        docs = {r["id"]: r for r in ctl("GET", "requests")[1]["requests"]}
        return code, {i: (docs[rid]["mode"], docs[rid]["delay"], docs[rid]["queue_time"])
                      for i, rid in ids.items()}, ids, docs

    code, fates, ids, docs = run(range(40))
    st = stats()
    modes = [f[0] for f in fates.values()]
    check("faults config accepted", code == 200, code)
    check("faults: errors and hangs drawn, counted",
          st["fault_errors"].get(PRIMARY) == modes.count("error") > 0
          and st["fault_hangs"].get(PRIMARY) == modes.count("hang") > 0
          and modes.count("ok") > 0, (modes.count("ok"), modes.count("error"), modes.count("hang")))
    check("faults: rates near 30 % / 20 % of 41",
          4 <= modes.count("error") <= 22 and 1 <= modes.count("hang") <= 16, modes)
    check("faults: delays and queue times inside their ranges",
          all(f[0] == "hang" or 0.05 <= f[1] <= 0.25 for f in fates.values())
          and all(0 <= f[2] <= 0.05 for f in fates.values()), fates)
    check("faults: drawn flag set", all(d["drawn"] for d in docs.values()))
    _, again, ids2, _ = run(reversed(range(40)))
    check("seeded: same fate per body whatever the order (and for a repeat)",
          again == fates, [i for i in fates if fates[i] != again.get(i)])
    err_i = next(i for i, f in fates.items() if f[0] == "error")
    hang_i = next(i for i, f in fates.items() if f[0] == "hang")
    ok_i = next(i for i, f in fates.items() if f[0] == "ok")
    time.sleep(0.35)
    st_docs = {i: jcall("GET", base + "/fal-ai/flux-2-lora-gallery/requests/%s/status"
                        % ids2[i], ctx=ctx)[1] for i in (err_i, hang_i, ok_i)}
    check("faults: an error completes with error, a hang stays IN_PROGRESS, ok completes",
          st_docs[err_i].get("error_type") == "runner_server_error"
          and st_docs[hang_i].get("status") == "IN_PROGRESS"
          and st_docs[ok_i].get("status") == "COMPLETED" and "error" not in st_docs[ok_i],
          st_docs)
    prof2 = dict(prof, seed=12)
    ctl("POST", "reset")
    ctl("POST", "config", prof2)
    other = [jcall("POST", base + "/" + PRIMARY, body_for(i), ctx=ctx)[1]["request_id"]
             for i in range(40)]
    d2 = {r["id"]: r["delay"] for r in ctl("GET", "requests")[1]["requests"]}
    check("another seed draws other fates",
          [d2[r] for r in other] != [fates[i][1] for i in range(40)])
    ctl("POST", "config", dict(prof, seed=None))
    code, _, _ = submit(PRIMARY, body_for(1))
    check("unseeded faults: submit works", code == 200, code)
    for bad in ({"error_rate": 1.5}, {"error_rate": 0.7, "hang_rate": 0.5},
                {"delay_range": [2, 1]}, {"delay_range": 3}, {"limit_scope": "node"},
                {"max_in_progress": -1}):
        code, _, _ = ctl("POST", "config", dict({"endpoint": PRIMARY}, **bad))
        check("bad fault config %s -> 400" % json.dumps(bad), code == 400, code)
    _, st, _ = ctl("GET", "config")
    check("GET config shows the fault settings", st[PRIMARY]["error_rate"] == 0.3
          and st[PRIMARY]["delay_range"] == [0.05, 0.25], st.get(PRIMARY))
    ctl("POST", "reset")
    st = stats()
    check("reset clears the new counters and the peak",
          st["accepted"] == {} and st["fetched"] == {} and st["in_progress_max"] == 0
          and st["cancels_in_progress"] == {} and ctl("GET", "requests")[1]["requests"] == [], st)


def _is_json(raw):
    try:
        json.loads(raw)
        return True
    except ValueError:
        return False


def expect_tls_failure(name, port, ctx):
    try:
        call("GET", "https://localhost:%d/_standin/stats" % port, ctx=ctx, key=None)
        check(name, False, "request succeeded")
    except urllib.error.URLError as e:
        check(name, isinstance(e.reason, ssl.SSLCertVerificationError), repr(e.reason))
    except ssl.SSLCertVerificationError:
        check(name, True)


def main():
    tmp = tempfile.mkdtemp(prefix="standin-selfcheck.")
    servers = []
    try:
        ca_dir = os.path.join(tmp, "ca")
        r = subprocess.run(["sh", MAKE_CA, ca_dir], capture_output=True, text=True)
        check("make_test_ca.sh exit 0, quiet", r.returncode == 0 and not r.stdout
              and not r.stderr, r.stderr)
        names = [n + ext for n in ("ca", "other-ca", "server-ec", "server-rsa", "wronghost")
                 for ext in (".pem", ".key")]
        read_all = lambda: {f: open(os.path.join(ca_dir, f), "rb").read()
                            for f in os.listdir(ca_dir) if not f.startswith(".")}
        snap = read_all()
        check("make_test_ca.sh wrote the 10 files", sorted(snap) == sorted(names), sorted(snap))
        r = subprocess.run(["sh", MAKE_CA, ca_dir], capture_output=True, text=True)
        check("make_test_ca.sh idempotent", r.returncode == 0 and read_all() == snap, r.stderr)
        ca = lambda f: os.path.join(ca_dir, f)
        ctx = ssl.create_default_context(cafile=ca("ca.pem"))
        check("client verifies certs and host name",
              ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname)

        for kind, full in (("ec", True), ("rsa", False)):
            print("# stand-in with server-%s" % kind)
            s = Standin(tmp, kind, ca("server-%s.pem" % kind), ca("server-%s.key" % kind),
                        ["--model-time", "0.1"])
            servers.append(s)
            try:
                suite(s, ctx, full)
            except Exception as e:          # count, keep going, still clean up
                check("suite %s ran without exception" % kind, False, repr(e))
            if kind == "ec":
                other = ssl.create_default_context(cafile=ca("other-ca.pem"))
                expect_tls_failure("wrong CA fails verification", s.port, other)
            rc = s.stop()
            check("%s: SIGTERM -> exit 0, port file removed" % kind,
                  rc == 0 and not os.path.exists(s.port_file), rc)

        print("# stand-in with wronghost")
        s = Standin(tmp, "wronghost", ca("wronghost.pem"), ca("wronghost.key"))
        servers.append(s)
        expect_tls_failure("wrong-host cert fails verification", s.port, ctx)
        # The stand-in counts the failure in its connection thread, which
        # may not have run yet when the client has already given up.
        deadline = time.monotonic() + 5
        while True:
            _, st, _ = jcall("GET", s.base + "/_standin/stats", key=None,
                             ctx=_no_hostname_ctx(ca("ca.pem")))
            if (st and st["handshake_failures"] >= 1) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        check("stand-in saw the failed handshake", st and st["handshake_failures"] >= 1, st)
    except Exception as e:
        check("self-check ran without exception", False, repr(e))
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (RESULTS["passed"], RESULTS["failed"]))
    return 1 if RESULTS["failed"] else 0


def _no_hostname_ctx(cafile):
    """Chain verified, host name not (to reach the wronghost server's stats)."""
    c = ssl.create_default_context(cafile=cafile)
    c.check_hostname = False
    return c


if __name__ == "__main__":
    sys.exit(main())
