"""Issue 3: a Celery-compatible worker on Redis, proven with the real Python
Celery client and worker (Debian python3-celery 5.2.6)."""
import base64
import json
import random
import time
import uuid

from itest import (PythonWorker, Worker, all_task_ids_in_redis, celery_app, time_limit, wait_for,
                   worker_env)


def fresh(s, r, broker_db, result_db):
    for db in (broker_db, result_db):
        r.client(db).flushdb()
    return worker_env(s, r, broker_db=broker_db, result_db=result_db)


def test_health_check_from_python_client(s):
    r = s.redis()
    env = fresh(s, r, 4, 5)
    Worker(s, env)
    app = celery_app(r.url(4), r.url(5))
    res = app.send_task("app.tasks.health_check", queue="tryon_queue").get(timeout=10)
    assert res["status"] in ("ok", "degraded"), res
    for k in ("hostname", "version", "uptime", "slots_busy", "slots_total", "broker_reachable",
              "result_backend_reachable", "cache_reachable"):
        assert k in res, (k, res)
    assert res["broker_reachable"] is True and res["result_backend_reachable"] is True
    assert res["slots_total"] == 4 and res["slots_busy"] >= 1
    # Results land in the result backend's DB, not the broker's.
    assert r.client(5).keys("celery-task-meta-*") and not r.client(4).keys("celery-task-meta-*")


def test_unknown_task_raises_not_registered(s):
    from celery.exceptions import NotRegistered
    r = s.redis()
    env = fresh(s, r, 4, 5)
    w = Worker(s, env)
    app = celery_app(r.url(4), r.url(5))
    try:
        app.send_task("app.tasks.no_such_task", queue="tryon_queue").get(timeout=10)
        raise AssertionError("no exception")
    except NotRegistered as e:
        assert "app.tasks.no_such_task" in str(e)
    assert r.client(4).hlen("unacked") == 0
    assert "event=task.unknown" in w.log()


def test_bad_messages_are_dead_lettered_and_worker_keeps_serving(s):
    r = s.redis()
    env = fresh(s, r, 4, 5)
    w = Worker(s, env)
    c = r.client(4)
    tid = str(uuid.uuid4())
    pickle_msg = json.dumps({"body": base64.b64encode(b"\x80\x04N.").decode(), "content-encoding": "binary",
                             "content-type": "application/x-python-serialize",
                             "headers": {"task": "app.tasks.health_check", "id": tid, "lang": "py"},
                             "properties": {"delivery_tag": str(uuid.uuid4()), "body_encoding": "base64",
                                            "delivery_info": {"exchange": "", "routing_key": "tryon_queue"},
                                            "priority": 0}})
    bad_b64 = json.dumps({"body": "!!!not base64", "content-type": "application/json",
                          "content-encoding": "utf-8",
                          "headers": {"task": "app.tasks.health_check", "id": str(uuid.uuid4())},
                          "properties": {"delivery_tag": str(uuid.uuid4()), "body_encoding": "base64",
                                         "delivery_info": {"exchange": "", "routing_key": "tryon_queue"}}})
    for raw in (b"this is not json", b"\xff\xfe binary", pickle_msg.encode(), bad_b64.encode(), b"{}"):
        c.lpush("tryon_queue", raw)
    wait_for(lambda: c.llen("tryon-worker.dead") == 5, 10, "5 dead letters")
    records = [json.loads(x) for x in c.lrange("tryon-worker.dead", 0, -1)]
    for rec in records:
        assert set(rec) == {"reason", "queue", "received_at", "message"}, rec
        assert rec["queue"] == "tryon_queue" and rec["reason"], rec
    messages = {rec["message"].encode("utf-8", "surrogateescape") for rec in records}
    assert b"this is not json" in messages and pickle_msg.encode() in messages
    # The pickle message's id was readable: get() fails instead of hanging.
    app = celery_app(r.url(4), r.url(5))
    res = app.AsyncResult(tid)
    try:
        res.get(timeout=5)
        raise AssertionError("no exception")
    except Exception as e:  # noqa: BLE001 - kombu.exceptions.ContentDisallowed
        assert type(e).__name__ == "ContentDisallowed", repr(e)
    # Nothing left in flight, and the worker still serves.
    assert c.hlen("unacked") == 0 and c.llen("tryon_queue") == 0
    assert app.send_task("tryon.test.echo", args=[7], queue="tryon_queue").get(timeout=10) == [7]
    assert w.log().count("event=message.dead_lettered") == 5


def test_priorities_and_protocol_1(s):
    r = s.redis()
    env = fresh(s, r, 4, 5)
    app = celery_app(r.url(4), r.url(5))
    # Publish before the worker starts, so the lists really hold them.
    a = app.send_task("tryon.test.echo", args=["p0"], queue="tryon_queue", priority=0)
    b = app.send_task("tryon.test.echo", args=["p9"], queue="tryon_queue", priority=9)
    app1 = celery_app(r.url(4), r.url(5), task_protocol=1)
    c1 = app1.send_task("tryon.test.echo", args=["v1"], queue="tryon_queue")
    cl = r.client(4)
    assert cl.llen("tryon_queue\x06\x169") == 1 and cl.llen("tryon_queue") == 2
    raw_v1 = json.loads(cl.lindex("tryon_queue", 0))
    assert raw_v1["headers"] == {} or "task" not in raw_v1["headers"]
    Worker(s, env)
    assert a.get(timeout=10) == ["p0"]
    assert b.get(timeout=10) == ["p9"]
    assert c1.get(timeout=10) == ["v1"]


