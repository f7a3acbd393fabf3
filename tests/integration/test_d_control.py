"""Issue 6 items 3 and 4: Celery remote control (pidbox) and events, proven
with the real Debian python3-celery 5.2.6 CLI and client against our node:
inspect ping (also under full load) / active / registered / stats /
scheduled, control revoke and terminate, unknown methods, shutdown, worker
and task events seen by `celery events --dump` and events.Receiver."""
import json
import signal
import subprocess
import threading
import time
import uuid

from itest import (PYTHON, REDIS_PASSWORD, PythonWorker, Worker, celery_app, quote_pw,
                   time_limit, wait_for, worker_env)

NODE = "tryon-d@itest"


def setup(s, node=NODE, **extra):
    r = s.redis()
    r.client(4).flushdb()
    r.client(5).flushdb()
    env = worker_env(s, r, TRYON_HOSTNAME=node, **extra)
    return r, env, celery_app(r.url(4), r.url(5))


def cli(s, r, *args, timeout=30):
    """Run `python3 -m celery -b <broker> ...`; its output is recorded for
    the secrets check (stats must never carry the password)."""
    env = {"PATH": "/usr/bin:/bin", "HOME": s.tmp, "PYTHONUNBUFFERED": "1"}
    p = subprocess.run([PYTHON, "-m", "celery", "-b", r.url(4)] + list(args), env=env,
                       capture_output=True, text=True, timeout=timeout)
    s.record("celery-cli", p.stdout + "\n" + p.stderr)
    p.out = p.stdout + p.stderr
    return p


def cli_json(s, r, *args):
    p = cli(s, r, *args, "--json")
    assert p.returncode == 0, p.out
    return json.loads(p.stdout.strip().splitlines()[-1])


def wait_control_ready(app, node=NODE, timeout=10):
    """The node answers pings (its pidbox subscription is live)."""
    wait_for(lambda: app.control.inspect(destination=[node], timeout=0.5).ping(), timeout,
             f"{node} to answer ping")


def started(w, task_id):
    return f"id={task_id}" in "\n".join(l for l in w.log().splitlines() if "event=task.started" in l)


def meta(r, task_id):
    raw = r.client(5).get(f"celery-task-meta-{task_id}")
    return json.loads(raw) if raw else None


class Events:
    """A Python events.Receiver in a thread (what Flower and `celery events`
    use); collects every event; stop() ends the capture."""

    def __init__(self, app):
        self.app = app
        self.events = []
        self.receiver = None
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.ready.wait(10), "the event receiver did not start"

    def _run(self):
        try:
            with self.app.connection_for_read() as conn:
                self.receiver = self.app.events.Receiver(conn, handlers={"*": self.events.append})
                # Subscribed: from here on no event is missed. (The default
                # hook would also broadcast a `heartbeat` wakeup; the
                # heartbeat cadence test must not see extra heartbeats.)
                self.receiver.on_consume_ready = lambda *a, **kw: self.ready.set()
                self.receiver.capture(limit=None, timeout=None, wakeup=False)
        except Exception as e:  # noqa: BLE001 - a failed test leaves us running
            self.error = e

    def of(self, type_, **match):
        return [e for e in list(self.events) if e.get("type") == type_
                and all(e.get(k) == v for k, v in match.items())]

    def wait(self, type_, timeout=10, **match):
        return wait_for(lambda: self.of(type_, **match), timeout, f"event {type_} {match}")

    def stop(self):
        if self.receiver is not None:
            self.receiver.should_stop = True
        self.thread.join(5)


# -- remote control ------------------------------------------------------

