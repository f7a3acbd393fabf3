"""Issue 16: the money path. Nothing lost, nothing paid twice, every
fallback inside the soft limit, the cluster-wide limits, all through the
real Python client, the static worker and the HTTPS stand-in, which counts
every accepted (paid) request. Model times are scaled down (primary 1-2 s
where the seed says 10-20 s) with the soft limit scaled alike."""
import os
import random
import re
import signal
import time

from itest import time_limit, wait_for
from tryon_env import BACKUP, PRIMARY, Env, standin_url, urls


def child_pids(w, task_id=None):
    """Job children of worker w that are alive (optionally of one task)."""
    out = []
    for m in re.finditer(r"event=task.started \S+ id=(\S+) pid=(\d+)", w.log()):
        if task_id and m.group(1) != task_id:
            continue
        pid = int(m.group(2))
        try:
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == w.proc.pid:
            out.append(pid)
    return out


def wait_all(results, timeout):
    deadline = time.monotonic() + timeout
    values = []
    for r in results:
        try:
            values.append(r.get(timeout=max(0.1, deadline - time.monotonic())))
        except Exception as e:  # noqa: BLE001 - the task's exception is the value
            values.append(e.with_traceback(None))
    return values


@time_limit(90)
def test_healthy_misses_pay_for_one_request_each(s):
    # The seed's latency shape, time-scaled 1/10: primary 1-2 s, backup
    # 1-1.5 s, soft limit 2.5 s. No faults: not one backup is paid for.
    e = Env(s, TRYON_SOFT_TIME_LIMIT=2.5, TRYON_TIME_LIMIT=3.5, TRYON_CONCURRENCY=20)
    e.st.config(PRIMARY, "ok", delay_range=[1.0, 2.0], seed=16)
    e.st.config(BACKUP, "ok", delay_range=[1.0, 1.5], seed=16)
    res = [e.send(*urls()) for _ in range(40)]
    values = wait_all(res, 60)
    assert all(standin_url(v) for v in values), [v for v in values if not standin_url(v)][:3]
    assert e.accepted(PRIMARY) == 40 and e.accepted(BACKUP) == 0, e.st.stats()["accepted"]


@time_limit(60)
def test_job_killed_after_submit_resumes_its_paid_request(s):
    e = Env(s, TRYON_SOFT_TIME_LIMIT=25, TRYON_TIME_LIMIT=30)
    e.st.config(PRIMARY, "ok", delay=3)
    res = e.send(*urls())
    wait_for(lambda: e.accepted(PRIMARY) == 1, 10, "the primary submit")
    t_submit = time.monotonic()
    w = e.workers[0]
    wait_for(lambda: child_pids(w, res.id), 5, "the job child")
    for pid in child_pids(w, res.id):
        os.kill(pid, signal.SIGKILL)
    v = res.get(timeout=20)
    done = time.monotonic() - t_submit
    assert standin_url(v), v
    # Redelivered at once, took over its own lock, resumed the request.
    assert done < 3 + 2, done
    assert e.accepted() == 1, e.st.stats()["accepted"]
    assert "event=tryon.resume" in e.log() and "event=tryon.lock_released" in e.log()


@time_limit(120)
def test_random_child_kills_lose_nothing_and_barely_pay_twice(s):
    e = Env(s, TRYON_SOFT_TIME_LIMIT=25, TRYON_TIME_LIMIT=30, TRYON_CONCURRENCY=8,
            TRYON_MAX_REDELIVERIES=100)
    e.st.config(PRIMARY, "ok", delay_range=[1.0, 2.0], seed=7)
    rng = random.Random(16)
    res = [e.send(*urls()) for _ in range(40)]
    w = e.workers[0]
    kills = 0
    deadline = time.monotonic() + 60
    while kills < 20 and time.monotonic() < deadline:
        pids = child_pids(w)
        if pids:
            os.kill(rng.choice(pids), signal.SIGKILL)
            kills += 1
        time.sleep(rng.uniform(0.1, 0.4))
    assert kills == 20, kills
    values = wait_all(res, 60)
    assert all(standin_url(v) for v in values), [v for v in values if not standin_url(v)][:3]
    # A kill between fal accepting a submit and the job recording it can
    # cost one request more; the issue allows 2 such.
    assert e.accepted() <= 42, e.st.stats()["accepted"]