def test_unacked_entries_byte_compatible_with_kombu(s):
    """The same message held by a Python worker and by tryon-worker leaves
    identical `unacked` values and the same shape of `unacked_index`."""
    r = s.redis()
    fresh(s, r, 4, 5)
    c = r.client(4)
    app = celery_app(r.url(4), r.url(5))
    sent = app.send_task("tryon.test.sleep", args=[3], queue="tryon_queue")
    raw = c.lindex("tryon_queue", 0)
    tag = json.loads(raw)["properties"]["delivery_tag"]
    py = PythonWorker(s, r.url(4), r.url(5), concurrency=1)
    wait_for(lambda: c.hget("unacked", tag), 10, "the Python worker's unacked entry")
    py_value = c.hget("unacked", tag)
    py_score = c.zscore("unacked_index", tag)
    sent.get(timeout=15)
    wait_for(lambda: c.hlen("unacked") == 0, 10, "the Python worker's ack")
    py.stop()
    # Same bytes again, now to tryon-worker.
    c.lpush("tryon_queue", raw)
    w = Worker(s, worker_env(s, r))
    wait_for(lambda: c.hget("unacked", tag), 10, "tryon-worker's unacked entry")
    ours = c.hget("unacked", tag)
    score = c.zscore("unacked_index", tag)
    assert ours == py_value, (ours[:200], py_value[:200])
    assert isinstance(score, float) and abs(score - time.time()) < 10 and py_score > 0
    wait_for(lambda: c.hlen("unacked") == 0, 15, "the ack")
    assert c.zcard("unacked_index") == 0
    assert "event=task.succeeded" in w.log()


def test_submit_runs_on_python_worker_and_waits(s):
    r = s.redis()
    env = fresh(s, r, 4, 5)
    PythonWorker(s, r.url(4), r.url(5))
    res = s.run(["submit", "https://example.com/p.png", "https://example.com/g.png", "--wait", "20"], env=env)
    lines = res.out.strip().splitlines()
    assert res.returncode == 0, (res.out, res.err)
    tid = lines[0]
    assert str(uuid.UUID(tid)) == tid
    assert lines[1] == f"https://fal.media/files/python-standin/{tid}.png", lines
    # The Python worker recorded the execution under the same id.
    assert r.client(4).lrange("py_exec", 0, -1) == [tid.encode()]
    # call + timeout: a task nobody consumes.
    res = s.run(["call", "app.tasks.health_check", "--queue", "nobody_here", "--wait", "1"], env=env)
    assert res.returncode == 3, (res.returncode, res.err)
    res = s.run(["submit", "only-one-arg"], env=env)
    assert res.returncode == 2 and "usage" in res.err


@time_limit(180)
def test_python_and_tryon_workers_share_a_stream(s):
    r = s.redis()
    env = fresh(s, r, 4, 5)
    c = r.client(4)
    w = Worker(s, env)
    PythonWorker(s, r.url(4), r.url(5), concurrency=2)
    app = celery_app(r.url(4), r.url(5))
    results = [app.send_task("tryon.test.echo", args=[i], queue="tryon_queue") for i in range(300)]
    for i, res in enumerate(results):
        assert res.get(timeout=60) == [i]
    ids = {res.id for res in results}
    py_ids = [x.decode() for x in c.lrange("py_exec", 0, -1)]
    ours = [l.split(" id=")[1].split()[0] for l in w.log().splitlines() if "event=task.started" in l]
    assert len(py_ids) == len(set(py_ids)) and len(ours) == len(set(ours))
    assert not set(py_ids) & set(ours), "a task ran on both workers"
    assert set(py_ids) | set(ours) == ids
    assert py_ids and ours, (len(py_ids), len(ours))
    assert c.hlen("unacked") == 0


@time_limit(300)
def test_sigkill_during_1000_tasks_loses_nothing(s):
    """SIGKILL the worker at random moments during a stream of 1,000 tasks:
    every task id is accounted for exactly once across queues, unacked, our
    in-flight lists and stored results."""
    r = s.redis()
    env = fresh(s, r, 4, 5)
    c4, c5 = r.client(4), r.client(5)
    app = celery_app(r.url(4), r.url(5))
    rnd = random.Random(1234)
    ids = []
    w = Worker(s, env)
    kills = 0
    for batch in range(10):
        ids += [app.send_task("tryon.test.echo", args=[batch, i], queue="tryon_queue").id for i in range(100)]
        time.sleep(rnd.uniform(0.05, 0.3))
        w.proc.kill()
        kills += 1
        w = Worker(s, env)
    # Let the last worker drain everything it can.
    def all_done():
        return len(c5.keys("celery-task-meta-*")) >= len(ids) or None
    wait_for(all_done, 120, "all results")
    w.stop()
    found = all_task_ids_in_redis(c4)
    stored = {k.decode()[len("celery-task-meta-"):] for k in c5.keys("celery-task-meta-*")}
    seen = {}
    for where, lst in found.items():
        for tid in lst:
            seen.setdefault(tid, []).append(where)
    for tid in stored:
        seen.setdefault(tid, []).append("result")
    missing = [t for t in ids if t not in seen]
    twice = {t: v for t, v in seen.items() if len(v) > 1}
    assert not missing, f"{len(missing)} task ids vanished"
    assert not twice, f"accounted more than once: {list(twice.items())[:5]}"
    assert set(seen) == set(ids)
    for tid in ids[:50]:
        meta = json.loads(c5.get(f"celery-task-meta-{tid}"))
        assert meta["status"] == "SUCCESS", meta
    print(f"    {kills} SIGKILLs, {len(ids)} tasks, all accounted once")