@time_limit(90)
def test_inspect_ping_cli_and_within_1s_under_full_load(s):
    r, env, app = setup(s, TRYON_CONCURRENCY=2)
    w = Worker(s, env)
    p = cli(s, r, "inspect", "ping", "-d", NODE)
    assert p.returncode == 0, p.out
    assert f"{NODE}: OK" in p.out and "pong" in p.out, p.out
    assert cli_json(s, r, "inspect", "ping", "-d", NODE) == {NODE: {"ok": "pong"}}
    # Without -d every node answers; ours is among them.
    assert NODE in cli_json(s, r, "inspect", "ping")
    # Every slot busy with a sleeping task, more queued behind them.
    busy = [app.send_task("tryon.test.sleep", args=[6], queue="tryon_queue") for _ in range(4)]
    wait_for(lambda: sum(started(w, t.id) for t in busy) == 2, 10, "both slots busy")
    for _ in range(5):
        t0 = time.monotonic()
        replies = app.control.inspect(destination=[NODE], timeout=1.0).ping()
        elapsed = time.monotonic() - t0
        assert replies == {NODE: {"ok": "pong"}}, replies
        assert elapsed < 1.0, f"ping took {elapsed:.3f}s under full load"
    p = cli(s, r, "inspect", "ping", "-d", NODE, "--timeout", "1")
    assert p.returncode == 0 and "pong" in p.out, p.out
    assert [t.get(timeout=30) for t in busy] == [6, 6, 6, 6]


def test_inspect_active_shows_the_running_sleep_task(s):
    r, env, app = setup(s, TRYON_CONCURRENCY=2)
    w = Worker(s, env)
    wait_control_ready(app)
    assert cli_json(s, r, "inspect", "active", "-d", NODE) == {NODE: []}
    t = app.send_task("tryon.test.sleep", args=[4], queue="tryon_queue")
    wait_for(lambda: started(w, t.id), 10, "the sleep task to start")
    before = time.time()
    active = cli_json(s, r, "inspect", "active", "-d", NODE)[NODE]
    assert len(active) == 1, active
    a = active[0]
    # Request.info(), as a Python worker sends it
    assert list(a) == ["id", "name", "args", "kwargs", "type", "hostname", "time_start",
                       "acknowledged", "delivery_info", "worker_pid"], a
    assert a["id"] == t.id and a["name"] == "tryon.test.sleep" and a["type"] == "tryon.test.sleep"
    assert a["args"] == [4] and a["kwargs"] == {} and a["hostname"] == NODE
    assert isinstance(a["time_start"], float) and before - 10 < a["time_start"] <= before + 1
    assert a["acknowledged"] is False  # acks_late: acked after it ran
    assert a["delivery_info"]["routing_key"] == "tryon_queue"
    assert a["delivery_info"]["exchange"] == "" and a["delivery_info"]["priority"] == 0
    assert isinstance(a["worker_pid"], int) and a["worker_pid"] != w.proc.pid
    assert f"pid={a['worker_pid']}" in w.log()
    # The human form too.
    p = cli(s, r, "inspect", "active", "-d", NODE)
    assert p.returncode == 0 and t.id in p.out and "tryon.test.sleep" in p.out, p.out
    assert t.get(timeout=20) == 4
    assert cli_json(s, r, "inspect", "active", "-d", NODE) == {NODE: []}


def test_inspect_registered_lists_our_tasks(s):
    r, env, app = setup(s)
    Worker(s, env)
    wait_control_ready(app)
    names = cli_json(s, r, "inspect", "registered", "-d", NODE)[NODE]
    assert names == sorted(names), names
    for n in ("app.tasks.virtual_tryon", "app.tasks.health_check", "tryon.test.sleep",
              "tryon.test.echo"):
        assert n in names, names
    p = cli(s, r, "inspect", "registered", "-d", NODE)
    assert p.returncode == 0 and "* app.tasks.virtual_tryon" in p.out, p.out
    # Without test tasks only the two real ones.
    env2 = dict(env, TRYON_ENABLE_TEST_TASKS="0", TRYON_HOSTNAME="tryon-d2@itest")
    Worker(s, env2, name="worker2")
    wait_control_ready(app, "tryon-d2@itest")
    assert cli_json(s, r, "inspect", "registered", "-d", "tryon-d2@itest") == {
        "tryon-d2@itest": ["app.tasks.health_check", "app.tasks.virtual_tryon"]}


