"""Issue 6: metrics move as tasks run, health detail, HTTP errors, log shape
and levels (stderr and journald), on the real worker."""
import json
import os
import re
import socket
import struct
import urllib.request

import itest
from itest import Standin, Worker, celery_app, free_port, worker_env


def get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def metric(text, _metric, **labels):
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$", line)
        if not m or m.group(1) != _metric:
            continue
        got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            return float(m.group(3))
    return 0.0


def fresh(s):
    """The session's redis-server with this file's DBs emptied: a message
    or a dead node left by an earlier test must not reach our worker."""
    r = s.redis()
    for db in (4, 5, 7):
        r.client(db).flushdb()
    return r


def model_worker_env(s, r, port, **extra):
    """A worker's environment with the model stand-in (over HTTPS with the
    test CA), a cache in DB 7 of `r` and the endpoint on `port`."""
    return worker_env(s, r, TRYON_HTTP_ADDR=f"127.0.0.1:{port}", FAL_QUEUE_URL=Standin(s).base,
                      TRYON_CA_FILE=os.path.join(s.ca(), "ca.pem"), FAL_KEY=itest.FAL_KEY,
                      REDIS_CACHE_URL=r.url(7), **extra)


def test_metrics_move_as_tasks_run(s):
    r = fresh(s)
    port = free_port()
    env = model_worker_env(s, r, port)
    Worker(s, env)
    code, before = get(port, "/metrics")
    assert code == 200
    assert metric(before, "celery_worker_up", hostname=env.get("TRYON_HOSTNAME", "vm").split("@")[-1]) in (0.0, 1.0)
    app = celery_app(r.url(4), r.url(5))
    for i in range(3):
        assert app.send_task("tryon.test.echo", args=[i], queue="tryon_queue").get(timeout=10) == [i]
    try:
        app.send_task("tryon.test.sleep", args=["bad"], queue="tryon_queue").get(timeout=10)
    except ValueError:
        pass
    url = app.send_task("app.tasks.virtual_tryon", args=["https://example.com/p.png", "https://example.com/g.png"],
                        queue="tryon_queue").get(timeout=20)
    assert url.startswith("https://")
    assert app.send_task("app.tasks.virtual_tryon", args=["https://example.com/p.png", "https://example.com/g.png"],
                         queue="tryon_queue").get(timeout=20) == url
    code, after = get(port, "/metrics")
    assert metric(after, "celery_task_succeeded_total", name="tryon.test.echo") == 3
    assert metric(after, "celery_task_received_total", name="tryon.test.echo") == 3
    assert metric(after, "celery_task_failed_total", name="tryon.test.sleep", exception="ValueError") == 1
    assert metric(after, "celery_task_runtime_count", name="tryon.test.echo") == 3
    assert metric(after, "tryon_job_exits_total", **{"class": "success"}) >= 4  # the cache hit needs no child
    assert metric(after, "tryon_job_exits_total", **{"class": "task_exception"}) == 1
    assert metric(after, "tryon_cache_requests_total", result="hit") == 1
    assert metric(after, "tryon_cache_requests_total", result="miss") == 1
    ep = "fal-ai/flux-2-lora-gallery/virtual-tryon"
    assert metric(after, "tryon_model_requests_total", endpoint=ep, outcome="ok") == 1
    assert abs(metric(after, "tryon_model_spend_usd_total", endpoint=ep) - 0.05) < 1e-9
    assert metric(after, "tryon_model_request_duration_seconds_count", endpoint=ep) == 1
    assert metric(after, "tryon_model_breaker_state", endpoint=ep) == 0
    assert metric(after, "process_resident_memory_bytes") > 100000
    assert metric(after, "process_start_time_seconds") > 1.7e9
    assert metric(after, "tryon_job_peak_memory_bytes_count") >= 4
    # The health detail.
    code, body = get(port, "/health")
    h = json.loads(body)
    assert code == 200 and h["ready"] is True and h["slots"]["total"] == 4
    assert h["connections"]["broker"]["state"] == "ready" and "***" in h["connections"]["broker"]["url"]
    assert h["models"][ep]["breaker"] == "closed" and h["models"][ep]["paid_calls"] == 1
    assert get(port, "/readyz")[0] == 200 and get(port, "/healthz")[0] == 200


