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
stand-in (tests/lib/fal_standin.py through standin_bench.py), a private copy
of build/tryon-worker ($TRYON_BINARY) and the Python baseline
(tests/bench/baseline/app/tasks.py on Debian's Celery 5.2.6).
Every process is started by tests/lib/itest.py's Session and stopped
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
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tarfile
import time
import uuid
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
# Entry scripts find the shared test modules the same way: tests/lib,
# from the script's own path (no PYTHONPATH, any working directory).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import itest as lib  # noqa: E402

PYTHON = lib.PYTHON
BASELINE_DIR = os.path.join(HERE, "baseline")
CLK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
BROKER_DB, RESULT_DB, CACHE_DB = 4, 5, 0
QUEUE = "tryon_queue"
TASK = "app.tasks.virtual_tryon"
ECHO = "tryon.test.echo"            # TRYON_ENABLE_TEST_TASKS=1: fork, no cache, no HTTP
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


def child_breakdown(root):
    """Where one job child's memory goes: its PSS and private bytes by
    mapping (heap and anonymous maps: curl, BearSSL and our buffers; the
    binary's pages; the stack), from /proc/PID/smaps of the newest child."""
    kids = [p for p in process_tree(root) if p != root]
    if not kids:
        return None
    pid = max(kids)
    out = {}
    try:
        with open(f"/proc/{pid}/smaps") as f:
            name = None
            for line in f:
                parts = line.split()
                if "-" in parts[0] and len(parts) >= 5 and not parts[0].endswith(":"):
                    path = parts[5] if len(parts) > 5 else ""
                    name = ("heap" if path in ("[heap]", "") else "stack" if path == "[stack]"
                            else "binary" if "tryon-worker" in path else "other")
                    out.setdefault(name, {"pss": 0, "private": 0, "shared": 0})
                elif parts[0] in ("Pss:", "Private_Clean:", "Private_Dirty:", "Shared_Clean:",
                                  "Shared_Dirty:") and name:
                    kb = int(parts[1]) * 1024
                    key = "pss" if parts[0] == "Pss:" else "private" if "Private" in parts[0] \
                        else "shared"
                    out[name][key] += kb
    except OSError:
        return None
    return out


def cpu_split(root):
    """CPU seconds of a tree split into the root process (parent_*) and
    everything else (children_*: live descendants + what the root reaped)."""
    out = dict.fromkeys(("parent_user", "parent_sys", "children_user", "children_sys"), 0.0)
    for pid in process_tree(root):
        try:
            f = _stat_fields(pid)
        except OSError:
            continue
        who = "parent" if pid == root else "children"
        out[who + "_user"] += int(f[11]) / CLK
        out[who + "_sys"] += int(f[12]) / CLK
        if pid == root:
            out["children_user"] += int(f[13]) / CLK
            out["children_sys"] += int(f[14]) / CLK
    return out


def listen_overflows():
    """The kernel's count of connections dropped because a listen queue was
    full (TcpExt ListenOverflows; machine-wide)."""
    with open("/proc/net/netstat") as f:
        lines = f.read().splitlines()
    for head, vals in zip(lines[::2], lines[1::2]):
        if head.startswith("TcpExt:"):
            d = dict(zip(head.split()[1:], vals.split()[1:]))
            return int(d.get("ListenOverflows", 0))
    return 0


def machine_busy():
    """CPU seconds the whole machine spent busy (all cores) since boot."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v[:8]) - v[3] - v[4]) / CLK


def self_cpu():
    t = os.times()
    return t.user + t.system


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


# -------------------------------------------------------------- stand-in ---
class BenchStandin(lib.Standin):
    """lib.Standin, running tests/bench/standin_bench.py: the same stand-in
    with TCP_NODELAY and a listen backlog of 512 (see that file), unless
    nodelay=False (then tests/lib/fal_standin.py as it is)."""

    def __init__(self, session, model_time=1.0, nodelay=True):
        ca = session.ca()
        self.port_file = os.path.join(session.tmp, f"standin-{time.monotonic_ns()}.port")
        script = (os.path.join(HERE, "standin_bench.py") if nodelay
                  else os.path.join(ROOT, "tests", "lib", "fal_standin.py"))
        args = [PYTHON, script, "--port", "0",
                "--cert", os.path.join(ca, "server-ec.pem"),
                "--key", os.path.join(ca, "server-ec.key"),
                "--port-file", self.port_file, "--model-time", str(model_time),
                "--key-required", lib.FAL_KEY]
        self.proc = session.start("standin", args, per_test=False)
        lib.wait_for(lambda: os.path.exists(self.port_file), 10, "the stand-in's port file")
        with open(self.port_file) as f:
            self.port = int(f.read().strip())
        self.base = f"https://localhost:{self.port}"
        self._ctx = ssl.create_default_context(cafile=os.path.join(ca, "ca.pem"))


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

    def __init__(self, bench, binary=None, name=None, **extra_env):
        self.bench = bench
        self.binary = binary
        if name:
            self.name = name
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
        p = b.s.start("tryon-worker", [self.binary or lib.BINARY, "worker"], env=env)
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

    def make(self, task_id, *args):
        body = base64.b64encode(json.dumps([list(args), {}, self.embed]).encode()).decode()
        return (self.template.replace("@ID@", task_id).replace("@TAG@", str(uuid.uuid4()))
                .replace("@BODY@", body)
                .replace("@ARGSREPR@", json.dumps(repr(list(args)))[1:-1]))


# ----------------------------------------------------------------- bench ---
class Bench:
    def __init__(self, args):
        self.args = args
        self.smoke = args.smoke
        self.s = lib.Session()
        # A private copy: a rebuild of build/tryon-worker during the run
        # must not mix two builds in one report.
        copy = os.path.join(self.s.tmp, "tryon-worker")
        shutil.copy2(lib.BINARY, copy)
        lib.BINARY = copy
        self.redis = self.s.redis()
        self._clients = {}
        self.ca_file = os.path.join(self.s.ca(), "ca.pem")
        self.standin = BenchStandin(self.s, nodelay=not getattr(args, "standin_as_is", False))
        self.results = {"mode": "smoke" if self.smoke else "full"}
        self.checks = []
        self.ours = Tryon(self)
        self.before = None
        if getattr(args, "before", None):
            # another build (the one before a change), measured in the same
            # run for the before/after table: a private copy too
            copy = os.path.join(self.s.tmp, "tryon-worker-before")
            shutil.copy2(args.before, copy)
            self.before = Tryon(self, binary=copy, name="tryon-worker (before)")
        self.py = Baseline(self)
        self.rng = random.Random(7)
        self._envelopes = {}
        for task in (TASK, ECHO):   # built now, while no worker consumes
            self.envelopes(task)

    # -- helpers
    def rc(self, db):
        """One redis-py client per DB for the whole run (a new one would
        connect, AUTH and SELECT again each time)."""
        if db not in self._clients:
            self._clients[db] = self.redis.client(db)
        return self._clients[db]

    def check(self, name, ok, detail=""):
        self.checks.append((name, bool(ok), detail))
        log(f"check {'ok  ' if ok else 'FAIL'} {name} {detail}")

    def flush(self):
        for db in (BROKER_DB, RESULT_DB):
            self.rc(db).flushdb()

    def client_app(self):
        return lib.celery_app(self.redis.url(BROKER_DB), self.redis.url(RESULT_DB))

    def envelopes(self, task=TASK):
        if task not in self._envelopes:
            self.flush()
            self.client_app().send_task(task, args=list(pair(0)), queue=QUEUE)
            self._envelopes[task] = Envelopes(self.rc(BROKER_DB).rpop(QUEUE))
            self.flush()
        return self._envelopes[task]

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

    def hit_messages(self, n, task=TASK):
        env = self.envelopes(task)
        out, ids = [], []
        for k in range(n):
            tid = str(uuid.uuid4())
            out.append(env.make(tid, *pair(k % N_PAIRS)))
            ids.append((tid, k % N_PAIRS))
        return out, ids

    def results_count(self):
        return self.rc(RESULT_DB).dbsize()

    def check_results(self, ids, sample=200, allow_missing=False):
        """Every sampled task finished with SUCCESS and the expected URL.
        allow_missing: a run the time box ended may have left a task
        unfinished (Python's prefork pool sometimes holds one prefetched
        message for seconds): no result is then not a wrong result."""
        c = self.rc(RESULT_DB)
        picks = ids if len(ids) <= sample else self.rng.sample(ids, sample)
        bad = []
        for tid, want in picks:
            raw = c.get("celery-task-meta-" + tid)
            if not raw and allow_missing:
                continue
            meta = json.loads(raw) if raw else {}
            if meta.get("status") != "SUCCESS" or (want is not None and meta.get("result") != want):
                bad.append((tid, meta.get("status"), str(meta.get("result"))[:200]))
        return bad

    def redis_cpu(self):
        """redis-server's CPU seconds (getrusage, microsecond resolution)."""
        i = self.rc(BROKER_DB).info("cpu")
        return i["used_cpu_user"] + i["used_cpu_sys"]

    def commandstats(self):
        out = {}
        for k, v in self.rc(BROKER_DB).info("commandstats").items():
            out[k.replace("cmdstat_", "")] = (v["calls"], v["usec"])
        return out

    # ------------------------------------------------------- throughput --
    def throughput_run(self, contender, slots, n, max_s, task=TASK, **env):
        """Pre-publish n cache-hit tasks, start the worker, watch DBSIZE of the
        result DB (one command every 0.1 s) and the CPU of the worker tree, of
        redis-server and of the whole machine. Sustained rate: between 10% and
        90% done (or the end of the time box, max_s, if it came first)."""
        self.flush()
        msgs, ids = self.hit_messages(n, task)
        self.publish(msgs)
        del msgs
        w = contender.start(slots, **env)
        samples = []
        deadline = time.monotonic() + max_s
        try:
            while True:
                t = time.monotonic()
                done = self.results_count()
                samples.append((t, done, cpu_split(w.pid), self.redis_cpu(), machine_busy(),
                                self_cpu(), self.commandstats()))
                if done >= n or t > deadline or not w.proc.alive():
                    break
                time.sleep(0.1)
        finally:
            w.stop()
        final = samples[-1][1]
        lo = next((x for x in samples if x[1] >= 0.1 * n), None) or \
            next((x for x in samples if x[1] > 0), None)
        hi = next((x for x in samples if x[1] >= 0.9 * n), samples[-1])
        if not lo or hi[0] <= lo[0] or hi[1] <= lo[1]:
            # (almost) nothing finished in the time box: the rate since start
            if final == 0:
                raise AssertionError(f"{contender.name} c={slots}: 0 of {n} done in {max_s} s")
            lo = (w.started, 0, dict.fromkeys(samples[0][2], 0.0)) + samples[0][3:]
            hi = samples[-1]
        dt, dn = hi[0] - lo[0], hi[1] - lo[1]
        cmds = {}
        for k, (calls, usec) in hi[6].items():
            c0, u0 = lo[6].get(k, (0, 0))
            if calls - c0 > 0:
                cmds[k] = {"per_task": (calls - c0) / dn, "usec_per_task": (usec - u0) / dn}
        cpu = {k: (hi[2][k] - lo[2][k]) / dn * 1e6 for k in hi[2]}
        redis_cpu = hi[3] - lo[3]
        busy = hi[4] - lo[4]
        own = sum(hi[2][k] - lo[2][k] for k in ("parent_user", "parent_sys", "children_user",
                                                  "children_sys"))
        harness = hi[5] - lo[5]
        first = next((x for x in samples if x[1] > 0), samples[-1])
        r = {"contender": contender.name, "slots": slots, "tasks": n, "done": final,
             "timeboxed": final < 0.9 * n, "window_tasks": dn, "window_s": round(dt, 3),
             "rate": dn / dt, "cpu_per_task_us": cpu,
             "worker_cpu_per_task_us": own / dn * 1e6,
             "redis_cpu_per_task_us": redis_cpu / dn * 1e6,
             "worker_cpu_util": own / dt, "redis_cpu_util": redis_cpu / dt,
             "harness_cpu_util": harness / dt,
             "other_cpu_util": max(0.0, (busy - own - redis_cpu - harness) / dt),
             "start_to_first_result_s": first[0] - w.started, "commands": cmds,
             # FIFO: the first 90% of what finished are surely done
             "task": task,
             "unfinished": n - final,
             "bad": self.check_results([(tid, cached_url(i) if task == TASK else list(pair(i)))
                                        for tid, i in ids[:int(final * 0.9)]],
                                       allow_missing=final < n and contender is self.py)}
        log(f"throughput {contender.name}{'' if task == TASK else ' ' + task} c={slots}: {r['rate']:.0f} tasks/s over {dn} tasks "
            f"in {dt:.1f}s{' (TIME BOX)' if r['timeboxed'] else ''}; CPU/task: parent "
            f"{cpu['parent_user'] + cpu['parent_sys']:.0f} us, children "
            f"{cpu['children_user'] + cpu['children_sys']:.0f} us, redis "
            f"{r['redis_cpu_per_task_us']:.0f} us; "
            f"cores busy: worker {r['worker_cpu_util']:.2f} redis {r['redis_cpu_util']:.2f} "
            f"harness {r['harness_cpu_util']:.2f} other {r['other_cpu_util']:.2f}")
        return r

    def throughput(self, contender, slots, seconds, guess, **kw):
        if not self.smoke:      # calibrate: size the run to about `seconds`
            guess = self.throughput_run(contender, slots, int(guess * 3), 3, **kw)["rate"]
        n = max(200, int(guess * seconds / 0.8))
        return self.throughput_run(contender, slots, n, seconds / 0.8 * 1.5 + 5, **kw)

    def bench_throughput(self):
        """Cache hits, queue kept full: throughput against concurrency."""
        self.fill_cache()
        # smoke: long enough that ours spans several 0.1 s samples (at
        # 0.5 s its 1,250 hits were done in two, and the rate measured
        # between them swung from 1,200/s to 3,300/s between runs)
        secs = 1.5 if self.smoke else 10.0
        ours_slots = [32] if self.smoke else [1, 4, 16, 32, 64, 128, 256]
        py_slots = [4] if self.smoke else [1, 2, 4, 8]
        res = {"ours": [], "python": [], "failed": []}
        self.results["throughput"] = res

        def point(key, *a, **kw):
            try:
                res[key].append(self.throughput(*a, **kw))
            except Exception as e:  # noqa: BLE001 - keep the other points
                res["failed"].append(f"{a[0].name} c={a[1]}: {e!r}")
                self.check(f"throughput {a[0].name} c={a[1]}: measured", False, repr(e)[:200])

        for c in ours_slots:
            point("ours", self.ours, c, secs, 2000)
        if self.before:
            res["before"] = []
            for c in ([32] if self.smoke else [4, 128]):
                point("before", self.before, c, secs, 2000)
        for c in py_slots:
            point("python", self.py, c, secs, 200 * min(c, 2))
        # anatomy: the same worker running a task that forks and answers but
        # opens no cache connection (tryon.test.echo)
        if not self.smoke:
            res["ours_echo"] = []
            point("ours_echo", self.ours, 32, secs, 2000, task=ECHO, TRYON_ENABLE_TEST_TASKS="1")
        for r in res["ours"] + res["python"] + res.get("ours_echo", []) + res.get("before", []):
            self.check(f"throughput {r['contender']} {r['task']} c={r['slots']}: results correct",
                       not r["bad"], str(r["bad"][:3]))
            self.check(f"throughput {r['contender']} {r['task']} c={r['slots']}: > 0 tasks/s",
                       r["rate"] > 0, f"{r['rate']:.0f}/s")

    # ---------------------------------------------------------- latency --
    def start_listener(self):
        """A separate process PSUBSCRIBEd to celery-task-meta-* on the result
        DB: it notes when each result becomes visible (CLOCK_MONOTONIC is one
        clock for all processes), as the Celery client's SUBSCRIBE would."""
        env = {"PATH": "/usr/bin:/bin", "BENCH_REDIS_PASSWORD": self.redis.password}
        p = self.s.start("listener", [PYTHON, os.path.abspath(__file__), "--listen",
                                      str(self.redis.port)], env=env)
        lib.wait_for(lambda: p.stdout_text().startswith("ready") or not p.alive(), 10,
                     "the listener")
        return p

    def stop_listener(self, p):
        p.stop()
        self.s.procs_test.remove(p)
        seen = {}
        for line in p.stdout_text().splitlines()[1:]:
            tid, t, status = line.split()
            seen.setdefault(tid, (float(t), status))
        return seen

    def latency_run(self, contender, slots, rate, n):
        """Cache hits sent by the real Celery client (send_task) at a fixed
        rate; latency = result published - just before send_task."""
        self.flush()
        w = contender.start(slots)
        w.wait_ready()
        time.sleep(0.5 if self.smoke else 2)     # let the Python pool settle too
        lst = self.start_listener()
        app = self.client_app()
        app.send_task(TASK, args=list(pair(0)), queue=QUEUE).get(timeout=10)   # warm the client
        sent, keep = {}, []
        t0 = time.monotonic()
        for i in range(n):
            due = t0 + i / rate
            d = due - time.monotonic()
            if d > 0:
                time.sleep(d)
            k = self.rng.randrange(N_PAIRS)
            t = time.monotonic()
            res = app.send_task(TASK, args=list(pair(k)), queue=QUEUE)
            sent[res.id] = (t, time.monotonic())
            keep.append(res)
        send_s = time.monotonic() - t0
        lib.wait_for(lambda: self.results_count() >= n + 1, 30, "all results")
        time.sleep(0.2)
        seen = self.stop_listener(lst)
        w.stop()
        lat = [seen[tid][0] - t for tid, (t, _) in sent.items() if tid in seen]
        # the same from the moment send_task returned (its LPUSH was sent)
        lat_pushed = [seen[tid][0] - t for tid, (_, t) in sent.items() if tid in seen]
        client = [t1 - t0 for t0, t1 in sent.values()]
        ok = sum(1 for tid in sent if seen.get(tid, (0, ""))[1] == "SUCCESS")
        r = {"contender": contender.name, "slots": slots, "rate": rate, "sent": n,
             "achieved_rate": n / send_s, "received": len(lat), "success": ok,
             "p50_ms": pct(lat, 50) * 1e3, "p90_ms": pct(lat, 90) * 1e3,
             "p99_ms": pct(lat, 99) * 1e3, "max_ms": max(lat) * 1e3,
             "mean_ms": statistics.mean(lat) * 1e3, "samples_ms": sorted(x * 1e3 for x in lat),
             "send_task_p50_ms": pct(client, 50) * 1e3,
             "after_send_p10_ms": pct(lat_pushed, 10) * 1e3,
             "after_send_p50_ms": pct(lat_pushed, 50) * 1e3,
             "after_send_p99_ms": pct(lat_pushed, 99) * 1e3}
        log(f"latency {contender.name} c={slots} @{rate}/s: p50 {r['p50_ms']:.2f} ms p99 "
            f"{r['p99_ms']:.2f} ms max {r['max_ms']:.2f} ms ({ok}/{n} SUCCESS); send_task "
            f"itself p50 {r['send_task_p50_ms']:.2f} ms, after it p50 {r['after_send_p50_ms']:.2f} ms")
        return r

    def ping_floor(self, n):
        """The physical floor of a cache hit's latency: the round trip of
        one PING on the same connection type (loopback TCP, AUTH), as
        redis-benchmark measures it (-c 1: one request at a time), and as
        redis-py sees it (what the listener and the Celery client use).
        A cache hit needs at least three such round trips after the pop
        (RECORD, GET, FINISH)."""
        out = subprocess.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(self.redis.port),
                              "-a", self.redis.password, "-c", "1", "-n", str(n), "-t", "ping",
                              "--csv"], capture_output=True, text=True, timeout=120).stdout
        rows = [line.replace('"', "").split(",") for line in out.splitlines()]
        head = next((r for r in rows if r and r[0] == "test"), None)
        mbulk = next((r for r in rows if r and r[0] == "PING_MBULK"), None)
        r = {}
        if head and mbulk:
            d = dict(zip(head, mbulk))
            r = {"ping_p50_ms": float(d["p50_latency_ms"]), "ping_p99_ms": float(d["p99_latency_ms"]),
                 "ping_rps": float(d["rps"])}
        c = self.rc(BROKER_DB)
        c.ping()
        rtts = []
        for _ in range(min(n, 2000)):
            t = time.monotonic()
            c.ping()
            rtts.append(time.monotonic() - t)
        r["redis_py_ping_p50_ms"] = pct(rtts, 50) * 1e3
        r["redis_py_ping_p99_ms"] = pct(rtts, 99) * 1e3
        if "ping_p50_ms" in r:
            r["three_rtt_ms"] = 3 * r["ping_p50_ms"]
        log(f"latency floor: PING round trip p50 {r.get('ping_p50_ms', float('nan')):.3f} ms "
            f"(redis-benchmark -c 1), {r['redis_py_ping_p50_ms']:.3f} ms from redis-py; "
            f"three round trips {r.get('three_rtt_ms', float('nan')):.3f} ms")
        return r

    def bench_latency(self):
        self.fill_cache()
        rate = 50
        n = 30 if self.smoke else 1500
        res = {"floor": self.ping_floor(2000 if self.smoke else 20000),
               "ours": self.latency_run(self.ours, 4, rate, n),
               "python": self.latency_run(self.py, 4, rate, n)}
        if self.before:
            res["before"] = self.latency_run(self.before, 4, rate, n)
        self.results["latency"] = res
        self.check("latency: PING floor measured", res["floor"].get("ping_p50_ms", 0) > 0,
                   str(res["floor"]))
        for k, r in res.items():
            if k == "floor":
                continue
            self.check(f"latency {k}: every task succeeded and was seen", r["success"] == n,
                       f"{r['success']}/{n}")
            self.check(f"latency {k}: p50 <= p99 <= max, > 0",
                       0 < r["p50_ms"] <= r["p99_ms"] <= r["max_ms"], "")

    # ------------------------------------------------------------- miss --
    def standin_totals(self):
        st = self.standin.stats()
        return (sum(st["submits"].values()), sum(st["results"].values()),
                sum(st["status_polls"].values()), st)

    def miss_run(self, label, contender, slots, n, dlo, dhi, **env):
        """Cache misses, one at a time with at most 2 in flight (so no task
        waits for a slot), each with its own model time drawn from
        [dlo, dhi] s: the stand-in's delay is set before the task is sent and
        the next task waits until the stand-in has seen this one's submit.
        Added latency = (result visible - send) - model time."""
        self.flush()
        self.standin.reset()
        w = contender.start(slots, **env)
        w.wait_ready()
        time.sleep(0.5 if self.smoke else 1.5)
        lst = self.start_listener()
        app = self.client_app()
        run = uuid.uuid4().hex[:8]
        sent = {}
        delays = []
        for i in range(n):
            d = round(self.rng.uniform(dlo, dhi), 3)
            self.standin.config("*", delay=d)
            lib.wait_for(lambda: len(sent) - self.results_count() < 2, dhi + 30, "a free slot",
                         interval=0.005)
            person = f"https://bench.example/miss/{run}/{i}/person.jpg"
            garment = f"https://bench.example/miss/{run}/{i}/garment.jpg"
            t = time.monotonic()
            res = app.send_task(TASK, args=[person, garment], queue=QUEUE)
            sent[res.id] = (t, d)
            delays.append(d)
            lib.wait_for(lambda: self.standin_totals()[0] >= i + 1, 15, "the submit",
                         interval=0.005)
        lib.wait_for(lambda: self.results_count() >= n, dhi + 40, "all results")
        time.sleep(0.2)
        seen = self.stop_listener(lst)
        w.stop()
        submits, results, polls, st = self.standin_totals()
        rids = st["request_ids"].get(PRIMARY, [])
        c = self.rc(RESULT_DB)
        added, bad = [], []
        for tid, (t, d) in sent.items():
            meta = json.loads(c.get("celery-task-meta-" + tid) or "{}")
            url = str(meta.get("result"))
            # which stand-in request produced it: its id is in the image URL
            rid = url.rsplit("/", 1)[-1].split(".")[0]
            if meta.get("status") != "SUCCESS" or tid not in seen or rid not in rids or \
                    delays[rids.index(rid)] != d:
                bad.append((tid, meta.get("status"), url[:120]))
                continue
            added.append((seen[tid][0] - t - d) * 1e3)
        r = {"label": label, "contender": contender.name, "slots": slots, "tasks": n,
             "model_time_s": [dlo, dhi], "env": env, "ok": len(added), "bad": bad[:5],
             "submits": submits, "polls_per_task": polls / max(1, submits),
             "p50_ms": pct(added, 50) if added else None,
             "p90_ms": pct(added, 90) if added else None,
             "p99_ms": pct(added, 99) if added else None,
             "max_ms": max(added) if added else None,
             "min_ms": min(added) if added else None,
             "mean_ms": statistics.mean(added) if added else None,
             "samples_ms": sorted(added)}
        log(f"miss {label}: added p50 {r['p50_ms']:.0f} ms p99 {r['p99_ms']:.0f} ms "
            f"min {r['min_ms']:.0f} max {r['max_ms']:.0f}; {r['polls_per_task']:.1f} polls per "
            f"try-on; {len(added)}/{n} ok")
        return r

    def bench_miss(self):
        n = 3 if self.smoke else 40
        lo, hi = (0.2, 0.4) if self.smoke else (1.5, 3.5)
        res = {"ours": self.miss_run("tryon-worker (default poll)", self.ours, 4, n, lo, hi)}
        if not self.smoke:
            res["ours_poll_100ms"] = self.miss_run(
                "tryon-worker, TRYON_MODEL_POLL_INTERVAL=0.1", self.ours, 4, n, lo, hi,
                TRYON_MODEL_POLL_INTERVAL="0.1")
        res["python"] = self.miss_run("python (fal_client-style 0.1 s polls)", self.py, 4, n, lo, hi)
        self.results["miss"] = res
        for k, r in res.items():
            self.check(f"miss {k}: every try-on succeeded with its own model time",
                       r["ok"] == n, str(r["bad"]))
            self.check(f"miss {k}: added latency positive and below 5 s",
                       r["ok"] and 0 < r["min_ms"] and r["max_ms"] < 5000,
                       f"min {r['min_ms']} max {r['max_ms']}")

    # ------------------------------------------------- in flight, memory --
    def inflight_run(self, contender, slots, model_time):
        """slots try-ons published at once against a stand-in that takes
        model_time per image: how many run at once, and the memory of the
        whole process tree while they do."""
        self.flush()
        self.standin.reset()
        self.standin.config("*", delay=model_time)
        w = contender.start(slots)
        w.wait_ready(timeout=180)
        time.sleep(0.5 if self.smoke else 3)
        idle = tree_memory(w.pid)
        run = uuid.uuid4().hex[:8]
        env = self.envelopes()
        ids = [str(uuid.uuid4()) for _ in range(slots)]
        msgs = [env.make(tid, f"https://bench.example/fly/{run}/{i}/p.jpg",
                         f"https://bench.example/fly/{run}/{i}/g.jpg") for i, tid in enumerate(ids)]
        spid = self.standin.proc.pid
        drops0 = listen_overflows()
        t0 = time.monotonic()
        self.publish(msgs)
        ramp, peak, threads = None, 0, 0
        samples = []
        child = None
        while time.monotonic() < t0 + model_time * 0.85:
            sub, res, _, _ = self.standin_totals()
            fly = sub - res
            peak = max(peak, fly)
            threads = max(threads, int(re.search(r"Threads:\s+(\d+)", open(f"/proc/{spid}/status").read()).group(1)))
            if fly >= slots and ramp is None:
                ramp = time.monotonic() - t0
            if ramp is not None:
                if not samples:
                    child = child_breakdown(w.pid)
                samples.append((fly, tree_memory(w.pid)))
                if len(samples) >= 4:
                    break
                time.sleep(0.4)
            else:
                time.sleep(0.1)
        if not samples:                      # never reached: measure anyway
            samples.append((peak, tree_memory(w.pid)))
        lib.wait_for(lambda: self.results_count() >= slots, model_time + 60, "all results",
                     interval=0.1)
        done_s = time.monotonic() - t0
        drops = listen_overflows() - drops0
        w.stop()
        bad = self.check_results([(tid, None) for tid in ids], sample=slots)
        mem = {k: statistics.median(s[1][k] for s in samples) for k in ("rss", "pss", "procs")}
        r = {"contender": contender.name, "slots": slots, "model_time_s": model_time,
             "in_flight": max(s[0] for s in samples), "ramp_s": ramp, "all_done_s": done_s,
             "idle": idle, "loaded": mem, "standin_threads": threads, "bad": bad[:5],
             "listen_overflows": drops, "child_breakdown": child,
             "per_job_pss_total": mem["pss"] / max(1, slots),
             "per_job_rss_total": mem["rss"] / max(1, slots),
             "per_job_rss": (mem["rss"] - idle["rss"]) / max(1, slots),
             "per_job_pss": (mem["pss"] - idle["pss"]) / max(1, slots)}
        log(f"in-flight {contender.name} c={slots}: {r['in_flight']} at once (ramp "
            f"{ramp if ramp is None else round(ramp, 2)} s), tree RSS {mem['rss'] / 2**20:.1f} MiB "
            f"PSS {mem['pss'] / 2**20:.1f} MiB in {mem['procs']:.0f} processes (idle RSS "
            f"{idle['rss'] / 2**20:.1f} MiB); all done after {done_s:.1f} s; "
            f"stand-in threads {threads}; listen queue overflows {drops}")
        return r

    def bench_inflight(self):
        t = 2.0 if self.smoke else 15.0
        ours = [32] if self.smoke else [4, 32, 64, 200, 1000]
        py = [4] if self.smoke else [4, 32, 64, 200]
        # 1,000 take ~9 s to start here (TLS handshakes with the Python
        # stand-in on 2 cores): a model time of 20 s holds them all, still
        # under the 25 s soft limit.
        res = {"ours": [self.inflight_run(self.ours, c, t if c < 1000 else 20.0) for c in ours],
               "python": [self.inflight_run(self.py, c, t) for c in py]}
        self.results["inflight"] = res
        for r in res["ours"] + res["python"]:
            self.check(f"in-flight {r['contender']} c={r['slots']}: all running at once",
                       r["in_flight"] == r["slots"], f"{r['in_flight']}")
            self.check(f"in-flight {r['contender']} c={r['slots']}: every try-on succeeded",
                       not r["bad"], str(r["bad"]))
            self.check(f"in-flight {r['contender']} c={r['slots']}: memory measured",
                       r["loaded"]["rss"] > 0 and r["loaded"]["pss"] > 0, "")

    # ------------------------------------------------------------- idle --
    def idle_run(self, contender, slots):
        self.flush()
        w = contender.start(slots)
        w.wait_ready(timeout=180)
        time.sleep(0.5 if self.smoke else 3)
        samples = []
        for _ in range(3 if self.smoke else 5):
            samples.append(tree_memory(w.pid))
            time.sleep(0.2)
        w.stop()
        mem = {k: statistics.median(s[k] for s in samples) for k in ("rss", "pss", "procs")}
        log(f"idle {contender.name} c={slots}: RSS {mem['rss'] / 2**20:.2f} MiB, PSS "
            f"{mem['pss'] / 2**20:.2f} MiB, {mem['procs']:.0f} processes")
        return {"contender": contender.name, "slots": slots, **mem}

    def bench_idle(self):
        res = {"ours": self.idle_run(self.ours, 4), "python": self.idle_run(self.py, 4)}
        self.results["idle"] = res
        for k, r in res.items():
            self.check(f"idle {k}: memory measured", r["rss"] > 0 and r["pss"] > 0, "")

    # ---------------------------------------------------------- startup --
    def startup_run(self, contender):
        """Process start (just before exec) to 'ready' in its log and to the
        result of a cache-hit task that was waiting in the queue."""
        self.flush()
        msgs, ids = self.hit_messages(1)
        self.publish(msgs)
        key = "celery-task-meta-" + ids[0][0]
        c = self.rc(RESULT_DB)
        w = contender.start(4)
        ready = first = None
        deadline = time.monotonic() + 60
        while (ready is None or first is None) and time.monotonic() < deadline:
            now = time.monotonic()
            if ready is None and w.ready():
                ready = now - w.started
            if first is None and c.exists(key):
                first = now - w.started
            time.sleep(0.001)
        w.stop()
        return ready, first

    def bench_startup(self):
        reps = 1 if self.smoke else 5
        self.fill_cache()
        variants = [("ours", self.ours), ("python", self.py)]
        if not self.smoke:
            variants.append(("python_default", Baseline(self, lean=False)))
        res = {}
        for k, cont in variants:
            runs = [self.startup_run(cont) for _ in range(reps)]
            res[k] = {"ready_s": statistics.median(r[0] for r in runs),
                      "first_task_s": statistics.median(r[1] for r in runs), "runs": runs}
            log(f"start-up {k}: ready {res[k]['ready_s'] * 1e3:.1f} ms, first task done "
                f"{res[k]['first_task_s'] * 1e3:.1f} ms (median of {reps})")
        self.results["startup"] = res
        for k, r in res.items():
            self.check(f"start-up {k} measured", 0 < r["ready_s"] and 0 < r["first_task_s"], "")

    # ------------------------------------------------------------ sizes --
    def bench_sizes(self):
        res = {"binary": os.path.getsize(lib.BINARY)}
        script = os.path.join(ROOT, "image", "build-oci.sh")
        oci = os.path.join(self.s.tmp, "tryon-worker-oci.tar")
        if os.path.exists(script):
            # the product's own image build, into our temp dir
            r = subprocess.run(["sh", script, lib.BINARY, oci], cwd=ROOT, capture_output=True,
                               text=True, timeout=300)
            if r.returncode != 0:
                log(f"image/build-oci.sh failed: {r.stderr.strip()[-300:]}")
        if os.path.exists(oci):
            res["image"] = os.path.getsize(oci)
            res["image_kind"] = "OCI archive from image/build-oci.sh, layer gzip-compressed"
        else:
            # A FROM scratch image holds the binary only: its layer is a tar
            # of that one file, gzip-compressed as registries store it.
            path = os.path.join(self.s.tmp, "layer.tar")
            with tarfile.open(path, "w") as t:
                t.add(lib.BINARY, arcname="tryon-worker")
            with open(path, "rb") as f:
                res["image"] = len(zlib.compress(f.read(), 9))
            res["image_kind"] = "no image/build-oci.sh: a scratch layer of the binary alone, gzip"
        res["python_closure"], res["python_closure_pkgs"] = dpkg_closure(
            ["python3-celery", "python3-redis", "python3-requests"])
        self.results["sizes"] = res
        log(f"sizes: binary {res['binary'] / 2**20:.2f} MiB, image {res['image'] / 2**20:.2f} MiB "
            f"({res['image_kind']}); Python closure {res['python_closure'] / 2**20:.0f} MiB in "
            f"{res['python_closure_pkgs']} packages")
        self.check("sizes measured", res["binary"] > 0 and res["image"] >= res["binary"] * 0.5
                   and res["python_closure"] > 0, "")