def test_inspect_stats_faithful_subset(s):
    r, env, app = setup(s, TRYON_CONCURRENCY=3)
    w = Worker(s, env)
    wait_control_ready(app)
    assert app.send_task("tryon.test.echo", args=[1], queue="tryon_queue").get(timeout=10) == [1]
    p = cli(s, r, "inspect", "stats", "-d", NODE, "--json")
    assert p.returncode == 0, p.out
    assert REDIS_PASSWORD not in p.out and quote_pw(REDIS_PASSWORD) not in p.out
    st = json.loads(p.stdout.strip().splitlines()[-1])[NODE]
    # Celery's key order: info(), pool, consumer (broker, prefetch), rusage
    assert list(st)[:4] == ["total", "pid", "clock", "uptime"], list(st)
    for k in ("pool", "broker", "prefetch_count", "rusage"):
        assert k in st, (k, st)
    assert st["pid"] == w.proc.pid
    assert isinstance(st["clock"], str) and int(st["clock"]) > 0  # str(app.clock)
    assert isinstance(st["uptime"], int) and 0 <= st["uptime"] < 120
    assert st["total"].get("tryon.test.echo") == 1, st["total"]
    pool = st["pool"]
    assert pool["max-concurrency"] == 3 and isinstance(pool["processes"], list)
    assert "max-tasks-per-child" in pool and len(pool["timeouts"]) == 2
    b = st["broker"]
    assert b["hostname"] == "127.0.0.1" and b["port"] == r.port and b["transport"] == "redis"
    assert b["virtual_host"] == "4" and "password" not in b
    assert isinstance(st["prefetch_count"], int) and st["prefetch_count"] >= 3
    ru = st["rusage"]
    for k in ("utime", "stime", "maxrss", "minflt", "majflt", "nvcsw", "nivcsw"):
        assert k in ru, (k, ru)
    assert ru["maxrss"] > 0
    # The human form works too.
    p = cli(s, r, "inspect", "stats", "-d", NODE)
    assert p.returncode == 0 and '"max-concurrency": 3' in p.out, p.out


@time_limit(90)
def test_revoke_queued_task_is_not_run_and_stored_revoked(s):
    from celery.exceptions import TaskRevokedError
    r, env, app = setup(s, TRYON_CONCURRENCY=1)
    w = Worker(s, env)
    wait_control_ready(app)
    blocker = app.send_task("tryon.test.sleep", args=[3], queue="tryon_queue")
    wait_for(lambda: started(w, blocker.id), 10, "the only slot to be busy")
    victim = app.send_task("tryon.test.echo", args=["never"], queue="tryon_queue")
    after = app.send_task("tryon.test.echo", args=["after"], queue="tryon_queue")
    p = cli(s, r, "control", "revoke", victim.id, "-d", NODE)
    assert p.returncode == 0, p.out
    assert f"tasks {victim.id} flagged as revoked" in p.out, p.out
    assert blocker.get(timeout=20) == 3
    assert after.get(timeout=20) == ["after"]
    try:
        victim.get(timeout=10)
        raise AssertionError("the revoked task ran")
    except TaskRevokedError:
        pass
    m = meta(r, victim.id)
    assert m["status"] == "REVOKED", m
    assert m["result"] == {"exc_type": "TaskRevokedError", "exc_message": ["revoked"],
                           "exc_module": "celery.exceptions"}, m
    assert not started(w, victim.id)
    c = r.client(4)
    wait_for(lambda: c.llen("tryon_queue") == 0 and c.hlen("unacked") == 0, 10,
             "the revoked message to be acked")
    # A list of ids in one command (what the CLI sends), with a cast from
    # the Python API as well (no reply expected).
    a = app.send_task("tryon.test.sleep", args=[3], queue="tryon_queue")
    wait_for(lambda: started(w, a.id), 10, "the slot to be busy again")
    v1 = app.send_task("tryon.test.echo", args=[1], queue="tryon_queue")
    v2 = app.send_task("tryon.test.echo", args=[2], queue="tryon_queue")
    v3 = app.send_task("tryon.test.echo", args=[3], queue="tryon_queue")
    p = cli(s, r, "control", "revoke", v1.id, v2.id, "-d", NODE)
    assert f"tasks {v1.id}, {v2.id} flagged as revoked" in p.out, p.out
    app.control.revoke(v3.id)
    time.sleep(0.5)
    assert a.get(timeout=20) == 3
    for v in (v1, v2, v3):
        wait_for(lambda: meta(r, v.id), 10, "the REVOKED meta")
        assert meta(r, v.id)["status"] == "REVOKED" and not started(w, v.id)