@time_limit(90)
def test_hung_primary_and_slow_backup_end_inside_the_soft_limit(s):
    # The primary normally takes ~1.3 s here (TRYON_PRIMARY_LATENCY 4 s at
    # the seed's scale, times 8/25). A few 0.2 s backups must not make the
    # plan trust 0.2 s: the later backup takes 1-1.4 s (5-7x) and the
    # try-on still ends inside the 8 s soft limit.
    e = Env(s, TRYON_SOFT_TIME_LIMIT=8, TRYON_TIME_LIMIT=10, TRYON_PRIMARY_LATENCY=4,
            TRYON_HEDGE_AFTER=0, TRYON_BREAKER_THRESHOLD=100, TRYON_CONCURRENCY=1)
    e.st.config(PRIMARY, "status:500")
    e.st.config(BACKUP, "ok", delay=0.2)
    for _ in range(4):
        assert standin_url(e.run(*urls())[0])
    e.st.config(PRIMARY, "hang")
    e.st.config(BACKUP, "ok", delay_range=[1.0, 1.4])
    v, dt = e.run(*urls(), timeout=30)
    assert standin_url(v), v
    assert dt < 8, dt
    assert "event=tryon.give_up" in e.log()


@time_limit(90)
def test_cluster_concurrency_limit_across_two_nodes(s):
    e = Env(s, workers=2, TRYON_MODEL_CONCURRENCY=3, TRYON_CONCURRENCY=6,
            TRYON_SOFT_TIME_LIMIT=25, TRYON_TIME_LIMIT=30)
    e.st.config(PRIMARY, "ok", delay=1.0)
    res = [e.send(*urls()) for _ in range(12)]
    values = wait_all(res, 60)
    assert all(standin_url(v) for v in values), [v for v in values if not standin_url(v)][:3]
    st = e.st.stats()
    assert st["in_progress_max"] <= 3, st["in_progress_max"]
    assert e.accepted() == 12, st["accepted"]
    # Both nodes took part and waited for leases.
    assert all("event=task.started" in w.log() for w in e.workers)
    assert "event=tryon.limit_wait limit=concurrency" in e.log()


@time_limit(60)
def test_daily_budget_across_two_nodes(s):
    from celery.exceptions import TimeoutError as CeleryTimeout  # noqa: F401
    e = Env(s, workers=2, TRYON_DAILY_BUDGET=0.10, TRYON_PRICE_PRIMARY=0.05,
            TRYON_SOFT_TIME_LIMIT=25, TRYON_TIME_LIMIT=30)
    first = urls()
    assert standin_url(e.run(*first)[0])
    assert standin_url(e.run(*urls())[0])
    assert e.accepted() == 2
    for _ in range(3):
        t0 = time.monotonic()
        res = e.send(*urls())
        try:
            res.get(timeout=10)
            raise AssertionError("a try-on past the budget succeeded")
        except RuntimeError as err:
            assert "TRYON_DAILY_BUDGET" in str(err), err
        assert time.monotonic() - t0 < 3
        assert res.state == "FAILURE"
    assert e.accepted() == 2, e.st.stats()["accepted"]        # no model call
    # Not retried, and a cache hit still works.
    assert "event=task.retried" not in e.log()
    v, dt = e.run(*first)
    assert standin_url(v) and dt < 1, (v, dt)
    assert "event=tryon.budget_reached" in e.log()


@time_limit(60)
def test_429_retry_after_holds_the_next_submit(s):
    e = Env(s, TRYON_SOFT_TIME_LIMIT=25, TRYON_TIME_LIMIT=30, TRYON_BREAKER_THRESHOLD=100)
    e.st.config(PRIMARY, "status:429", retry_after=1)
    e.st.config(BACKUP, "ok", delay=0.1)
    t0 = time.monotonic()
    v, dt = e.run(*urls())
    assert standin_url(v), v
    # The backup's submit waited for the Retry-After.
    docs = e.st._call("GET", "/_standin/requests")["requests"]
    backup = [d for d in docs if d["endpoint"] == BACKUP]
    assert len(backup) == 1
    assert dt >= 1.0, dt
    assert "event=tryon.throttled" in e.log() and "limit=pause" in e.log()
    del t0


@time_limit(60)
def test_revoke_terminate_cancels_the_paid_request(s):
    # The task is over: the request it paid for must not run on (or be
    # resumed by anyone). The job catches the SIGTERM, cancels, and ends.
    e = Env(s, TRYON_SOFT_TIME_LIMIT=25, TRYON_TIME_LIMIT=30)
    e.st.config(PRIMARY, "ok", delay=10)
    res = e.send(*urls())
    wait_for(lambda: e.accepted(PRIMARY) == 1, 10, "the primary submit")
    e.app.control.revoke(res.id, terminate=True)
    wait_for(lambda: res.state == "REVOKED", 10, "REVOKED")
    wait_for(lambda: e.st.stats()["cancels"].get(PRIMARY) == 1, 5, "the cancel")
    assert not e.cache.keys("tryon:req:*"), "the paid request is still recorded"
    assert not e.cache.keys("tryon:lock:*"), "lock left behind"