def dpkg_closure(roots):
    """Installed size of Debian packages roots and everything they depend on
    (Depends + Pre-Depends, installed packages only): what a Debian-based
    image must carry to run the baseline, base system packages included."""
    out = subprocess.run(["dpkg-query", "-W", "-f",
                          "${Package}\t${Installed-Size}\t${Depends}, ${Pre-Depends}\t${Provides}\n"],
                         capture_output=True, text=True).stdout
    size, deps, provides = {}, {}, {}
    for line in out.splitlines():
        name, isz, dep, prov = (line.split("\t") + ["", "", ""])[:4]
        size[name] = int(isz or 0) * 1024
        deps[name] = [alt.strip().split()[0].split(":")[0]
                      for d in dep.split(",") if d.strip() for alt in [d.split("|")[0]] if alt.strip()]
        for p in prov.split(","):
            if p.strip():
                provides.setdefault(p.strip().split()[0], name)
    seen, todo = set(), list(roots)
    while todo:
        p = todo.pop()
        p = p if p in size else provides.get(p)
        if not p or p in seen:
            continue
        seen.add(p)
        todo += deps.get(p, [])
    return sum(size[p] for p in seen), len(seen)


# ------------------------------------------------------ the Redis limit ----
UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
NOT_THE_MIX = {b"DBSIZE", b"INFO", b"MONITOR", b"CLIENT", b"SCRIPT"}