@time_limit(60)
def test_revoke_held_eta_task(s):
    import datetime
    from celery.exceptions import TaskRevokedError
    r, env, app = setup(s, TRYON_CONCURRENCY=1)
    w = Worker(s, env)
    wait_control_ready(app)
    eta = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=4)
    held = app.send_task("tryon.test.echo", args=["eta"], queue="tryon_queue", eta=eta)
    wait_for(lambda: r.client(4).hlen("unacked") == 1 and r.client(4).llen("tryon_queue") == 0, 10,
             "the worker to hold the ETA message")
    # Held for its ETA: Celery lists it under `scheduled`, with its eta.
    sched = cli_json(s, r, "inspect", "scheduled", "-d", NODE)[NODE]
    assert [x["request"]["id"] for x in sched] == [held.id], sched
    assert sched[0]["eta"] and sched[0]["request"]["name"] == "tryon.test.echo"
    assert sched[0]["request"]["args"] == ["eta"] and sched[0]["request"]["time_start"] is None
    assert isinstance(cli_json(s, r, "inspect", "reserved", "-d", NODE)[NODE], list)
    p = cli(s, r, "control", "revoke", held.id, "-d", NODE)
    assert f"tasks {held.id} flagged as revoked" in p.out, p.out
    try:
        held.get(timeout=15)
        raise AssertionError("the revoked ETA task ran")
    except TaskRevokedError:
        pass
    assert meta(r, held.id)["result"]["exc_message"] == ["revoked"]
    assert not started(w, held.id)
    wait_for(lambda: r.client(4).hlen("unacked") == 0, 10, "the held message to be acked")


@time_limit(90)
def test_terminate_running_task_stores_revoked_terminated(s):
    from celery.exceptions import TaskRevokedError
    r, env, app = setup(s, TRYON_CONCURRENCY=2)
    w = Worker(s, env)
    wait_control_ready(app)
    # `celery control revoke` has no --terminate in 5.2.6; `terminate` is
    # the CLI form of revoke(terminate=True).
    t = app.send_task("tryon.test.sleep", args=[30], queue="tryon_queue")
    wait_for(lambda: started(w, t.id), 10, "the long task to start")
    t0 = time.monotonic()
    p = cli(s, r, "control", "terminate", "SIGTERM", t.id, "-d", NODE)
    assert p.returncode == 0, p.out
    assert f"terminate: {t.id}" in p.out, p.out
    try:
        t.get(timeout=10)
        raise AssertionError("not terminated")
    except TaskRevokedError as e:
        assert "terminated" in str(e)
    assert time.monotonic() - t0 < 10
    m = meta(r, t.id)
    assert m["status"] == "REVOKED" and m["result"]["exc_message"] == ["terminated"], m
    assert m["result"]["exc_type"] == "TaskRevokedError"
    # The Python API form, with SIGKILL, as a call with a reply.
    t2 = app.send_task("tryon.test.sleep", args=[30], queue="tryon_queue")
    wait_for(lambda: started(w, t2.id), 10, "the second long task to start")
    rep = app.control.revoke(t2.id, terminate=True, signal="SIGKILL", reply=True,
                             destination=[NODE], timeout=2)
    assert rep == [{NODE: {"ok": f"terminate: {t2.id}"}}], rep
    wait_for(lambda: meta(r, t2.id), 10, "the REVOKED meta")
    assert meta(r, t2.id)["result"]["exc_message"] == ["terminated"]
    # Terminating an id nobody runs: Celery's text; a bad signal name:
    # Celery's error, and nothing is killed.
    p = cli(s, r, "control", "terminate", "SIGTERM", "no-such-id", "-d", NODE)
    assert "terminate: tasks unknown" in p.out, p.out
    rep = app.control.revoke("x", terminate=True, signal="kill", reply=True,
                             destination=[NODE], timeout=2)
    assert rep == [{NODE: {"error": "TypeError('signal name must be uppercase string.')"}}], rep
    assert w.proc.alive()
    c = r.client(4)
    wait_for(lambda: c.hlen("unacked") == 0, 10, "nothing left unacked")