def anonymous_kib(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Anonymous:"):
                return int(line.split()[1])
    raise AssertionError("no Anonymous line in smaps_rollup")


def test_idle_worker_holds_little_anonymous_memory(s):
    """Issue 15, idle memory: a worker that has started, answered every
    route and waits for work writes to little memory of its own. The
    endpoint's 32 client buffers (8 KB each) and the metrics registry
    (192 series, 75 KB) were written through at start (each client's fd set
    to -1; calloc zeroing the registry): 320-330 KiB of anonymous memory;
    now 200-210 KiB. The binary's pages are not counted here: they are
    file pages, shared with every job and every other worker."""
    r = fresh(s)
    port = free_port()
    w = Worker(s, worker_env(s, r, TRYON_HTTP_ADDR=f"127.0.0.1:{port}", TRYON_CONCURRENCY="4"))
    for path in ("/metrics", "/health", "/", "/readyz", "/metrics"):
        assert get(port, path)[0] == 200, path
    kib = anonymous_kib(w.proc.pid)
    assert kib <= 256, f"{kib} KiB of anonymous memory in an idle worker"


def elf_sections(path):
    """{name: (address, size)} of an ELF64 file's sections (a stripped
    binary keeps its section headers)."""
    with open(path, "rb") as f:
        data = f.read()
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    heads = [struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize) for i in range(shnum)]
    strtab = heads[shstrndx][4]
    out = {}
    for name, _type, _flags, addr, _offset, size in heads:
        end = data.index(b"\0", strtab + name)
        out[data[strtab + name:end].decode()] = (addr, size)
    return out


def rss_kib_of_mapping(pid, addr):
    """Resident KiB of the mapping of `pid` that holds `addr`."""
    inside = False
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            head = re.match(r"^([0-9a-f]+)-([0-9a-f]+) ", line)
            if head:
                inside = int(head.group(1), 16) <= addr < int(head.group(2), 16)
            elif inside and line.startswith("Rss:"):
                return int(line.split()[1])
    raise AssertionError(f"no mapping holds {addr:#x}")


def test_idle_worker_maps_no_tls_code(s):
    """Issue 15, idle memory: the TLS and HTTP code (BearSSL, most of
    libcurl) and the trust anchors run in the job children; the kernel maps
    a binary's pages a window or a folio at a time around each fault, so
    while they sat between the parent's own functions, all 300 KiB of them
    were resident in every idle worker (1.05 MiB in all). src/layout.ld keeps
    them in segments of their own; a worker that started with a CA file and
    a cache, answered every route and ran a task maps none of their pages.
    A parent that starts to call into them shows up here."""
    r = fresh(s)
    port = free_port()
    w = Worker(s, model_worker_env(s, r, port, TRYON_CONCURRENCY="4"))
    for path in ("/metrics", "/health", "/", "/readyz"):
        assert get(port, path)[0] == 200, path
    app = celery_app(r.url(4), r.url(5))
    assert app.send_task("tryon.test.echo", args=[1], queue="tryon_queue").get(timeout=10) == [1]
    sections = elf_sections(itest.BINARY)
    for name in (".text.vendor_jobs", ".rodata.vendor_jobs"):
        assert name in sections, f"the binary has no {name} section (src/layout.ld not applied)"
        addr, size = sections[name]
        assert size > 64 * 1024, f"{name} holds only {size} bytes"
        kib = rss_kib_of_mapping(w.proc.pid, addr)
        assert kib == 0, f"{kib} KiB of {name} resident in an idle worker"


def test_http_errors(s):
    r = fresh(s)
    port = free_port()
    Worker(s, worker_env(s, r, TRYON_HTTP_ADDR=f"127.0.0.1:{port}"))
    assert get(port, "/nope")[0] == 404
    req = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", data=b"", method="POST")
    try:
        urllib.request.urlopen(req, timeout=5)
        raise AssertionError("POST accepted")
    except urllib.error.HTTPError as e:
        assert e.code == 405 and "GET" in e.headers.get("Allow", "")
    c = socket.create_connection(("127.0.0.1", port), timeout=5)
    c.sendall(b"\x00\x01garbage\r\n\r\n")
    assert c.recv(100).startswith(b"HTTP/1.1 400")
    c.close()


def test_log_shape_levels_and_journald(s):
    r = fresh(s)
    w = Worker(s, worker_env(s, r, TRYON_LOG_LEVEL="warn"), name="quiet", wait_ready=False)
    app = celery_app(r.url(4), r.url(5))
    assert app.send_task("tryon.test.echo", args=[1], queue="tryon_queue").get(timeout=15) == [1]
    w.stop()
    log = w.log()
    # warn level: the info lines (worker.starting, worker.ready) are absent...
    assert "event=worker.starting" not in log and "level=info" not in log
    # ...but warnings stay (test tasks enabled logs nothing; cache.disabled is a warning).
    assert "level=warn event=cache.disabled" in log
    w = Worker(s, worker_env(s, r, JOURNAL_STREAM="8:1234"), name="journal")
    w.stop()
    lines = [l for l in w.log().splitlines() if l]
    assert lines and all(re.match(r"^<[3467]>level=(error|warn|info|debug) event=[a-z_.]+", l) for l in lines), lines[:3]
    assert any(l.startswith("<6>level=info event=worker.ready") for l in lines)
    w = Worker(s, worker_env(s, r), name="plain")
    w.stop()
    for l in w.log().splitlines():
        assert re.match(r"^time=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z level=\w+ event=[a-z_.]+( \w+=\S.*)?$", l), l