def parse_monitor(text):
    """[(db, addr, [arg bytes])] for client commands (not those run by Lua),
    without the harness's own (NOT_THE_MIX)."""
    return [(db, addr, args) for db, addr, args in lib.parse_monitor(text)
            if args and args[0].upper() not in NOT_THE_MIX]


def resp_parts(args, slots):
    """RESP encoding of one command as a list of bytes and ints; an int is
    the index of a task id / delivery tag to substitute (same length)."""
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        parts.append(b"$%d\r\n" % len(a))
        pos = 0
        for m in UUID.finditer(a):
            if m.group(0) in slots:
                parts.append(a[pos:m.start()])
                parts.append(slots[m.group(0)])
                pos = m.end()
        parts.append(a[pos:] + b"\r\n")
    return parts


class RawConn:
    def __init__(self, port, password, db):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.tail = b""
        self.tail = b"\r\n"
        self.send(resp(["AUTH", password]) + resp(["SELECT", str(db)]))
        self.wait_for(b"+OK\r\n+OK\r\n")

    def send(self, data):
        self.sock.sendall(data)

    def wait_for(self, marker):
        """Read replies until the sentinel reply `marker` went by; what
        follows it (the next round's replies) is kept."""
        while True:
            i = self.tail.find(marker)
            if i >= 0:
                self.tail = self.tail[i + len(marker):]
                return
            self.tail = self.tail[-len(marker):]
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            for err in (b"\r\n-NOSCRIPT", b"\r\n-ERR", b"\r\n-WRONGTYPE"):
                if err in self.tail[-8:] + chunk:
                    raise AssertionError(f"replay error: {chunk[:300]!r}")
            self.tail += chunk

    def close(self):
        self.sock.close()