def test_unknown_method_gets_keyerror_reply_and_mingle_hello(s):
    r, env, app = setup(s)
    w = Worker(s, env)
    wait_control_ready(app)
    rep = app.control.broadcast("no_such_cmd", reply=True, destination=[NODE], timeout=2)
    assert rep == [{NODE: {"error": "KeyError('no_such_cmd')"}}], rep
    # A Celery command we do not implement answers with an error, not silence.
    rep = app.control.broadcast("rate_limit", arguments={"task_name": "x", "rate_limit": "1/s"},
                                reply=True, destination=[NODE], timeout=2)
    assert len(rep) == 1 and "error" in rep[0][NODE], rep
    # Missing arguments: Python's TypeError text.
    rep = app.control.broadcast("revoke", arguments={}, reply=True, destination=[NODE], timeout=2)
    assert rep == [{NODE: {"error": "TypeError(\"revoke() missing 1 required positional "
                                    "argument: 'task_id'\")"}}], rep
    # A starting Python worker's mingle: hello is answered with our revoked
    # ids and our clock.
    app.control.revoke("some-revoked-id")
    time.sleep(0.3)
    hello = app.control.inspect(destination=[NODE], timeout=2).hello("py@elsewhere", {})
    assert set(hello[NODE]) == {"revoked", "clock"} and "some-revoked-id" in hello[NODE]["revoked"]
    assert isinstance(hello[NODE]["clock"], int)
    assert app.control.inspect(destination=[NODE], timeout=1).clock()[NODE]["clock"] > 0
    assert w.proc.alive()


def test_addressing_destination_pattern_and_mixed_fleet(s):
    r, env, app = setup(s)
    Worker(s, env)
    wait_control_ready(app)
    # Another node's name: we stay silent; the CLI exits 69 like with Python.
    p = cli(s, r, "inspect", "ping", "-d", "nobody@nowhere")
    assert p.returncode == 69 and "No nodes replied" in p.out, p.out
    assert app.control.broadcast("ping", reply=True, pattern="tryon-d@*", matcher="glob",
                                 timeout=1) == [{NODE: {"ok": "pong"}}]
    assert app.control.broadcast("ping", reply=True, pattern="other*", matcher="glob",
                                 timeout=1) == []
    # A Python worker on the same broker: both answer one ping.
    pw = PythonWorker(s, r.url(4), r.url(5), name="py-d@itest")
    wait_for(lambda: len(app.control.inspect(timeout=1).ping() or {}) == 2, 15,
             "both nodes to answer")
    p = cli(s, r, "inspect", "ping", "--timeout", "2")
    assert p.returncode == 0 and NODE in p.out and "py-d@itest" in p.out and "2 nodes online" in p.out, p.out
    pw.stop()


def test_replies_to_a_client_that_gave_up_leave_nothing_behind(s):
    """kombu resolves the reply list through the client's binding; once the
    client has removed it (timed out), the reply is dropped, so no list is
    left in Redis without a TTL."""
    import base64
    r, env, app = setup(s)
    Worker(s, env)
    wait_control_ready(app)
    c = r.client(4)
    oid = str(uuid.uuid4())
    body = {"method": "ping", "arguments": {}, "destination": None, "pattern": None,
            "matcher": None, "ticket": str(uuid.uuid4()),
            "reply_to": {"exchange": "reply.celery.pidbox", "routing_key": oid}}
    env_ = {"body": base64.b64encode(json.dumps(body).encode()).decode(),
            "content-encoding": "utf-8", "content-type": "application/json",
            "headers": {"clock": 1, "expires": time.time() + 1},
            "properties": {"delivery_mode": 2, "delivery_info": {"exchange": "celery.pidbox",
                                                                 "routing_key": ""},
                           "priority": 0, "body_encoding": "base64",
                           "delivery_tag": str(uuid.uuid4())}}
    assert c.publish("/4.celery.pidbox", json.dumps(env_)) >= 1
    time.sleep(1.0)
    assert not c.exists(f"{oid}.reply.celery.pidbox")
    # With the binding in place (a live client) the same request is answered.
    member = f"{oid}\x06\x16\x06\x16{oid}.reply.celery.pidbox"
    c.sadd("_kombu.binding.reply.celery.pidbox", member)
    c.publish("/4.celery.pidbox", json.dumps(env_))
    got = c.brpop([f"{oid}.reply.celery.pidbox"], timeout=2)
    assert got, "no reply"
    reply = json.loads(got[1])
    assert reply["headers"]["ticket"] == body["ticket"] and isinstance(reply["headers"]["clock"], int)
    assert reply["properties"]["delivery_info"] == {"exchange": "reply.celery.pidbox",
                                                    "routing_key": oid}
    assert json.loads(base64.b64decode(reply["body"])) == {NODE: {"ok": "pong"}}
    c.srem("_kombu.binding.reply.celery.pidbox", member)


