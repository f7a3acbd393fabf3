#!/usr/bin/python3
"""scaling_measure: the Redis numbers behind docs/SCALING.md, measured on
this machine against a private redis-server (loopback, password, broker DB
4, results DB 5, cache DB 0) with the real Python Celery client and the
static binary:

  queued   used_memory per try-on message waiting in the queue (send_task)
  held     ... per message a worker holds: ETA try-ons it took and recorded
           (unacked + unacked_index + its held set), no longer in the queue
  result   ... per stored result (celery-task-meta-*, result_expires 3600)
  cache    ... per cache entry (tryon:<16 hex>, a fal result URL)
  hit_cpu  redis-server CPU (INFO cpu, its getrusage) per cache-hit
           try-on, client included (LPUSH, the result's SUBSCRIBE, GET,
           UNSUBSCRIBE), and the worker tree's CPU per task
  miss_cpu the same per cache miss (model API stand-in over HTTPS, 0.05 s)

Usage: scaling_measure.py [--queued N] [--held N] [--hits N] [--misses N]
       [--json FILE]. Prints one line per figure; every process is stopped
by its PID (tests/lib/itest.py Session); about a minute with the defaults.
The machine's load is printed with the CPU figures: they are only as good
as the machine was quiet.
"""
import argparse
import datetime
import hashlib
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import itest  # noqa: E402

TRYON = "app.tasks.virtual_tryon"
CLK = os.sysconf("SC_CLK_TCK")


def pair(i, tag):
    # URLs the length of a real shop's upload paths (~90 bytes each).
    return (f"https://cdn.example-shop.com/uploads/2026/12/persons/{tag}-{i:08d}-3f9c2a7e41b8.jpg",
            f"https://cdn.example-shop.com/uploads/2026/12/garments/{tag}-{i:08d}-b71e04d2c95a.jpg")


def cache_key(person, garment):
    return "tryon:" + hashlib.sha256(f"{person}|{garment}".encode()).hexdigest()[:16]


def used(r):
    return r.client(0).info("memory")["used_memory"]


def redis_cpu(r):
    """redis-server's own CPU seconds (INFO cpu: getrusage, microseconds;
    /proc/PID/stat counts in 10 ms ticks, too coarse for a few seconds)."""
    i = r.client(0).info("cpu")
    return i["used_cpu_sys"] + i["used_cpu_user"]


def key_bytes(c, key):
    """MEMORY USAGE of a key, every element sampled."""
    return c.execute_command("MEMORY", "USAGE", key, "SAMPLES", "0") or 0