def resp(args):
    a = [x if isinstance(x, bytes) else str(x).encode() for x in args]
    return b"*%d\r\n" % len(a) + b"".join(b"$%d\r\n%s\r\n" % (len(x), x) for x in a)


def sentinel(conn_name, k):
    tok = f"bench-sentinel-{conn_name}-{k}".encode()
    return resp(["ECHO", tok]), b"$%d\r\n%s\r\n" % (len(tok), tok)


def bench_limit(self):
    """The physical limit of the cache-hit path on this machine: the Redis
    commands tryon-worker issues per cache-hit task (captured with MONITOR
    while it ran a burst), plus the client's LPUSH, replayed as fast as
    Redis takes them: pipelined on persistent connections, each task with
    fresh ids so every script does its real work."""
    slots = 32 if self.smoke else 64
    tp = (self.results.get("throughput") or {}).get("ours")
    if tp and not self.smoke:       # where it ran fastest
        slots = max(tp, key=lambda r: r["rate"])["slots"]
    m_tasks = 100 if self.smoke else 400
    self.fill_cache()
    self.flush()
    w = self.ours.start(slots)
    w.wait_ready()
    time.sleep(0.3)
    mon = self.s.start("monitor", ["redis-cli", "-p", str(self.redis.port), "--no-auth-warning",
                                   "monitor"],
                       env={"PATH": "/usr/bin:/bin", "REDISCLI_AUTH": self.redis.password})
    lib.wait_for(lambda: mon.stdout_text().startswith("OK"), 10, "MONITOR")
    msgs, ids = self.hit_messages(m_tasks)
    self.publish(msgs)
    lib.wait_for(lambda: self.results_count() >= m_tasks, 60, "the burst")
    time.sleep(0.3)
    mon.stop()
    self.s.procs_test.remove(mon)
    w.stop()
    cmds = parse_monitor(mon.stdout_text())
    bad = self.check_results([(tid, cached_url(i)) for tid, i in ids])
    # what one task costs, by command (top level) and per connection kind
    mix = {}
    for db, _, args in cmds:
        name = args[0].upper().decode()
        if name == "EVALSHA":
            name += " " + args[1][:8].decode()
        mix[f"{name} (db {db})"] = mix.get(f"{name} (db {db})", 0) + 1
    mix = {k: v / m_tasks for k, v in sorted(mix.items(), key=lambda kv: -kv[1])}
    # ids to renew per replayed task: task ids and delivery tags
    slots_map = {}
    for raw in msgs:
        e = json.loads(raw)
        for tok in (e["headers"]["id"], e["properties"]["delivery_tag"]):
            slots_map.setdefault(tok.encode(), len(slots_map))
    per_db = {}
    for db, _, args in cmds:
        if args[0].upper() == b"BRPOPLPUSH":          # never block in a replay
            args = [b"RPOPLPUSH"] + args[1:3]
        if args[0].upper() == b"AUTH" and args[1] == b"(redacted)":
            args = [b"AUTH", self.redis.password.encode()]
        per_db.setdefault(db, []).extend(resp_parts(args, slots_map))
    tasks_per_round = m_tasks
    result = {"captured_commands": len(cmds), "capture_tasks": m_tasks, "capture_bad": bad[:3],
              "mix_per_task": mix, "capture_slots": slots}
    rounds = 8 if self.smoke else 60
    for variant in ("worker", "worker+client"):
        self.flush()
        conns = {db: RawConn(self.redis.port, self.redis.password, db) for db in per_db}
        extra = {}
        if variant == "worker+client":
            # the Celery client per task: SUBSCRIBE meta channel, GET meta, UNSUBSCRIBE
            conns.setdefault(RESULT_DB, RawConn(self.redis.port, self.redis.password, RESULT_DB))
            ps = RawConn(self.redis.port, self.redis.password, RESULT_DB)
        payloads = []
        for k in range(rounds):
            fresh = [str(uuid.uuid4()).encode() for _ in range(len(slots_map))]
            pl = {db: b"".join(p if isinstance(p, bytes) else fresh[p] for p in parts)
                  for db, parts in per_db.items()}
            if variant == "worker+client":
                tids = [fresh[slots_map[json.loads(raw)["headers"]["id"].encode()]] for raw in msgs]
                extra[k] = (b"".join(resp([b"SUBSCRIBE", b"celery-task-meta-" + t]) for t in tids),
                            b"".join(resp([b"GET", b"celery-task-meta-" + t]) for t in tids),
                            b"".join(resp([b"UNSUBSCRIBE", b"celery-task-meta-" + t]) for t in tids))
            payloads.append(pl)
        cpu0, t0 = self.redis_cpu(), time.monotonic()
        pending = None
        for k, pl in enumerate(payloads):
            if variant == "worker+client":
                sub, get, unsub = extra[k]
                s_cmd, s_rep = resp(["PING", f"s{k}"]), b"$%d\r\ns%d\r\n" % (len(str(k)) + 1, k)
                ps.send(sub + s_cmd)
                ps.wait_for(s_rep)
            marks = {}
            for db, data in pl.items():
                cmd, rep = sentinel(db, k)
                conns[db].send(data + cmd)
                marks[db] = rep
            if variant == "worker":
                # two rounds in flight: Redis never waits for this client
                if pending:
                    for db, rep in pending.items():
                        conns[db].wait_for(rep)
                pending = marks
            else:
                for db, rep in marks.items():
                    conns[db].wait_for(rep)
                cmd, rep = sentinel("get", k)
                conns[RESULT_DB].send(get + cmd)
                conns[RESULT_DB].wait_for(rep)
                s_cmd, s_rep = resp(["PING", f"u{k}"]), b"$%d\r\nu%d\r\n" % (len(str(k)) + 1, k)
                ps.send(unsub + s_cmd)
                ps.wait_for(s_rep)
        if pending:
            for db, rep in pending.items():
                conns[db].wait_for(rep)
        dt, cpu = time.monotonic() - t0, self.redis_cpu() - cpu0
        n = rounds * tasks_per_round
        for c in conns.values():
            c.close()
        if variant == "worker+client":
            ps.close()
        done = self.results_count()
        r = {"tasks": n, "seconds": dt, "rate": n / dt, "redis_cpu_util": cpu / dt,
             "redis_cpu_per_task_us": cpu / n * 1e6, "limit": n / cpu if cpu > 0 else None,
             "results_written": done}
        result[variant] = r
        log(f"redis limit ({variant}): {r['rate']:.0f} tasks/s measured with Redis at "
            f"{r['redis_cpu_util'] * 100:.0f}% of a core: {r['redis_cpu_per_task_us']:.1f} us of "
            f"Redis CPU per task, limit {r['limit']:.0f} tasks/s; {done} results written")
    result["connection_cost"] = self.connection_cost(300 if self.smoke else 3000)
    self.flush()
    self.results["limit"] = result
    self.check("limit: capture ran every task correctly", not bad, str(bad[:2]))
    self.check("limit: replay wrote one result per task (scripts did real work)",
               result["worker"]["results_written"] == result["worker"]["tasks"],
               f"{result['worker']['results_written']} of {result['worker']['tasks']}")
    self.check("limit: Redis was the bottleneck of the replay (>= 80% of a core)",
               result["worker"]["redis_cpu_util"] >= 0.8 or self.smoke,
               f"{result['worker']['redis_cpu_util']:.2f}")