@time_limit(60)
def test_shutdown_via_remote_control(s):
    r, env, app = setup(s, TRYON_CONCURRENCY=2)
    ev = Events(app)
    w = Worker(s, env)
    wait_control_ready(app)
    t = app.send_task("tryon.test.sleep", args=[2], queue="tryon_queue")
    wait_for(lambda: started(w, t.id), 10, "the task to start")
    p = cli(s, r, "control", "shutdown", "-d", NODE)
    # A Python worker raises WorkerShutdown (a SystemExit) before replying:
    # the CLI hears nothing and exits 69. Ours behaves the same.
    assert p.returncode == 69 and "No nodes replied" in p.out, p.out
    # Warm shutdown: the running task finishes, then the process exits 0.
    assert w.proc.wait(30) == 0
    assert t.get(timeout=5) == 2
    ev.wait("worker-offline", hostname=NODE)
    ev.stop()


# -- events --------------------------------------------------------------

@time_limit(60)
def test_worker_events_online_heartbeat_offline(s):
    r, env, app = setup(s)
    ev = Events(app)
    w = Worker(s, env)
    on = ev.wait("worker-online", hostname=NODE)[0]
    assert on["pid"] == w.proc.pid and on["freq"] == 2.0 and on["sw_sys"] == "Linux"
    for k in ("utcoffset", "clock", "active", "processed", "loadavg", "sw_ident", "sw_ver",
              "timestamp"):
        assert k in on, (k, on)
    assert len(on["loadavg"]) == 3 and abs(on["timestamp"] - time.time()) < 10
    # Heartbeats every 2 s.
    wait_for(lambda: len(ev.of("worker-heartbeat", hostname=NODE)) >= 3, 10, "3 heartbeats")
    hb = ev.of("worker-heartbeat", hostname=NODE)
    gaps = [b["timestamp"] - a["timestamp"] for a, b in zip(hb, hb[1:])]
    assert all(1.5 <= g <= 2.6 for g in gaps), gaps
    assert all(h["freq"] == 2.0 for h in hb)
    clocks = [e["clock"] for e in [on] + hb]
    assert clocks == sorted(clocks) and len(set(clocks)) == len(clocks), clocks
    # Monitors (events.State, as Flower) see the node alive.
    state = app.events.State()
    for e in list(ev.events):
        state.event(e)
    assert state.workers[NODE].alive
    # No task events without TRYON_TASK_EVENTS.
    assert app.send_task("tryon.test.echo", args=[1], queue="tryon_queue").get(timeout=10) == [1]
    time.sleep(0.5)
    assert not [e for e in ev.events if e.get("type", "").startswith("task-")]
    wait_for(lambda: any(h["processed"] >= 1 for h in ev.of("worker-heartbeat", hostname=NODE)),
             6, "processed to count the task")
    w.stop()
    off = ev.wait("worker-offline", hostname=NODE)[0]
    assert off["pid"] == w.proc.pid
    ev.stop()


