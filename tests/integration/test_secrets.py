"""No known secret (the Redis password, plain or URL-quoted, and the FAL key)
appears in any output: the worker's debug log, task results and errors in
the result backend, the client, doctor, --help, configuration errors, the
HTTP endpoints and the Celery CLI's view of the node.

Self-contained: it starts a worker whose broker URL carries the password
and which holds the FAL key, makes it succeed and fail, then scans all that
and whatever else the session recorded before it (so in a full run it
covers the other tests' output as well, in any order)."""
import os
import subprocess
import urllib.request

from itest import (FAL_KEY, PYTHON, REDIS_PASSWORD, Standin, Worker, celery_app, free_port,
                   quote_pw, time_limit, worker_env)

PRIMARY = "fal-ai/flux-2-lora-gallery/virtual-tryon"
BACKUP = "fal-ai/fashn/tryon/v1.6"
TRYON = "app.tasks.virtual_tryon"


def outcome(res, timeout=20):
    """The task's value, or its exception (the stored error is what counts)."""
    try:
        return res.get(timeout=timeout)
    except Exception as e:  # noqa: BLE001 - failures are part of the point
        return e.with_traceback(None)


def http_get(s, port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            body = r.read()
    except urllib.error.HTTPError as e:
        body = e.read()
    s.record("http" + path.replace("/", "-"), body)
    return body.decode("utf-8", "replace")


@time_limit(120)
def test_no_secret_in_any_output(s):
    # The scan finds a secret where there is one (a file it is not given
    # to scan afterwards).
    probe = os.path.join(s.tmp, "secrets-probe")
    with open(probe, "w") as f:
        f.write(f"x {quote_pw(REDIS_PASSWORD)} y {FAL_KEY}")
    assert {h[1] for h in s.secrets_found([probe])} == {quote_pw(REDIS_PASSWORD), FAL_KEY,
                                                        "fake-secret-cafe-4567"}
    ours_from = len(s.all_outputs)

    r = s.new_redis()           # requirepass REDIS_PASSWORD
    assert quote_pw(REDIS_PASSWORD) in r.url(4)
    st = Standin(s, key_required=FAL_KEY)
    port = free_port()
    env = worker_env(s, r, FAL_QUEUE_URL=st.base, TRYON_CA_FILE=os.path.join(s.ca(), "ca.pem"),
                     FAL_KEY=FAL_KEY, REDIS_CACHE_URL=r.url(6), TRYON_LOG_LEVEL="debug",
                     TRYON_HTTP_ADDR=f"127.0.0.1:{port}", TRYON_TASK_EVENTS=1,
                     TRYON_SOFT_TIME_LIMIT=5, TRYON_TIME_LIMIT=8, TRYON_MAX_RETRIES=0,
                     TRYON_HEDGE_AFTER=1)
    w = Worker(s, env)
    app = celery_app(r.url(4), r.url(5))
    p, g = "https://img.example.com/p-secrets.png", "https://img.example.com/g-secrets.png"

    # Success, then the cache hit.
    url = outcome(app.send_task(TRYON, args=[p, g], queue="tryon_queue"))
    assert isinstance(url, str) and url.startswith("https://"), url
    assert outcome(app.send_task(TRYON, args=[p, g], queue="tryon_queue")) == url
    # The model API refuses the key (it was sent): the error must not echo it.
    st.config(PRIMARY, "status:401")
    e = outcome(app.send_task(TRYON, args=[p + "?401", g], queue="tryon_queue"))
    assert isinstance(e, RuntimeError) and "401" in str(e), e
    # Both models fail; a bad argument; a test task that raises; an
    # unknown task; the health check (it reports on the connections).
    st.config(PRIMARY, "status:500")
    st.config(BACKUP, "status:500")
    e = outcome(app.send_task(TRYON, args=[p + "?500", g], queue="tryon_queue"))
    assert isinstance(e, RuntimeError), e
    e = outcome(app.send_task(TRYON, args=[p, "ftp://example.com/g.png"], queue="tryon_queue"))
    assert isinstance(e, ValueError), e
    e = outcome(app.send_task("tryon.test.fail", args=["boom"], queue="tryon_queue"))
    assert isinstance(e, RuntimeError) and "boom" in str(e), e
    e = outcome(app.send_task("app.tasks.no_such_task", queue="tryon_queue"))
    assert type(e).__name__ == "NotRegistered", repr(e)
    h = outcome(app.send_task("app.tasks.health_check", queue="tryon_queue"))
    assert isinstance(h, dict) and h["broker_reachable"] is True, h

    # The client with the same environment.
    c = s.run(["call", "app.tasks.health_check", "--wait", "10"], env=env)
    assert c.returncode == 0, (c.out, c.err)
    c = s.run(["submit", p, "ftp://example.com/g.png", "--wait", "10"], env=env)
    assert c.returncode != 0 and "garment_url" in c.out + c.err, (c.returncode, c.out, c.err)

    # What operators look at: the HTTP endpoints and the Celery CLI.
    assert '"broker"' in http_get(s, port, "/health")
    assert "celery_worker_up" in http_get(s, port, "/metrics")
    for what in ("stats", "active", "registered"):
        p_ = subprocess.run([PYTHON, "-m", "celery", "-b", r.url(4), "inspect", what, "--timeout", "2"],
                            env={"PATH": "/usr/bin:/bin", "HOME": s.tmp}, capture_output=True,
                            timeout=30)
        s.record_run("celery-cli", p_)
        assert p_.returncode == 0, (what, p_.out, p_.err)

    # doctor: all fine, then with the broker's port closed (the error names
    # the URL); --help and --version with the secrets in the environment.
    d = s.run(["doctor"], env=env, timeout=30)
    assert d.returncode == 0, (d.out, d.err)
    down = r.url(4).replace(f":{r.port}/", f":{free_port()}/")
    d = s.run(["doctor"], env=dict(env, CELERY_BROKER_URL=down), timeout=30)
    assert d.returncode == 1 and "broker" in d.out, (d.out, d.err)
    for arg in ("--help", "--version"):
        assert s.run([arg], env=env).returncode == 0

    # Configuration errors about values that hold a secret.
    bad = [
        {"CELERY_BROKER_URL": f"redis://:{quote_pw(REDIS_PASSWORD)}@127.0.0.1:notaport/4"},
        {"CELERY_BROKER_URL": f"http://:{quote_pw(REDIS_PASSWORD)}@127.0.0.1:6379/4"},
        {"CELERY_BROKER_URL": f"redis://:{REDIS_PASSWORD}@127.0.0.1:6379/4"},   # not quoted
        {"CELERY_RESULT_BACKEND": f"redis://:{quote_pw(REDIS_PASSWORD)}@127.0.0.1:6379/x"},
        {"REDIS_CACHE_URL": f"redis://:{quote_pw(REDIS_PASSWORD)}@[::1:6379/0"},
        {"TRYON_CA_FILE": "/nonexistent/ca.pem"},
    ]
    for over in bad:
        for cmd in (["doctor"], ["worker"]):
            c = s.run(cmd, env=dict(env, **over), timeout=30)
            assert c.returncode == 100, (cmd, over, c.returncode, c.err)
            assert c.err.strip(), (cmd, over)

    w.stop()
    assert "event=worker.ready" in w.log() and "level=debug" in w.log()
    # What the result backend and the cache hold.
    dump = []
    for db in (4, 5, 6):
        cl = r.client(db)
        for k in cl.keys("*"):
            t = cl.type(k)
            v = cl.get(k) if t == b"string" else cl.lrange(k, 0, -1) if t == b"list" else \
                cl.hgetall(k) if t == b"hash" else b""
            dump.append(repr((db, k, v)))
    s.record("redis-dump", "\n".join(dump))
    assert any("celery-task-meta-" in x for x in dump), "no results stored"
    assert any("HTTP 401" in x for x in dump), "the 401 error was not stored"

    assert len(s.all_outputs) - ours_from >= 30, len(s.all_outputs) - ours_from
    hits = s.secrets_found()
    assert not hits, f"secrets found in output: {hits[:5]}"
    print(f"    {len(s.all_outputs)} outputs scanned ({len(s.all_outputs) - ours_from} from this test)")