def connection_cost(self, n):
    """Redis CPU for the cache read of one task three ways: a new
    connection for it (what each tryon-worker job child does: connect, AUTH,
    GET, close), AUTH + GET as request and reply on one open connection, and
    pipelined on one open connection."""
    key = cache_key(*pair(1)).encode()
    pw = self.redis.password.encode()
    req = resp([b"AUTH", pw]) + resp([b"GET", key])
    end = cached_url(1).encode() + b"\r\n"
    self.rc(CACHE_DB).setex(key, 86400, cached_url(1))
    out = {}

    def read_until(sock):
        data = b""
        while not data.endswith(end):
            chunk = sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed")
            data += chunk

    c0 = self.redis_cpu()
    for _ in range(n):
        sk = socket.create_connection(("127.0.0.1", self.redis.port))
        sk.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sk.sendall(req)
        read_until(sk)
        sk.close()
    c1 = self.redis_cpu()
    out["new_connection_us"] = (c1 - c0) / n * 1e6
    sk = socket.create_connection(("127.0.0.1", self.redis.port))
    sk.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c0 = self.redis_cpu()
    for _ in range(n):
        sk.sendall(req)
        read_until(sk)
    c1 = self.redis_cpu()
    out["open_connection_us"] = (c1 - c0) / n * 1e6
    sk.sendall(req * n + resp([b"ECHO", b"bench-end"]))
    data = b""
    while not data.endswith(b"bench-end\r\n"):
        data = (data + sk.recv(1 << 20))[-64:]
    c2 = self.redis_cpu()
    out["pipelined_us"] = (c2 - c1) / n * 1e6
    sk.close()
    log(f"redis CPU per cache read: new connection {out['new_connection_us']:.1f} us, open "
        f"connection {out['open_connection_us']:.1f} us, pipelined {out['pipelined_us']:.1f} us")
    return out


