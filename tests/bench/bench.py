#!/usr/bin/python3
"""bench.py: tryon-worker against the Python Celery worker it replaces.

    bench.py            the full run (make bench): writes docs/BENCHMARKS.md
                        and docs/bench/*.png; about 15 minutes
    bench.py --smoke    a short run of every measurement (make bench-smoke):
                        writes build/bench-smoke/, checks that every figure was
                        produced and is sane, prints "N passed, N failed"
    bench.py --only throughput,latency ...   a subset (for development)

One machine, one run, side by side: one redis-server (broker DB 4, results
DB 5, cache DB 0, password with + / =, like the seed), one HTTPS model API
stand-in (tests/lib/fal_standin.py), build/tryon-worker and the Python
baseline (tests/bench/baseline/app/tasks.py on Debian's Celery 5.2.6).
Every process is started by tests/integration/lib.py's Session and stopped
by its PID. Method: tests/bench/README.md."""
import argparse
import base64
import datetime
import hashlib
import json
import os
import platform
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
import time
import uuid
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import lib  # noqa: E402

PYTHON = lib.PYTHON
BASELINE_DIR = os.path.join(HERE, "baseline")
CLK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
BROKER_DB, RESULT_DB, CACHE_DB = 4, 5, 0
QUEUE = "tryon_queue"
TASK = "app.tasks.virtual_tryon"
PRIMARY = "fal-ai/flux-2-lora-gallery/virtual-tryon"
N_PAIRS = 1000                      # distinct cached (person, garment) pairs


def log(msg):
    print(f"bench: {msg}", flush=True)


def pct(values, p):
    """The p-th percentile (nearest rank) of a non-empty list."""
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


def cache_key(person, garment):
    return "tryon:" + hashlib.sha256(f"{person}|{garment}".encode()).hexdigest()[:16]


def pair(i):
    return (f"https://bench.example/person/{i}.jpg", f"https://bench.example/garment/{i}.jpg")


def cached_url(i):
    return f"https://fal.media/files/bench/{i}.png"


# ---------------------------------------------------------------- /proc ----
def _stat_fields(pid):
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    return s[s.rfind(")") + 2:].split()      # fields from 3 (state) on


def process_tree(root):
    """root and all its descendants (by ppid), root first."""
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            ppid = int(_stat_fields(d)[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(d))
    out, i = [root], 0
    while i < len(out):
        out += kids.get(out[i], [])
        i += 1
    return out


def tree_cpu(root):
    """CPU seconds of a process tree: every live process plus what the root
    has reaped (cutime/cstime cover our per-task children and Celery's
    recycled pool processes)."""
    total = 0
    for pid in process_tree(root):
        try:
            f = _stat_fields(pid)
        except OSError:
            continue
        total += int(f[11]) + int(f[12])          # utime, stime
        if pid == root:
            total += int(f[13]) + int(f[14])      # cutime, cstime
    return total / CLK


def proc_cpu(pid):
    f = _stat_fields(pid)
    return (int(f[11]) + int(f[12])) / CLK


def tree_memory(root):
    """{'rss': bytes, 'pss': bytes, 'procs': n} summed over the tree.
    RSS counts a page shared by a parent and its forks once per process;
    PSS divides it among them (smaps_rollup)."""
    rss = pss = n = 0
    for pid in process_tree(root):
        try:
            with open(f"/proc/{pid}/statm") as f:
                rss += int(f.read().split()[1]) * PAGE
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1]) * 1024
                        break
            n += 1
        except (OSError, IndexError, ValueError):
            continue
    return {"rss": rss, "pss": pss, "procs": n}