def proc_cpu(pid, children=True):
    """CPU seconds of pid (utime+stime, plus what it reaped if children)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ut, st, cut, cst = (int(x) for x in fields[11:15])
    return (ut + st + ((cut + cst) if children else 0)) / CLK


def tree_cpu(pid):
    """CPU seconds of pid and its live children (job children still running
    are counted by their own stat; reaped ones are in pid's cutime)."""
    total = proc_cpu(pid)
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    s = f.read()
                if int(s.rsplit(")", 1)[1].split()[1]) == pid:
                    total += proc_cpu(int(d), children=False)
            except (OSError, ValueError, IndexError):
                pass
    return total


def machine_busy():
    """(busy, total) jiffies of all CPUs, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v) - idle, sum(v)


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def settle(r):
    """Let lazy frees and the clients' buffers settle before reading memory
    (redis-server shrinks an idle client's query buffer after 2 s)."""
    time.sleep(3)
    return used(r)


def measure_queued(s, r, app, n):
    c4 = r.client(4)
    base = settle(r)
    for i in range(n):
        p, g = pair(i, "q")
        # No result subscription: the message alone (a waiting client's
        # SUBSCRIBE costs Redis memory of its own, while it waits).
        app.send_task(TRYON, args=[p, g], queue="tryon_queue", ignore_result=True)
    assert c4.llen("tryon_queue") == n
    after = settle(r)
    msg = len(c4.lindex("tryon_queue", 0))
    key = key_bytes(c4, "tryon_queue")
    c4.delete("tryon_queue")
    return {"n": n, "used_memory_before": base, "used_memory_after": after,
            "bytes_per_message": (after - base) / n, "message_bytes": msg,
            "memory_usage_queue_per_message": key / n}


def measure_held(s, r, app, n, env):
    """n ETA try-ons (an hour ahead) taken and recorded by one worker."""
    assert n <= 1000, "beyond MAX_HELD_ETA (1000) they are parked, not held"
    c4 = r.client(4)
    base = settle(r)
    eta = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    for i in range(n):
        p, g = pair(i, "h")
        app.send_task(TRYON, args=[p, g], queue="tryon_queue", eta=eta, ignore_result=True)
    queued = settle(r)
    mem_q = r.client(0).info("memory")
    msg = len(c4.lindex("tryon_queue", 0))
    w = itest.Worker(s, env, name="held-worker")
    itest.wait_for(lambda: c4.hlen("unacked") == n and c4.llen("tryon_queue") == 0, 60,
                   f"the worker to record all {n}")
    held_key = [k for k in c4.keys("tryon-worker.held.*")][0]
    assert c4.scard(held_key) == n and c4.zcard("unacked_index") == n
    held = settle(r)
    keys = {k.decode() if isinstance(k, bytes) else k: key_bytes(c4, k) / n
            for k in ("unacked", "unacked_index", held_key)}
    all_keys = sum(key_bytes(c4, k) for k in c4.keys("*")) / n
    mem = r.client(0).info("memory")
    w.stop()
    # Its SIGTERM requeued them; clear them for the next measurement.
    for k in ("tryon_queue", "unacked", "unacked_index", held_key):
        c4.delete(k)
    return {"n": n, "used_memory_before": base, "used_memory_queued": queued, "used_memory_held": held,
            "bytes_per_queued_eta_message": (queued - base) / n,
            "used_memory_overhead_queued": mem_q["used_memory_overhead"],
            "used_memory_dataset_queued": mem_q["used_memory_dataset"],
            "bytes_per_held_message": (held - base) / n, "message_bytes": msg,
            "memory_usage_per_message": keys, "memory_usage_all_db4_keys_per_message": all_keys,
            "used_memory_overhead_held": mem["used_memory_overhead"],
            "used_memory_dataset_held": mem["used_memory_dataset"]}


def run_tasks(s, r, w, n, tag, timeout):
    """Send n try-ons (pairs tag 0..n-1) with a fresh client, wait for every
    result, let the client go (its UNSUBSCRIBEs); returns (seconds, redis
    CPU s, worker tree CPU s, machine busy share)."""
    itest.release_celery_apps()
    app = itest.celery_app(r.url(4), r.url(5))
    c5 = r.client(5)
    before_results = c5.dbsize()
    b0, t0m = machine_busy()
    r0, w0, t0 = redis_cpu(r), tree_cpu(w.proc.pid), time.monotonic()
    for i in range(n):
        p, g = pair(i, tag)
        app.send_task(TRYON, args=[p, g], queue="tryon_queue", ignore_result=False)
    itest.wait_for(lambda: c5.dbsize() - before_results >= n, timeout, f"{n} results", interval=0.05)
    secs = time.monotonic() - t0
    itest.release_celery_apps()
    r1, w1 = redis_cpu(r), tree_cpu(w.proc.pid)
    b1, t1m = machine_busy()
    return secs, r1 - r0, w1 - w0, (b1 - b0) / max(1, t1m - t0m)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--queued", type=int, default=20000)
    ap.add_argument("--held", type=int, default=900)
    ap.add_argument("--hits", type=int, default=5000)
    ap.add_argument("--misses", type=int, default=200)
    ap.add_argument("--model-times", default="0.05,2",
                    help="comma-separated stand-in model times (s) for the miss runs")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()

    out = {"when": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
           "binary": itest.BINARY, "cpus": os.cpu_count(), "loadavg_start": loadavg()}
    s = itest.Session()
    try:
        r = s.new_redis()
        for db in (0, 4, 5):
            r.client(db).flushdb()
        out["redis_version"] = r.client(0).info("server")["redis_version"]
        app = itest.celery_app(r.url(4), r.url(5))
        env = itest.worker_env(s, r, broker_db=4, result_db=5, REDIS_CACHE_URL=r.url(0),
                               TRYON_CONCURRENCY=16, FAL_KEY=itest.FAL_KEY,
                               TRYON_CA_FILE=os.path.join(s.ca(), "ca.pem"))

        q = measure_queued(s, r, app, a.queued)
        out["queued"] = q
        print(f"queued: {q['n']} try-on messages ({q['message_bytes']} bytes each): "
              f"{q['bytes_per_message']:.0f} bytes of used_memory per message "
              f"(MEMORY USAGE of the list: {q['memory_usage_queue_per_message']:.0f} per message)", flush=True)

        h = measure_held(s, r, app, a.held, env)
        out["held"] = h
        print(f"held: {h['n']} ETA try-on messages ({h['message_bytes']} bytes each): "
              f"{h['bytes_per_queued_eta_message']:.0f} bytes each queued, "
              f"{h['bytes_per_held_message']:.0f} bytes each held (unacked + index + held set); MEMORY USAGE "
              f"per message: " + ", ".join(f"{k} {v:.0f}" for k, v in h["memory_usage_per_message"].items()),
              flush=True)

        # Cache entries: what a miss leaves for TRYON_CACHE_TTL.
        c0 = r.client(0)
        base = settle(r)
        for i in range(a.hits):
            p, g = pair(i, "c")
            c0.setex(cache_key(p, g), 86400,
                     f"https://v3.fal.media/files/penguin/{hashlib.sha1(p.encode()).hexdigest()[:21]}_image.png")
        ce = (settle(r) - base) / a.hits
        out["cache_entry_bytes"] = ce
        print(f"cache: {ce:.0f} bytes of used_memory per cache entry (tryon:<16 hex> -> fal URL, with TTL)",
              flush=True)

        # Cache hits: Redis CPU per task, and memory per stored result.
        w = itest.Worker(s, env, name="hit-worker")
        app.send_task(TRYON, args=list(pair(0, "c")), queue="tryon_queue").get(timeout=20)   # warm
        r.client(5).flushdb()
        itest.release_celery_apps()
        base = settle(r)
        secs, rcpu, wcpu, busy = run_tasks(s, r, w, a.hits, "c", 300)
        res_bytes = (settle(r) - base) / a.hits
        out["hit"] = {"n": a.hits, "seconds": secs, "redis_cpu_s": rcpu, "worker_cpu_s": wcpu,
                      "machine_busy": busy, "loadavg": loadavg(), "result_bytes": res_bytes}
        print(f"hits: {a.hits} cache-hit try-ons in {secs:.1f}s ({a.hits / secs:.0f}/s, client-bound), "
              f"redis-server {rcpu * 1e6 / a.hits:.0f} us CPU per task (client included), worker tree "
              f"{wcpu * 1e6 / a.hits:.0f} us; machine {busy * 100:.0f}% busy, load {loadavg()}", flush=True)
        print(f"result: {res_bytes:.0f} bytes of used_memory per stored SUCCESS result "
              f"(celery-task-meta-*, with TTL)", flush=True)
        w.stop()

        # Misses: the whole model path against the stand-in, one run per
        # model time (polls grow with it).
        out["miss"] = []
        for k, mt in enumerate(float(x) for x in a.model_times.split(",")):
            st = itest.Standin(s, model_time=mt)
            wenv = dict(env, FAL_QUEUE_URL=st.base, TRYON_CONCURRENCY=str(min(a.misses, 100)))
            w = itest.Worker(s, wenv, name="miss-worker")
            r.client(5).flushdb()
            secs, rcpu, wcpu, busy = run_tasks(s, r, w, a.misses, f"m{k}", 300)
            assert sum(st.stats()["submits"].values()) >= a.misses, "fewer model calls than misses"
            out["miss"].append({"n": a.misses, "model_time": mt, "seconds": secs, "redis_cpu_s": rcpu,
                                "worker_cpu_s": wcpu, "machine_busy": busy, "loadavg": loadavg()})
            print(f"misses: {a.misses} cache-miss try-ons, model time {mt}s, in {secs:.1f}s, redis-server "
                  f"{rcpu * 1e6 / a.misses:.0f} us CPU per task (client included), worker tree "
                  f"{wcpu * 1e6 / a.misses:.0f} us; machine {busy * 100:.0f}% busy, load {loadavg()}", flush=True)
            w.stop()
            st.proc.stop()
    finally:
        itest.release_celery_apps()
        s.close()
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