Bench.bench_limit = bench_limit
Bench.connection_cost = connection_cost


# -------------------------------------------------------------- listener ---
def listen_main(port):
    """--listen PORT: print 'ready', then on SIGTERM one line per result
    message seen: task id, CLOCK_MONOTONIC when it arrived, status."""
    import redis
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    r = redis.Redis(host="127.0.0.1", port=port, db=RESULT_DB,
                    password=os.environ["BENCH_REDIS_PASSWORD"])
    p = r.pubsub(ignore_subscribe_messages=True)
    p.psubscribe("celery-task-meta-*")
    while p.get_message(timeout=0.1) is None and not p.subscribed:
        pass
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    seen = []
    while not stop:
        m = p.get_message(timeout=0.2)
        if m and m["type"] == "pmessage":
            t = time.monotonic()
            seen.append((m["channel"], t, m["data"]))
    out = []
    for ch, t, data in seen:
        try:
            status = json.loads(data).get("status", "?")
        except ValueError:
            status = "?"
        out.append(f"{ch[17:].decode()} {t:.6f} {status}\n")
    sys.stdout.write("".join(out))
    sys.stdout.flush()
    return 0


# ------------------------------------------------------------------ main ---
ALL = ("sizes", "idle", "startup", "throughput", "limit", "latency", "miss", "inflight")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--smoke", action="store_true", help="short run, checks, build/bench-smoke/")
    ap.add_argument("--only", default="", help="comma-separated subset of: " + ",".join(ALL))
    ap.add_argument("--out", default=None,
                    help="results directory (default build/bench or build/bench-smoke); with it, "
                         "the report and plots go there too, not to docs/")
    ap.add_argument("--standin-as-is", action="store_true",
                    help="run tests/lib/fal_standin.py as it is (no TCP_NODELAY: every request "
                         "~44 ms; listen backlog 5)")
    ap.add_argument("--before", default=None, metavar="BINARY",
                    help="also measure this build (throughput at 4 and 128 slots, latency) "
                         "for the before/after table")
    ap.add_argument("--listen", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--report", default=None, metavar="RESULTS_JSON",
                    help="only regenerate the report and plots from a results file")
    args = ap.parse_args()
    if args.listen:
        return listen_main(args.listen)
    import report
    out = args.out or os.path.join(ROOT, "build", "bench-smoke" if args.smoke else "bench")
    os.makedirs(out, exist_ok=True)
    if args.report:
        with open(args.report) as f:
            results = json.load(f)
        report.write(results, out, smoke=results.get("mode") == "smoke", to_docs=not args.out)
        return 0
    missing = [pkg for mod, pkg in (("requests", "python3-requests"), ("celery", "python3-celery"),
                                    ("redis", "python3-redis")) if not importable(mod)]
    missing += [pkg for tool, pkg in (("gnuplot", "gnuplot-nox"), ("redis-cli", "redis-tools"))
                if not shutil_which(tool)]
    if missing:
        if os.geteuid() == 0 and shutil_which("apt-get"):
            log(f"installing {' '.join(missing)} (Debian packages)")
            subprocess.run(["apt-get", "install", "-y", "--no-install-recommends"] + missing,
                           check=True, stdout=subprocess.DEVNULL)
        else:
            print(f"bench: missing: apt-get install -y {' '.join(missing)}")
            return 2
    only = [x for x in args.only.split(",") if x] or list(ALL)
    t0 = time.monotonic()
    b = Bench(args)
    b.results["machine"] = machine()
    failed = []
    try:
        for name in only:
            log(f"== {name} (at {time.monotonic() - t0:.1f} s)")
            try:
                getattr(b, "bench_" + name)()
            except Exception as e:  # noqa: BLE001 - report it, go on with the rest
                import traceback
                traceback.print_exc()
                failed.append(name)
                b.check(f"{name}: ran to the end", False, repr(e)[:300])
    finally:
        b.s.cleanup_test()
        b.s.close()
    b.results["elapsed_s"] = time.monotonic() - t0
    path = os.path.join(out, "results.json")
    with open(path, "w") as f:
        json.dump(b.results, f, indent=1)
    log(f"results in {path}")
    try:
        produced = report.write(b.results, out, smoke=args.smoke, to_docs=not args.out)
        for p in produced:
            b.check(f"report: {os.path.relpath(p, ROOT)} written",
                    os.path.exists(p) and os.path.getsize(p) > 200, "")
    except Exception as e:  # noqa: BLE001
        import traceback
        traceback.print_exc()
        b.check("report written", False, repr(e)[:300])
    elapsed = time.monotonic() - t0
    if args.smoke:
        direction_checks(b)
        b.check("smoke run under 60 s", elapsed < 60, f"{elapsed:.1f} s")
    passed = sum(1 for c in b.checks if c[1])
    nfail = len(b.checks) - passed
    for name, ok, detail in b.checks:
        if not ok:
            print(f"FAILED: {name} {detail}")
    print(f"bench: {elapsed:.1f} s")
    print(f"{passed} passed, {nfail} failed")
    return 0 if nfail == 0 else 1