def machine():
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    try:
        redis_v = subprocess.run(["redis-server", "--version"], capture_output=True,
                                 text=True).stdout.split()[2].split("=")[1]
    except (OSError, IndexError):
        redis_v = "?"
    import celery
    import kombu
    import redis as redispy
    import requests
    ver = subprocess.run([lib.BINARY, "--version"], capture_output=True, text=True).stdout
    return {"nproc": os.cpu_count(), "cpu": model, "ram_gb": round(mem_kb / 1048576, 1),
            "kernel": platform.release(), "python": platform.python_version(),
            "celery": celery.__version__, "kombu": kombu.__version__,
            "redis_py": redispy.__version__, "requests": requests.__version__,
            "redis_server": redis_v, "tryon_worker": ver.splitlines()[0] if ver else "?",
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


# ------------------------------------------------------------ contenders ---
class Running:
    """A started worker: its Proc, its root PID, when it was started."""

    def __init__(self, contender, proc, started, slots):
        self.contender, self.proc, self.started, self.slots = contender, proc, started, slots
        self.pid = proc.pid

    def ready(self):
        return self.contender.ready_mark in self.proc.stderr_text()

    def wait_ready(self, timeout=60):
        lib.wait_for(lambda: self.ready() or not self.proc.alive(), timeout,
                     f"{self.contender.name} to be ready", interval=0.005)
        assert self.proc.alive(), self.proc.stderr_text()[-3000:]

    def stop(self):
        rc = self.proc.stop(60)
        self.contender.bench.s.procs_test.remove(self.proc)
        return rc


class Tryon:
    name = "tryon-worker"
    ready_mark = "event=worker.ready"

    def __init__(self, bench, **extra_env):
        self.bench = bench
        self.extra_env = extra_env

    def start(self, slots, **env_over):
        b = self.bench
        env = lib.worker_env(b.s, b.redis, broker_db=BROKER_DB, result_db=RESULT_DB,
                             REDIS_CACHE_URL=b.redis.url(CACHE_DB), FAL_KEY=lib.FAL_KEY,
                             FAL_QUEUE_URL=b.standin.base, TRYON_CA_FILE=b.ca_file,
                             TRYON_CONCURRENCY=slots, TRYON_ENABLE_TEST_TASKS="0",
                             TRYON_HTTP_ADDR=f"127.0.0.1:{lib.free_port()}",
                             TRYON_HOSTNAME="bench@localhost")
        env.update({k: str(v) for k, v in {**self.extra_env, **env_over}.items()})
        t = time.monotonic()
        p = b.s.start("tryon-worker", [lib.BINARY, "worker"], env=env)
        return Running(self, p, t, slots)


class Baseline:
    name = "python"
    ready_mark = "ready."

    def __init__(self, bench, lean=True):
        self.bench = bench
        self.lean = lean

    def start(self, slots):
        b = self.bench
        env = {"PATH": "/usr/bin:/bin", "HOME": b.s.tmp, "PYTHONPATH": BASELINE_DIR,
               "CELERY_BROKER_URL": b.redis.url(BROKER_DB),
               "CELERY_RESULT_BACKEND": b.redis.url(RESULT_DB),
               "REDIS_CACHE_URL": b.redis.url(CACHE_DB), "FAL_KEY": lib.FAL_KEY,
               "FAL_QUEUE_URL": b.standin.base, "REQUESTS_CA_BUNDLE": b.ca_file}
        args = [PYTHON, "-m", "celery", "-A", "app.tasks", "worker", "-P", "prefork",
                "-c", str(slots), "-Q", QUEUE, "-n", "py@localhost", "-l", "info"]
        if self.lean:
            args += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
        t = time.monotonic()
        p = b.s.start("python-worker", args, env=env, cwd=BASELINE_DIR)
        return Running(self, p, t, slots)


# ------------------------------------------------------------- messages ----
class Envelopes:
    """Celery protocol-2 messages built once by the real client (send_task,
    kombu's JSON serialisation), then copied with a new id, delivery tag and
    arguments: what send_task would have produced, without its cost."""

    def __init__(self, raw):
        t = json.loads(raw)
        t["headers"]["id"] = t["headers"]["root_id"] = "@ID@"
        t["properties"]["correlation_id"] = "@ID@"
        t["properties"]["delivery_tag"] = "@TAG@"
        t["headers"]["argsrepr"] = "@ARGSREPR@"
        body = json.loads(base64.b64decode(t["body"]))
        self.embed = body[2]
        t["body"] = "@BODY@"
        self.template = json.dumps(t)
        assert self.template.count("@ID@") == 3, self.template

    def make(self, task_id, person, garment):
        body = base64.b64encode(json.dumps([[person, garment], {}, self.embed]).encode()).decode()
        return (self.template.replace("@ID@", task_id).replace("@TAG@", str(uuid.uuid4()))
                .replace("@BODY@", body)
                .replace("@ARGSREPR@", json.dumps(repr([person, garment]))[1:-1]))


# ----------------------------------------------------------------- bench ---
class Bench:
    def __init__(self, args):
        self.args = args
        self.smoke = args.smoke
        self.s = lib.Session()
        self.redis = self.s.redis()
        self.rc = self.redis.client
        self.ca_file = os.path.join(self.s.ca(), "ca.pem")
        self.standin = lib.Standin(self.s, model_time=1.0)
        self.s.procs_test.remove(self.standin.proc)        # lives for the whole run
        self.s.procs_session.append(self.standin.proc)
        self.results = {"mode": "smoke" if self.smoke else "full"}
        self.checks = []
        self.ours = Tryon(self)
        self.py = Baseline(self)
        self.rng = random.Random(7)
        self._envelopes = None

    # -- helpers
    def check(self, name, ok, detail=""):
        self.checks.append((name, bool(ok), detail))
        log(f"check {'ok  ' if ok else 'FAIL'} {name} {detail}")

    def flush(self):
        for db in (BROKER_DB, RESULT_DB):
            self.rc(db).flushdb()

    def client_app(self):
        return lib.celery_app(self.redis.url(BROKER_DB), self.redis.url(RESULT_DB))

    def envelopes(self):
        if self._envelopes is None:
            self.flush()
            app = self.client_app()
            app.send_task(TASK, args=list(pair(0)), queue=QUEUE)
            raw = self.rc(BROKER_DB).rpop(QUEUE)
            self._envelopes = Envelopes(raw)
            self.flush()
        return self._envelopes

    def fill_cache(self):
        c = self.rc(CACHE_DB)
        c.flushdb()
        p = c.pipeline(transaction=False)
        for i in range(N_PAIRS):
            p.setex(cache_key(*pair(i)), 86400, cached_url(i))
        p.execute()

    def publish(self, messages):
        """LPUSH prebuilt messages, pipelined in batches."""
        c = self.rc(BROKER_DB)
        for i in range(0, len(messages), 2000):
            p = c.pipeline(transaction=False)
            for m in messages[i:i + 2000]:
                p.lpush(QUEUE, m)
            p.execute()

    def hit_messages(self, n):
        env = self.envelopes()
        out, ids = [], []
        for k in range(n):
            tid = str(uuid.uuid4())
            out.append(env.make(tid, *pair(k % N_PAIRS)))
            ids.append((tid, k % N_PAIRS))
        return out, ids

    def results_count(self):
        return self.rc(RESULT_DB).dbsize()

    def check_results(self, ids, sample=200):
        """Every sampled task finished with SUCCESS and the expected URL."""
        c = self.rc(RESULT_DB)
        picks = ids if len(ids) <= sample else self.rng.sample(ids, sample)
        bad = []
        for tid, want in picks:
            raw = c.get("celery-task-meta-" + tid)
            meta = json.loads(raw) if raw else {}
            if meta.get("status") != "SUCCESS" or (want is not None and meta.get("result") != want):
                bad.append((tid, meta.get("status"), str(meta.get("result"))[:200]))
        return bad

    def commandstats(self):
        out = {}
        for k, v in self.rc(BROKER_DB).info("commandstats").items():
            out[k.replace("cmdstat_", "")] = (v["calls"], v["usec"])
        return out

    # ------------------------------------------------------- throughput --
    def throughput_run(self, contender, slots, n):
        """Pre-publish n cache-hit tasks, start the worker, watch DBSIZE of the
        result DB (one command every 0.1 s) and the CPU of the worker tree and
        of redis-server. Sustained rate: between 10% and 90% done."""
        self.flush()
        msgs, ids = self.hit_messages(n)
        self.publish(msgs)
        del msgs
        w = contender.start(slots)
        rpid = self.redis.proc.pid
        samples = []
        deadline = time.monotonic() + max(60, n / 20)
        try:
            while True:
                t = time.monotonic()
                done = self.results_count()
                samples.append((t, done, tree_cpu(w.pid), proc_cpu(rpid), self.commandstats()))
                if done >= n or t > deadline or not w.proc.alive():
                    break
                time.sleep(0.1)
        finally:
            w.stop()
        lo = next((x for x in samples if x[1] >= 0.1 * n), None)
        hi = next((x for x in samples if x[1] >= 0.9 * n), None)
        if not lo or not hi or hi[0] <= lo[0]:
            raise AssertionError(f"{contender.name} c={slots}: {samples[-1][1]} of {n} done")
        dt, dn = hi[0] - lo[0], hi[1] - lo[1]
        cmds = {}
        for k, (calls, usec) in hi[4].items():
            c0, u0 = lo[4].get(k, (0, 0))
            if calls - c0 > 0:
                cmds[k] = {"per_task": (calls - c0) / dn, "usec_per_task": (usec - u0) / dn}
        first = next((x for x in samples if x[1] > 0), samples[-1])
        r = {"contender": contender.name, "slots": slots, "tasks": n, "window_tasks": dn,
             "window_s": round(dt, 3), "rate": dn / dt,
             "worker_cpu_per_task_us": (hi[2] - lo[2]) / dn * 1e6,
             "redis_cpu_per_task_us": (hi[3] - lo[3]) / dn * 1e6,
             "worker_cpu_util": (hi[2] - lo[2]) / dt, "redis_cpu_util": (hi[3] - lo[3]) / dt,
             "start_to_first_result_s": first[0] - w.started, "commands": cmds,
             "bad": self.check_results([(tid, cached_url(i)) for tid, i in ids])}
        log(f"throughput {contender.name} c={slots}: {r['rate']:.0f} tasks/s over {dn} tasks "
            f"in {dt:.1f}s; CPU/task worker {r['worker_cpu_per_task_us']:.0f} us, redis "
            f"{r['redis_cpu_per_task_us']:.0f} us; util worker {r['worker_cpu_util']:.2f} "
            f"redis {r['redis_cpu_util']:.2f}")
        return r

    def throughput(self, contender, slots, seconds, guess):
        if not self.smoke:      # calibrate: size the run to about `seconds`
            r = self.throughput_run(contender, slots, int(guess * 2))
            guess = r["rate"]
        n = max(200, int(guess * seconds / 0.8))
        return self.throughput_run(contender, slots, n)

    def bench_throughput(self):
        self.fill_cache()
        secs = 1.0 if self.smoke else 12.0
        ours_slots = [4, 32] if self.smoke else [1, 4, 16, 32, 64, 128]
        py_slots = [4] if self.smoke else [1, 2, 4, 8]
        res = {"ours": [], "python": []}
        for c in ours_slots:
            res["ours"].append(self.throughput(self.ours, c, secs, 2000))
        for c in py_slots:
            res["python"].append(self.throughput(self.py, c, secs, 150 * min(c, 2)))
        self.results["throughput"] = res
        for r in res["ours"] + res["python"]:
            self.check(f"throughput {r['contender']} c={r['slots']} results correct",
                       not r["bad"], str(r["bad"][:3]))
            self.check(f"throughput {r['contender']} c={r['slots']} > 0", r["rate"] > 0,
                       f"{r['rate']:.0f}/s")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--only", default="")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    b = Bench(args)
    try:
        b.bench_throughput()
    finally:
        b.s.close()
    print(json.dumps(b.results, indent=1)[:3000])


if __name__ == "__main__":
    sys.exit(main())
