"""Issue 11 items 1 and 2: the rest of Celery's remote control, proven with
the real Debian python3-celery 5.2.6 CLI and client against our node, side
by side with a real Python worker on the same broker answering the same
command: inspect active_queues / conf / report / stats / active, control
pool_grow / pool_shrink / autoscale / add_consumer / cancel_consumer /
rate_limit / time_limit / pool_restart. Every reply is compared field by
field with the Python worker's; then the command must have done what it
says to the tasks that run."""
import json
import os
import subprocess
import time

from itest import (PYAPP, PYTHON, REDIS_PASSWORD, Worker, celery_app, quote_pw, time_limit,
                   wait_for, worker_env)

NODE = "tryon-d2@itest"
PY = "py-d2@itest"
PY_QUEUE = "py_d2_q"   # the Python worker's own queue: our tasks never go there


def setup(s, **extra):
    r = s.redis()
    r.client(4).flushdb()
    r.client(5).flushdb()
    env = worker_env(s, r, TRYON_HOSTNAME=NODE, **extra)
    return r, env, celery_app(r.url(4), r.url(5))


def py_worker(s, r, autoscale=None):
    """A real Python worker (tests/integration/pyapp) on our broker, with a
    queue of its own so the tasks a test sends to ours stay ours."""
    env = {"PATH": "/usr/bin:/bin", "CELERY_BROKER_URL": r.url(4), "CELERY_RESULT_BACKEND": r.url(5),
           "PYTHONPATH": PYAPP, "HOME": s.tmp}
    args = [PYTHON, "-m", "celery", "-A", "app.tasks", "worker", "-Q", PY_QUEUE, "-n", PY,
            "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "info"]
    args += ["--autoscale", autoscale] if autoscale else ["-c", "2"]
    p = s.start("pyworker", args, env=env, cwd=PYAPP)
    wait_for(lambda: "ready." in p.stderr_text() or not p.alive(), 30, "the Python worker to be ready")
    assert p.alive(), p.stderr_text()[-3000:]
    return p


def cli(s, r, *args, timeout=30):
    env = {"PATH": "/usr/bin:/bin", "HOME": s.tmp, "PYTHONUNBUFFERED": "1"}
    p = subprocess.run([PYTHON, "-m", "celery", "-b", r.url(4)] + list(args), env=env,
                       capture_output=True, text=True, timeout=timeout)
    s.record("celery-cli", p.stdout + "\n" + p.stderr)
    p.out = p.stdout + p.stderr
    return p


def both(s, r, kind, *args):
    """`celery inspect|control <args> -d ours,python --json`: one command to
    both nodes; returns (our reply, the Python worker's reply)."""
    p = cli(s, r, kind, *args, "-d", f"{NODE},{PY}", "--json", "--timeout", "3")
    assert p.returncode == 0, p.out
    got = json.loads(p.stdout.strip().splitlines()[-1])
    if isinstance(got, list):   # control: [{node: reply}, ...]; inspect: {node: reply}
        got = {k: v for d in got for k, v in d.items()}
    assert set(got) == {NODE, PY}, got
    return got[NODE], got[PY]


def ours(s, r, kind, *args):
    p = cli(s, r, kind, *args, "-d", NODE, "--json", "--timeout", "3")
    assert p.returncode == 0, p.out
    got = json.loads(p.stdout.strip().splitlines()[-1])
    if isinstance(got, list):
        got = {k: v for d in got for k, v in d.items()}
    return got[NODE]


def shape(v):
    """The type tree of a JSON value (dict keys in order, list items)."""
    if isinstance(v, dict):
        return {k: shape(x) for k, x in v.items()}
    if isinstance(v, list):
        return [shape(x) for x in v]
    return type(v).__name__


def wait_both(app):
    wait_for(lambda: len(app.control.inspect(destination=[NODE, PY], timeout=0.5).ping() or {}) == 2,
             15, "both nodes to answer ping")


def started(w, task_id):
    return f"id={task_id}" in "\n".join(l for l in w.log().splitlines() if "event=task.started" in l)


def meta(r, task_id):
    raw = r.client(5).get(f"celery-task-meta-{task_id}")
    return json.loads(raw) if raw else None


# -- inspect ---------------------------------------------------------------

@time_limit(90)
def test_inspect_active_queues_conf_report_like_python(s):
    r, env, app = setup(s)
    Worker(s, env)
    py_worker(s, r)
    wait_both(app)
    # active_queues: kombu's Queue.as_dict(recurse=True), value for value.
    mine, theirs = both(s, r, "inspect", "active_queues")
    assert [q["name"] for q in mine] == ["tryon_queue"] and [q["name"] for q in theirs] == [PY_QUEUE]
    want = json.loads(json.dumps(theirs).replace(PY_QUEUE, "tryon_queue"))
    assert mine == want, (mine, want)
    assert list(mine[0]) == list(theirs[0]) and list(mine[0]["exchange"]) == list(theirs[0]["exchange"])
    # conf: the settings both workers have are equal (the URLs masked the
    # same way: same broker, same result backend); ours has its limits too.
    p = cli(s, r, "inspect", "conf", "-d", f"{NODE},{PY}", "--json", "--timeout", "3")
    assert REDIS_PASSWORD not in p.out and quote_pw(REDIS_PASSWORD) not in p.out
    mine, theirs = both(s, r, "inspect", "conf")
    assert theirs["broker_url"] == f"redis://:********@127.0.0.1:{r.port}/4", theirs
    common = [k for k in theirs if k in mine]
    assert set(theirs) - set(common) <= {"deprecated_settings", "include"}, (theirs, mine)
    for k in common:
        assert mine[k] == theirs[k], (k, mine[k], theirs[k])
    assert [k for k in mine if k in theirs] == common   # in Celery's order
    assert mine["worker_concurrency"] == 4 and mine["task_soft_time_limit"] == 25
    assert mine["task_time_limit"] == 30
    assert mine["broker_transport_options"] == {"visibility_timeout": 3600}
    assert mine["task_acks_late"] is True and mine["worker_prefetch_multiplier"] == 1
    # report: Celery's bugreport() layout, line for line, naming us.
    mine, theirs = both(s, r, "inspect", "report")
    assert set(mine) == set(theirs) == {"ok"}
    ml, tl = mine["ok"].split("\n"), theirs["ok"].split("\n")
    heads = ["", "software -> ", "            ", "platform -> system:", "            kernel version:",
             "loader   -> ", "settings -> transport:redis results:", ""]
    for i, h in enumerate(heads):
        assert ml[i].startswith(h) and tl[i].startswith(h), (i, ml[i], tl[i])
    assert ml[1].startswith("software -> tryon-worker:") and "libcurl:" in ml[2]
    assert ml[3] == tl[3]                                        # system, arch
    assert ml[4].startswith(f"            kernel version:{os.uname().release} imp:")
    assert ml[6] == tl[6] == f"settings -> transport:redis results:redis://:**@127.0.0.1:{r.port}/5"
    # the settings part (app.conf.humanize()): each of Python's lines for a
    # setting we share is the same text in ours
    shared = [l for l in tl[8:] if l.split(":")[0] in common]
    assert len(shared) == len(common) >= 10, (shared, common)
    for line in shared:
        assert line in ml, (line, ml)
    assert "broker_transport_options: {" in ml and " 'visibility_timeout': 3600}" in ml
    assert REDIS_PASSWORD not in mine["ok"] and quote_pw(REDIS_PASSWORD) not in mine["ok"]
    # The human forms work as well.
    for cmd in ("active_queues", "conf", "report"):
        p = cli(s, r, "inspect", cmd, "-d", NODE)
        assert p.returncode == 0 and f"{NODE}: OK" in p.out, p.out
    p = cli(s, r, "inspect", "report", "-d", NODE)
    assert "software -> tryon-worker:" in p.out, p.out


@time_limit(90)
def test_inspect_stats_and_active_like_python(s):
    r, env, app = setup(s)
    w = Worker(s, env)
    py_worker(s, r)
    wait_both(app)
    mine, theirs = both(s, r, "inspect", "stats")
    # Celery's keys in Celery's order; every key of ours is one of theirs
    # (the pool's implementation name aside, as later Celery versions send)
    assert list(mine) == list(theirs), (list(mine), list(theirs))
    for part in ("pool", "broker", "rusage"):
        extra = [k for k in mine[part] if k not in theirs[part]]
        assert extra in ([], ["implementation"]), (part, extra)
    for k in ("total", "pid", "clock", "uptime", "prefetch_count"):
        assert type(mine[k]) is type(theirs[k]), k
    # total lists only tasks that ran: none yet, then exactly one echo
    assert mine["total"] == {} == theirs["total"]
    assert app.send_task("tryon.test.echo", args=[1], queue="tryon_queue").get(timeout=10) == [1]
    assert ours(s, r, "inspect", "stats")["total"] == {"tryon.test.echo": 1}
    # pool.processes: the live job children; empty when idle
    assert ours(s, r, "inspect", "stats")["pool"]["processes"] == []
    a = app.send_task("tryon.test.sleep", args=[4], queue="tryon_queue")
    b = app.send_task("tryon.test.sleep", args=[4], queue=PY_QUEUE)
    wait_for(lambda: started(w, a.id), 10, "our sleep to start")
    mine, theirs = both(s, r, "inspect", "active")
    if not theirs:
        wait_for(lambda: app.control.inspect(destination=[PY], timeout=1).active().get(PY), 10,
                 "the Python worker's sleep to start")
        mine, theirs = both(s, r, "inspect", "active")
    assert len(mine) == 1 and len(theirs) == 1, (mine, theirs)
    # Request.info(): the same keys, in order, with values of the same types
    assert shape(mine[0]) == shape(theirs[0]), (mine, theirs)
    # acks_late: a running task is not acknowledged yet, in both
    assert mine[0]["acknowledged"] is False and theirs[0]["acknowledged"] is False
    assert {k: v for k, v in mine[0]["delivery_info"].items() if k != "routing_key"} == \
        {k: v for k, v in theirs[0]["delivery_info"].items() if k != "routing_key"}
    procs = ours(s, r, "inspect", "stats")["pool"]["processes"]
    assert procs == [mine[0]["worker_pid"]], (procs, mine)
    assert a.get(timeout=20) == 4 and b.get(timeout=20) == 4
    assert ours(s, r, "inspect", "stats")["total"] == {"tryon.test.echo": 1, "tryon.test.sleep": 1}


# -- the pool ----------------------------------------------------------------

@time_limit(120)
def test_pool_grow_and_shrink(s):
    r, env, app = setup(s, TRYON_CONCURRENCY=4)
    w = Worker(s, env)
    py_worker(s, r)
    wait_both(app)
    mine, theirs = both(s, r, "control", "pool_grow", "2")
    assert mine == theirs == {"ok": "pool will grow"}, (mine, theirs)
    st = ours(s, r, "inspect", "stats")
    assert st["pool"]["max-concurrency"] == 6 and st["prefetch_count"] == 6, st
    # 6 tasks run at once, each in its own child
    sleeps = [app.send_task("tryon.test.sleep", args=[4], queue="tryon_queue") for _ in range(6)]
    wait_for(lambda: sum(started(w, t.id) for t in sleeps) == 6, 10, "6 sleeps running at once")
    active = ours(s, r, "inspect", "active")
    assert len(active) == 6, active
    procs = ours(s, r, "inspect", "stats")["pool"]["processes"]
    assert len(set(procs)) == 6 and sorted(procs) == sorted(a["worker_pid"] for a in active)
    # Shrinking kills nothing: the 6 finish; the new number holds at once.
    mine, theirs = both(s, r, "control", "pool_shrink", "2")
    assert mine == theirs == {"ok": "pool will shrink"}, (mine, theirs)
    assert ours(s, r, "inspect", "stats")["pool"]["max-concurrency"] == 4
    more = [app.send_task("tryon.test.sleep", args=[3], queue="tryon_queue") for _ in range(6)]
    assert [t.get(timeout=30) for t in sleeps] == [4] * 6
    # now 4 run and 2 wait their turn
    wait_for(lambda: sum(started(w, t.id) for t in more) == 4, 10, "4 of the 6 new sleeps to start")
    assert len(ours(s, r, "inspect", "active")) == 4
    assert sum(started(w, t.id) for t in more) == 4
    assert [t.get(timeout=30) for t in more] == [3] * 6
    assert not [l for l in w.log().splitlines() if "outcome=" in l and "outcome=success" not in l]
    # the two replies to what cannot be done
    p = cli(s, r, "control", "pool_shrink", "9", "-d", NODE, "--json")
    err = json.loads(p.stdout.strip().splitlines()[-1])[0][NODE]
    assert list(err) == ["error"] and err["error"].startswith("ValueError(\"Can't shrink pool"), err
    mine, theirs = both(s, r, "control", "pool_restart")
    assert list(mine) == list(theirs) == ["error"], (mine, theirs)
    assert theirs["error"] == "ValueError('Pool restarts not enabled')"
    assert mine["error"].startswith("ValueError('Pool restarts not enabled: "), mine


@time_limit(90)
def test_autoscale_sets_the_slots(s):
    r, env, app = setup(s, TRYON_CONCURRENCY=2)
    w = Worker(s, env)
    py_worker(s, r, autoscale="4,2")   # a Python worker with an autoscaler, as the command needs
    wait_both(app)
    mine, theirs = both(s, r, "control", "autoscale", "3", "1")
    assert mine == theirs == {"ok": "autoscale now max=3 min=1"}, (mine, theirs)
    st = ours(s, r, "inspect", "stats")
    assert st["pool"]["max-concurrency"] == 3 and st["prefetch_count"] == 3, st
    sleeps = [app.send_task("tryon.test.sleep", args=[3], queue="tryon_queue") for _ in range(4)]
    wait_for(lambda: sum(started(w, t.id) for t in sleeps) == 3, 10, "3 sleeps running at once")
    assert len(ours(s, r, "inspect", "active")) == 3
    assert [t.get(timeout=30) for t in sleeps] == [3] * 4
    # without arguments it reports the bounds, as Autoscaler.update(None, None)
    mine = ours(s, r, "control", "autoscale")
    assert mine == {"ok": "autoscale now max=3 min=1"}, mine


# -- queues --------------------------------------------------------------------

@time_limit(120)
def test_add_and_cancel_consumer(s):
    r, env, app = setup(s)
    w = Worker(s, env)
    py_worker(s, r)
    wait_both(app)
    c = r.client(4)
    # The Python worker is told about a queue of its own name, so that it
    # never takes ours; replies are compared with that name swapped.
    p = cli(s, r, "control", "add_consumer", "extra_py", "-d", PY, "--json", "--timeout", "3")
    theirs = json.loads(p.stdout.strip().splitlines()[-1])[0][PY]
    mine = ours(s, r, "control", "add_consumer", "extra_q")
    assert mine == {"ok": "add consumer extra_q"} and theirs == {"ok": "add consumer extra_py"}
    wait_for(lambda: len(app.control.inspect(destination=[PY], timeout=1).active_queues()[PY]) == 2, 10,
             "the Python worker to consume extra_py")
    mq = ours(s, r, "inspect", "active_queues")
    tq = app.control.inspect(destination=[PY], timeout=2).active_queues()[PY]
    assert [q["name"] for q in mq] == ["tryon_queue", "extra_q"], mq
    assert mq[1] == json.loads(json.dumps(tq[1]).replace("extra_py", "extra_q")), (mq[1], tq[1])
    t = app.send_task("tryon.test.echo", args=["extra"], queue="extra_q")
    assert t.get(timeout=10) == ["extra"] and started(w, t.id)
    # kombu's binding, as a Python worker declares the queue
    assert c.sismember("_kombu.binding.extra_q", "extra_q\x06\x16\x06\x16extra_q")
    # priority sub-lists are consumed too
    t = app.send_task("tryon.test.echo", args=["prio"], queue="extra_q", priority=6)
    assert t.get(timeout=10) == ["prio"]
    # A task already running from it finishes after the cancel.
    long_ = app.send_task("tryon.test.sleep", args=[3], queue="extra_q")
    wait_for(lambda: started(w, long_.id), 10, "the extra_q sleep to start")
    p = cli(s, r, "control", "cancel_consumer", "extra_py", "-d", PY, "--json", "--timeout", "3")
    theirs = json.loads(p.stdout.strip().splitlines()[-1])[0][PY]
    mine = ours(s, r, "control", "cancel_consumer", "extra_q")
    assert mine == {"ok": "no longer consuming from extra_q"}
    assert theirs == {"ok": "no longer consuming from extra_py"}
    assert [q["name"] for q in ours(s, r, "inspect", "active_queues")] == ["tryon_queue"]
    left = app.send_task("tryon.test.echo", args=["left"], queue="extra_q")
    assert long_.get(timeout=15) == 3
    # Not consumed any more: the message waits in its queue, untouched,
    # while the worker goes on with tryon_queue.
    assert app.send_task("tryon.test.echo", args=["main"], queue="tryon_queue").get(timeout=10) == ["main"]
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        assert not started(w, left.id) and c.llen("extra_q") == 1
        time.sleep(0.1)
    # Consumed again, it runs.
    assert ours(s, r, "control", "add_consumer", "extra_q") == {"ok": "add consumer extra_q"}
    assert left.get(timeout=10) == ["left"]
    # Missing queue: Python's TypeError, as the Python worker answers it.
    rep = app.control.broadcast("add_consumer", arguments={}, reply=True, destination=[NODE, PY],
                                timeout=2)
    got = {k: v for d in rep for k, v in d.items()}
    assert got[NODE] == got[PY] == {"error": "TypeError(\"add_consumer() missing 1 required "
                                             "positional argument: 'queue'\")"}, got


@time_limit(90)
def test_added_queue_is_measured_in_health_and_metrics(s):
    """Issue 14: the queue lengths behind /metrics, /health and the stall
    check were sampled for TRYON_QUEUES only, so a queue taken on with
    add_consumer had no depth anywhere (and a cancelled one kept counting)."""
    import urllib.request
    from itest import free_port

    def get(path):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return resp.read().decode()

    port = free_port()
    r, env, app = setup(s, TRYON_CONCURRENCY="1", TRYON_HTTP_ADDR=f"127.0.0.1:{port}")
    w = Worker(s, env)
    assert ours(s, r, "control", "add_consumer", "extra_q") == {"ok": "add consumer extra_q"}
    # The one slot is busy, so what is sent to extra_q waits there.
    busy = app.send_task("tryon.test.sleep", args=[8], queue="tryon_queue")
    wait_for(lambda: started(w, busy.id), 10, "the sleep to start")
    for i in range(3):
        app.send_task("tryon.test.echo", args=[i], queue="extra_q")
    wait_for(lambda: json.loads(get("/health"))["queues"].get("extra_q") == 3, 15,
             "/health to show extra_q with 3 waiting")
    assert 'celery_queue_length{queue_name="extra_q"} 3' in get("/metrics")
    assert ours(s, r, "control", "cancel_consumer", "extra_q") == {"ok": "no longer consuming from extra_q"}
    wait_for(lambda: "extra_q" not in json.loads(get("/health"))["queues"], 10,
             "/health to drop the cancelled queue")
    assert busy.get(timeout=20) == 8


# -- limits ----------------------------------------------------------------------

@time_limit(120)
def test_rate_limit_holds_starts_to_the_rate(s):
    r, env, app = setup(s, TRYON_CONCURRENCY=4)
    w = Worker(s, env)
    py_worker(s, r)
    wait_both(app)
    mine, theirs = both(s, r, "control", "rate_limit", "tryon.test.echo", "10/s")
    assert mine == theirs == {"ok": "new rate limit set successfully"}, (mine, theirs)
    t0 = time.monotonic()
    echoes = [app.send_task("tryon.test.echo", args=[i], queue="tryon_queue") for i in range(50)]
    # held, not refused: they wait in the worker (reserved), in order
    wait_for(lambda: ours(s, r, "inspect", "reserved"), 5, "held echoes to show as reserved")
    assert [t.get(timeout=30) for t in echoes] == [[i] for i in range(50)]
    took = time.monotonic() - t0
    assert took >= 4.0, f"50 echoes at 10/s took {took:.2f}s"
    starts = [l for l in w.log().splitlines() if "event=task.started" in l and "tryon.test.echo" in l]
    assert len(starts) == 50
    # Other tasks are not held by it.
    assert app.send_task("tryon.test.sleep", args=[0], queue="tryon_queue").get(timeout=10) == 0
    # "0" lifts it (Celery's reply still says "set": "0" is a non-empty str)
    mine, theirs = both(s, r, "control", "rate_limit", "tryon.test.echo", "0")
    assert mine == theirs == {"ok": "new rate limit set successfully"}, (mine, theirs)
    t0 = time.monotonic()
    echoes = [app.send_task("tryon.test.echo", args=[i], queue="tryon_queue") for i in range(50)]
    assert [t.get(timeout=30) for t in echoes] == [[i] for i in range(50)]
    assert time.monotonic() - t0 < 4.0
    # Celery's other texts, word for word
    for args in (["tryon.test.echo", "abc"], ["tryon.test.echo", "10/x"], ["no.such.task", "1/s"],
                 ["tryon.test.echo", "100/m"], ["tryon.test.echo", "1000/h"]):
        mine, theirs = both(s, r, "control", "rate_limit", *args)
        assert mine == theirs, (args, mine, theirs)
    rep = app.control.rate_limit("tryon.test.echo", 0, reply=True, destination=[NODE, PY], timeout=2)
    got = {k: v for d in rep for k, v in d.items()}
    assert got[NODE] == got[PY] == {"ok": "rate limit disabled successfully"}, got


@time_limit(90)
def test_time_limit_applies_to_the_next_jobs(s):
    r, env, app = setup(s, TRYON_MAX_RETRIES=0)
    Worker(s, env)
    py_worker(s, r)
    wait_both(app)
    mine, theirs = both(s, r, "control", "time_limit", "tryon.test.sleep", "1", "2")
    assert mine == theirs == {"ok": "time limits set successfully"}, (mine, theirs)
    t0 = time.monotonic()
    res = app.send_task("tryon.test.sleep", args=[5], queue="tryon_queue")
    wait_for(lambda: meta(r, res.id), 10, "the sleep's result")
    m = meta(r, res.id)
    assert m["status"] == "FAILURE" and m["result"]["exc_type"] == "SoftTimeLimitExceeded", m
    assert time.monotonic() - t0 < 4
    # A message's own limits come first (Celery's Request.execute_using_pool)
    ok = app.send_task("tryon.test.sleep", args=[3], queue="tryon_queue", soft_time_limit=10,
                       time_limit=20)
    assert ok.get(timeout=20) == 3
    # Other tasks keep the worker's limits.
    assert app.send_task("tryon.test.echo", args=[1], queue="tryon_queue").get(timeout=10) == [1]
    # Given none, both are cleared: the worker's own apply again.
    mine, theirs = both(s, r, "control", "time_limit", "tryon.test.sleep")
    assert mine == theirs == {"ok": "time limits set successfully"}, (mine, theirs)
    assert app.send_task("tryon.test.sleep", args=[3], queue="tryon_queue").get(timeout=20) == 3
    mine, theirs = both(s, r, "control", "time_limit", "no.such.task", "1", "2")
    assert mine == theirs == {"error": "unknown task"}, (mine, theirs)