@time_limit(60)
def test_task_events_when_enabled(s):
    r, env, app = setup(s, TRYON_TASK_EVENTS=1, TRYON_MAX_RETRIES=0)
    ev = Events(app)
    w = Worker(s, env)
    wait_control_ready(app)
    ok = app.send_task("tryon.test.echo", args=["x"], queue="tryon_queue")
    assert ok.get(timeout=10) == ["x"]
    rec = ev.wait("task-received", uuid=ok.id)[0]
    assert rec["name"] == "tryon.test.echo" and rec["hostname"] == NODE
    assert isinstance(rec["args"], str) and "x" in rec["args"] and isinstance(rec["kwargs"], str)
    assert rec["retries"] == 0 and rec["root_id"] == ok.id and rec["eta"] is None
    ev.wait("task-started", uuid=ok.id)
    suc = ev.wait("task-succeeded", uuid=ok.id)[0]
    assert isinstance(suc["result"], str) and "x" in suc["result"]
    assert isinstance(suc["runtime"], float) and 0 <= suc["runtime"] < 10
    assert rec["clock"] < suc["clock"] and suc["pid"] == w.proc.pid
    bad = app.send_task("tryon.test.fail", args=["boom"], queue="tryon_queue")
    fail = ev.wait("task-failed", uuid=bad.id)[0]
    assert "RuntimeError" in fail["exception"] and "boom" in fail["exception"], fail
    assert isinstance(fail["traceback"], str)
    long_ = app.send_task("tryon.test.sleep", args=[30], queue="tryon_queue")
    ev.wait("task-started", uuid=long_.id)
    app.control.revoke(long_.id, terminate=True)
    rv = ev.wait("task-revoked", uuid=long_.id)[0]
    assert rv["terminated"] is True and rv["signum"] == signal.SIGTERM and rv["expired"] is False
    # events.State (Flower's model) follows the tasks.
    state = app.events.State()
    for e in list(ev.events):
        state.event(e)
    assert state.tasks[ok.id].state == "SUCCESS" and state.tasks[ok.id].worker.hostname == NODE
    assert state.tasks[bad.id].state == "FAILURE"
    assert state.tasks[long_.id].state == "REVOKED"
    ev.stop()


@time_limit(60)
def test_enable_and_disable_events_by_control_command(s):
    r, env, app = setup(s)
    ev = Events(app)
    Worker(s, env)
    wait_control_ready(app)
    a = app.send_task("tryon.test.echo", args=[1], queue="tryon_queue")
    assert a.get(timeout=10) == [1]
    p = cli(s, r, "control", "enable_events", "-d", NODE)
    assert p.returncode == 0 and "task events enabled" in p.out, p.out
    p = cli(s, r, "control", "enable_events", "-d", NODE)
    assert "task events already enabled" in p.out, p.out
    b = app.send_task("tryon.test.echo", args=[2], queue="tryon_queue")
    assert b.get(timeout=10) == [2]
    ev.wait("task-succeeded", uuid=b.id)
    assert not ev.of("task-succeeded", uuid=a.id)
    p = cli(s, r, "control", "disable_events", "-d", NODE)
    assert "task events disabled" in p.out, p.out
    c = app.send_task("tryon.test.echo", args=[3], queue="tryon_queue")
    assert c.get(timeout=10) == [3]
    time.sleep(0.5)
    assert not ev.of("task-received", uuid=c.id)
    # Worker events go on regardless.
    n = len(ev.of("worker-heartbeat", hostname=NODE))
    wait_for(lambda: len(ev.of("worker-heartbeat", hostname=NODE)) > n, 5, "another heartbeat")
    ev.stop()


@time_limit(60)
def test_celery_events_dump_sees_node_and_tasks(s):
    r, env, app = setup(s, TRYON_TASK_EVENTS=1)
    Worker(s, env)
    wait_control_ready(app)
    dump = s.start("celery-events", [PYTHON, "-m", "celery", "-b", r.url(4), "events", "--dump"],
                   env={"PATH": "/usr/bin:/bin", "HOME": s.tmp, "PYTHONUNBUFFERED": "1"})
    wait_for(lambda: "starting capture" in dump.stdout_text() + dump.stderr_text(), 15,
             "celery events to start")
    # The dumper's wakeup (a `heartbeat` cast) asks for a heartbeat now,
    # and the regular ones follow every 2 s.
    wait_for(lambda: f"{NODE} [" in dump.stdout_text() and "heartbeat:" in dump.stdout_text(), 6,
             "our heartbeat in the dump")
    t = app.send_task("tryon.test.echo", args=["dumped"], queue="tryon_queue")
    assert t.get(timeout=10) == ["dumped"]
    wait_for(lambda: "task succeeded" in dump.stdout_text(), 10, "task events in the dump")
    out = dump.stdout_text()
    assert "task received" in out and "task started" in out and t.id in out, out[-2000:]
    assert "sw_ident=tryon-worker" in out, out[-2000:]
    # Stopped by PID (SIGTERM, then SIGKILL if need be): how the CLI exits
    # on SIGINT is not what this test is about (it once took over 10 s).
    dump.stop()