# The direction of each goal of issue 15, as a ratio against the Python
# baseline measured in the same smoke run, with thresholds far below the
# goals (short runs on a shared 2-core machine are noisy): a regression by
# a large factor fails `make test`, noise does not.
SMOKE_DIRECTION = {
    "throughput": 2.0,      # ours c=32 / Python -c 4 (goal at 4 slots: 20x)
    "latency_min": 1.1,     # Python / ours, enqueue -> result visible, the best of 30
                            # (robust to a load burst; both include send_task's own ~1 ms;
                            # the figure from send_task's return can be < 0 and is not used)
    "idle_pss": 40.0,       # Python / ours (goal: 250x)
    "inflight_pss": 20.0,   # Python / ours, tree PSS per try-on in flight
}


def direction_checks(b):
    r = b.results

    def ratio_check(name, num, den, floor):
        if num is None or den is None or den <= 0:
            b.check(f"direction {name}: measured", False, f"{num} / {den}")
            return
        x = num / den
        b.check(f"direction {name}: {x:.1f}x >= {floor:g}x", x >= floor, "")

    tp = r.get("throughput") or {}
    o = max((p["rate"] for p in tp.get("ours", [])), default=None)
    p = max((q["rate"] for q in tp.get("python", [])), default=None)
    ratio_check("throughput (ours / Python)", o, p, SMOKE_DIRECTION["throughput"])
    lat = r.get("latency") or {}
    if "ours" in lat and "python" in lat:
        ratio_check("latency, best of the run (Python / ours)", min(lat["python"]["samples_ms"]),
                    min(lat["ours"]["samples_ms"]), SMOKE_DIRECTION["latency_min"])
    idle = r.get("idle") or {}
    if "ours" in idle and "python" in idle:
        ratio_check("idle PSS (Python / ours)", idle["python"]["pss"], idle["ours"]["pss"],
                    SMOKE_DIRECTION["idle_pss"])
    fl = r.get("inflight") or {}
    if fl.get("ours") and fl.get("python"):
        ratio_check("PSS per in-flight try-on (Python / ours)", fl["python"][0]["per_job_pss_total"],
                    fl["ours"][0]["per_job_pss_total"], SMOKE_DIRECTION["inflight_pss"])


def importable(mod):
    try:
        __import__(mod)
        return True
    except ImportError:
        return False


def shutil_which(name):
    return shutil.which(name)


if __name__ == "__main__":
    sys.exit(main())
