#!/usr/bin/python3
"""bench_day.py: a production day in miniature, tryon-worker and the Python
baseline side by side in one run, against the same fal stand-in profile.

    bench_day.py                 the full day (make bench-day): 120 try-ons
                                 over 60 pairs, time scaled 1/10; a few minutes;
                                 writes build/bench-day/
    bench_day.py --short         36 try-ons over 18 pairs, scale 0.05, under
                                 ~90 s (make bench-day-short, in make test):
                                 checks that the harness works and prints
                                 "N passed, N failed"; build/bench-day-short/
    bench_day.py --worker-env TRYON_FALLBACK_MODE=latency ...   settings to try

The profile, in the seed's real seconds, every time multiplied by --scale:
primary (Flux) 10-20 s with 20 % errors (completed with an error after its
drawn time) and 5 % hangs (IN_PROGRESS until cancelled); backup (FASHN)
10-15 s without faults; soft limit 25 s, hard 30 s, one retry after 1 s;
try-ons every 5 s through the real Python Celery client, which waits
result.get(timeout=60). The pairs' popularity is Zipf-like: every pair comes
once, the rest are drawn with weight 1/rank^s; all draws are seeded, and the
stand-in's faults are a function of (seed, endpoint, request body, n-th
submit of that body), so both contenders meet the same fate per try-on.

Both contenders get the same slots (--slots, default 4: the seed's four
single-slot containers), one redis-server (broker DB 4, results DB 5, cache
DB 0, a password with + / =) and the HTTPS stand-in (tests/lib/fal_standin.py).
tryon-worker runs with its defaults except the scaled limits, hedge delay and
breaker cooldown (and --worker-env). The baseline (tests/bench/baseline) runs
with the scaled limits and countdown (its prefork pool arms a timer per task,
so they fire on time). Status polls stay at 0.1 s for both (fal_client's).

Money: the stand-in counts a request billed once it ran (reached
IN_PROGRESS) unless it ended in a 5xx (fal does not charge those; the
primary's errors are 5xx here, --error-code); a cancel while IN_QUEUE is
free, while IN_PROGRESS billed. Spend = billed x price ($0.05 primary,
$0.075 backup); wasted = billed requests whose image is not one a client
received in time. Every process is started by the shared test Session and
stopped by its PID."""
import argparse
import datetime
import gc
import json
import math
import os
import random
import re
import shutil
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
# Entry scripts find the shared test modules the same way: tests/lib,
# from the script's own path (no PYTHONPATH, any working directory).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import itest as lib  # noqa: E402

PYTHON = lib.PYTHON
BASELINE_DIR = os.path.join(HERE, "baseline")
BROKER_DB, RESULT_DB, CACHE_DB = 4, 5, 0
QUEUE = "tryon_queue"
TASK = "app.tasks.virtual_tryon"
PRIMARY = "fal-ai/flux-2-lora-gallery/virtual-tryon"
BACKUP = "fal-ai/fashn/tryon/v1.6"
PRICE = {PRIMARY: 0.05, BACKUP: 0.075}
NAME = {PRIMARY: "primary", BACKUP: "backup"}

# The day, in the seed's real seconds (multiplied by --scale).
PROFILE = {
    "primary_time": (10.0, 20.0), "primary_error_rate": 0.20, "primary_hang_rate": 0.05,
    "backup_time": (10.0, 15.0), "soft_limit": 25.0, "hard_limit": 30.0,
    "retry_countdown": 1.0, "client_wait": 60.0, "interval": 5.0,
    "hedge_after": 3.0, "breaker_cooldown": 30.0,
}
FULL = {"tryons": 120, "pairs": 60, "scale": 0.1}
SHORT = {"tryons": 36, "pairs": 18, "scale": 0.05}
URL_RID = re.compile(r"/files/standin/([0-9a-f-]{36})\.png$")


def log(msg):
    print(f"bench-day: {msg}", flush=True)


def pct(values, p):
    """The p-th percentile (nearest rank) of a non-empty list (inf allowed)."""
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(math.ceil(p / 100.0 * len(v))) - 1))
    return v[k]


def pair(k):
    return (f"https://bench.example/day/person/{k}.jpg",
            f"https://bench.example/day/garment/{k}.jpg")


def schedule(n, pairs, zipf_s, seed):
    """n pair indexes: each of `pairs` once, the rest drawn with weight
    1/rank^s, shuffled; the same for a given seed."""
    rng = random.Random(seed)
    seq = list(range(pairs))
    weights = [1.0 / (k + 1) ** zipf_s for k in range(pairs)]
    seq += rng.choices(range(pairs), weights=weights, k=max(0, n - pairs))
    rng.shuffle(seq)
    return seq[:n]


# ----------------------------------------------------------- contenders ---
class Contender:
    """How to start one worker; started ones are lib Procs (stopped by PID)."""

    def __init__(self, name, ready_mark):
        self.name, self.ready_mark = name, ready_mark

    def wait_ready(self, proc, timeout=60):
        lib.wait_for(lambda: self.ready_mark in proc.stderr_text() or not proc.alive(),
                     timeout, f"{self.name} to be ready", interval=0.01)
        if not proc.alive():
            raise AssertionError(f"{self.name} died:\n{proc.stderr_text()[-3000:]}")


class TryonWorker(Contender):
    def __init__(self, day):
        super().__init__("tryon-worker", "event=worker.ready")
        self.day = day
        self.http = None

    def env(self):
        d, sc = self.day, self.day.scale
        self.http = f"127.0.0.1:{lib.free_port()}"
        env = lib.worker_env(d.s, d.redis, broker_db=BROKER_DB, result_db=RESULT_DB,
                             REDIS_CACHE_URL=d.redis.url(CACHE_DB), FAL_KEY=lib.FAL_KEY,
                             FAL_QUEUE_URL=d.standin.base, TRYON_CA_FILE=d.ca_file,
                             TRYON_CONCURRENCY=d.args.slots, TRYON_ENABLE_TEST_TASKS="0",
                             TRYON_HTTP_ADDR=self.http, TRYON_HOSTNAME="day@localhost",
                             TRYON_SOFT_TIME_LIMIT=fmt(PROFILE["soft_limit"] * sc),
                             TRYON_TIME_LIMIT=fmt(PROFILE["hard_limit"] * sc),
                             TRYON_RETRY_COUNTDOWN=fmt(PROFILE["retry_countdown"] * sc),
                             TRYON_HEDGE_AFTER=fmt(PROFILE["hedge_after"] * sc),
                             TRYON_BREAKER_COOLDOWN=fmt(PROFILE["breaker_cooldown"] * sc),
                             TRYON_PRICE_PRIMARY=PRICE[PRIMARY],
                             TRYON_PRICE_BACKUP=PRICE[BACKUP])
        env.update(d.worker_env_extra)
        return env

    def start(self):
        return self.day.s.start("tryon-worker", [lib.BINARY, "worker"], env=self.env())

    def metrics(self):
        try:
            with urllib.request.urlopen(f"http://{self.http}/metrics", timeout=5) as r:
                return r.read().decode()
        except OSError as e:
            return f"# /metrics not read: {e}\n"


class PythonBaseline(Contender):
    def __init__(self, day):
        super().__init__("python", "ready.")
        self.day = day

    def start(self):
        d, sc = self.day, self.day.scale
        env = {"PATH": "/usr/bin:/bin", "HOME": d.s.tmp, "PYTHONPATH": BASELINE_DIR,
               "CELERY_BROKER_URL": d.redis.url(BROKER_DB),
               "CELERY_RESULT_BACKEND": d.redis.url(RESULT_DB),
               "REDIS_CACHE_URL": d.redis.url(CACHE_DB), "FAL_KEY": lib.FAL_KEY,
               "FAL_QUEUE_URL": d.standin.base, "REQUESTS_CA_BUNDLE": d.ca_file,
               "BASELINE_SOFT_LIMIT": fmt(PROFILE["soft_limit"] * sc),
               "BASELINE_HARD_LIMIT": fmt(PROFILE["hard_limit"] * sc),
               "BASELINE_RETRY_COUNTDOWN": fmt(PROFILE["retry_countdown"] * sc)}
        args = [PYTHON, "-m", "celery", "-A", "app.tasks", "worker", "-P", "prefork",
                "-c", str(d.args.slots), "-Q", QUEUE, "-n", "pyday@localhost", "-l", "info",
                "--without-gossip", "--without-mingle", "--without-heartbeat"]
        return d.s.start("python-worker", args, env=env, cwd=BASELINE_DIR)


def fmt(x):
    return f"{x:.6g}"


# --------------------------------------------------------------- client ---
class Clients:
    """The app server: `lanes` threads, each with its own Celery app (the
    Redis result backend's pub/sub connection is not safe to share between
    threads); lane k sends try-ons k, k+lanes, ... at their scheduled times
    and waits result.get(timeout=wait) for each, as the seed's client does."""

    def __init__(self, day, seq, interval, wait):
        self.day, self.seq, self.interval, self.wait = day, seq, interval, wait
        self.lanes = int(math.ceil(wait / interval)) + 2
        self.records = [None] * len(seq)
        self.apps = [lib.celery_app(day.redis.url(BROKER_DB), day.redis.url(RESULT_DB))
                     for _ in range(self.lanes)]
        for app in self.apps:          # connect before the clock starts
            app.backend.client.ping()
            with app.connection_for_write() as c:
                c.ensure_connection(max_retries=3)

    def run(self):
        t0 = time.monotonic() + 0.2
        threads = [threading.Thread(target=self.lane, args=(k, t0), daemon=True)
                   for k in range(self.lanes)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(self.interval * len(self.seq) + self.wait * 2 + 60)
        return t0

    def lane(self, k, t0):
        app = self.apps[k]
        for i in range(k, len(self.seq), self.lanes):
            due = t0 + i * self.interval
            d = due - time.monotonic()
            if d > 0:
                time.sleep(d)
            person, garment = pair(self.seq[i])
            t = time.monotonic()
            rec = {"i": i, "pair": self.seq[i], "sent": t - t0, "late": t - due}
            res = None
            try:
                res = app.send_task(TASK, args=[person, garment], queue=QUEUE)
                rec["id"] = res.id
                v = res.get(timeout=self.wait)
                rec["latency"] = time.monotonic() - t
                if isinstance(v, str) and v.startswith("https://"):
                    rec["outcome"], rec["url"] = "answered", v
                else:
                    rec["outcome"], rec["value"] = "bad-value", repr(v)[:200]
            except Exception as e:  # noqa: BLE001 - the task's exception or the client's timeout
                rec["latency"] = time.monotonic() - t
                name = type(e).__name__
                rec["outcome"] = "timeout" if name == "TimeoutError" else "failed"
                rec["error"] = f"{name}: {str(e)[:200]}"
            self.records[i] = rec
            # drop the result's pending state now (its backend outlives it);
            # its meta stays in Redis for drain()
            try:
                if res is not None:
                    res.backend.remove_pending_result(res)
            except Exception:  # noqa: BLE001 - best effort
                pass
            del res

    def close(self):
        """Before redis-server stops: results left for exit would talk to it
        from __del__."""
        for app in self.apps:
            pending = getattr(app.backend, "_pending_messages", None)
            if pending is not None:
                pending.clear()
            app.close()
        self.apps = []
        gc.collect()


# ------------------------------------------------------------------ day ---
class Day:
    def __init__(self, args):
        self.args = args
        self.scale = args.scale
        self.s = lib.Session()
        # A private copy: a rebuild during the run must not mix two builds.
        copy = os.path.join(self.s.tmp, "tryon-worker")
        shutil.copy2(lib.BINARY, copy)
        lib.BINARY = copy
        self.redis = self.s.redis()
        self.ca_file = os.path.join(self.s.ca(), "ca.pem")
        self.standin = lib.Standin(self.s, model_time=1.0)
        self.s.procs_test.remove(self.standin.proc)      # lives for the whole run
        self.s.procs_session.append(self.standin.proc)
        self.worker_env_extra = dict(kv.split("=", 1) for kv in args.worker_env)
        import subprocess
        v = subprocess.run([lib.BINARY, "--version"], capture_output=True, text=True).stdout
        self.version = v.splitlines()[0] if v else "?"
        self.checks = []

    def check(self, name, ok, detail=""):
        self.checks.append((name, bool(ok), str(detail)))
        log(f"check {'ok  ' if ok else 'FAIL'} {name} {detail}")

    def rc(self, db):
        return self.redis.client(db)

    def configure_standin(self):
        sc, a = self.scale, self.args
        self.standin.reset()
        p_lo, p_hi = PROFILE["primary_time"]
        b_lo, b_hi = PROFILE["backup_time"]
        rate = PROFILE["primary_error_rate"]
        errors = {"submit_error_rate": rate} if a.errors_at == "submit" else {"error_rate": rate}
        self.standin.config(PRIMARY, "ok", delay_range=[p_lo * sc, p_hi * sc], **errors,
                            hang_rate=PROFILE["primary_hang_rate"], error_code=a.error_code,
                            queue_time_range=[x * sc for x in a.queue_time], seed=a.seed)
        self.standin.config(BACKUP, "ok", delay_range=[b_lo * sc, b_hi * sc],
                            queue_time_range=[x * sc for x in a.queue_time], seed=a.seed)

    def run_one(self, contender, seq):
        """One contender through the whole day; returns its results."""
        sc = self.scale
        for db in (BROKER_DB, RESULT_DB, CACHE_DB):
            self.rc(db).flushdb()
        self.configure_standin()
        proc = contender.start()
        try:
            contender.wait_ready(proc)
            time.sleep(1.0)                       # let the Python pool settle too
            clients = Clients(self, seq, PROFILE["interval"] * sc, PROFILE["client_wait"] * sc)
            log(f"{contender.name}: {len(seq)} try-ons every {PROFILE['interval'] * sc:.3g} s, "
                f"{clients.lanes} client lanes, wait {PROFILE['client_wait'] * sc:.3g} s")
            t_start = time.monotonic()
            clients.run()
            sent_s = time.monotonic() - t_start
            drained = self.drain([r["id"] for r in clients.records if r and r.get("id")])
            stats = self.standin.stats()
            reqs = self.standin._call("GET", "/_standin/requests")
            metrics = contender.metrics() if isinstance(contender, TryonWorker) else None
        finally:
            rc = proc.stop(60)
            self.s.procs_test.remove(proc)
        clients.close()
        wlog = proc.stderr_text()
        events = {}
        for m in re.finditer(r"event=(tryon\.[a-z_.]+)", wlog):
            events[m.group(1)] = events.get(m.group(1), 0) + 1
        r = summarize(contender.name, clients.records, stats, reqs, drained, sc)
        r.update({"elapsed_s": sent_s, "exit_code": rc, "worker_events": events,
                  "lanes": clients.lanes})
        if metrics:
            r["metrics_model_lines"] = [l for l in metrics.splitlines()
                                        if l.startswith("tryon_model_")]
        return r

    def drain(self, ids):
        """Wait until every task has a final state (the client may have given
        up before): at most both attempts' hard limits and the countdown."""
        sc = self.scale
        cap = ((PROFILE["hard_limit"] + PROFILE["retry_countdown"]) * 2 + 5) * sc + 2
        c = self.rc(RESULT_DB)
        final = {}
        deadline = time.monotonic() + cap
        while True:
            for tid in ids:
                if tid in final:
                    continue
                raw = c.get("celery-task-meta-" + tid)
                st = json.loads(raw).get("status") if raw else None
                if st in ("SUCCESS", "FAILURE"):
                    final[tid] = st
            if len(final) == len(ids) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        out = {"SUCCESS": 0, "FAILURE": 0, "unfinished": len(ids) - len(final)}
        for st in final.values():
            out[st] += 1
        return out


def summarize(name, records, stats, reqs, drained, scale):
    recs = [r for r in records if r]
    n = len(records)
    answered = [r for r in recs if r["outcome"] == "answered"]
    lat_all = [r["latency"] if r["outcome"] == "answered" else math.inf for r in recs]
    lat_all += [math.inf] * (n - len(recs))
    lat_ok = sorted(r["latency"] for r in answered)
    delivered = set()
    for r in answered:
        m = URL_RID.search(r["url"])
        if m:
            delivered.add(m.group(1))
    rq = reqs["requests"]
    by_ep = {}
    for ep in (PRIMARY, BACKUP):
        mine = [x for x in rq if x["endpoint"] == ep]
        billed = [x for x in mine if x["billed"]]
        wasted = [x for x in billed if x["id"] not in delivered]
        by_ep[NAME[ep]] = {
            "accepted": stats["accepted"].get(ep, 0), "submits": stats["submits"].get(ep, 0),
            "fetched": stats["fetched"].get(ep, 0), "billed": len(billed),
            "cancels_free": stats["cancels_in_queue"].get(ep, 0),
            "cancels_billed": stats["cancels_in_progress"].get(ep, 0),
            "cancels_late": stats["cancels_completed"].get(ep, 0),
            "fault_errors": stats["fault_errors"].get(ep, 0),
            "fault_hangs": stats["fault_hangs"].get(ep, 0),
            "in_progress_max": stats["in_progress_max_by_endpoint"].get(ep, 0),
            "spend": len(billed) * PRICE[ep], "wasted": len(wasted) * PRICE[ep],
            "wasted_requests": len(wasted)}
    acc = sum(e["accepted"] for e in by_ep.values())
    fetched = sum(e["fetched"] for e in by_ep.values())
    outcomes = {}
    for r in recs:
        outcomes[r["outcome"]] = outcomes.get(r["outcome"], 0) + 1
    fetched_ids = {x["id"] for x in rq if x["fetched"]}
    return {
        "contender": name, "tryons": n, "answered": len(answered),
        "answered_rate": len(answered) / n if n else 0.0, "outcomes": outcomes,
        "errors": sorted({r.get("error", "")[:120] for r in recs if r.get("error")})[:8],
        "p50_s": pct(lat_all, 50), "p95_s": pct(lat_all, 95),
        "p50_answered_s": pct(lat_ok, 50) if lat_ok else None,
        "p95_answered_s": pct(lat_ok, 95) if lat_ok else None,
        "max_answered_s": lat_ok[-1] if lat_ok else None,
        "latencies_answered_s": lat_ok,
        "accepted": acc, "images_fetched": fetched,
        "accepted_per_image": acc / fetched if fetched else None,
        "cancels_free": sum(e["cancels_free"] for e in by_ep.values()),
        "cancels_billed": sum(e["cancels_billed"] for e in by_ep.values()),
        "cancels_late": sum(e["cancels_late"] for e in by_ep.values()),
        "billed": sum(e["billed"] for e in by_ep.values()),
        "spend_usd": round(sum(e["spend"] for e in by_ep.values()), 4),
        "wasted_usd": round(sum(e["wasted"] for e in by_ep.values()), 4),
        "in_progress_max": stats["in_progress_max"], "endpoints": by_ep,
        "distinct_pairs_answered": len({r["pair"] for r in answered}),
        "delivered_not_fetched": sorted(delivered - fetched_ids)[:5],
        "requests_listed": len(rq), "throttled": sum(stats["throttled"].values()),
        "max_send_late_s": max((r["late"] for r in recs), default=0.0),
        "final_states": drained, "records": recs}


# --------------------------------------------------------------- output ---
ROWS = [
    ("answered in time", lambda r: f"{r['answered']}/{r['tryons']} ({r['answered_rate'] * 100:.1f} %)"),
    ("p50 latency", lambda r: sec(r["p50_s"], r)),
    ("p95 latency", lambda r: sec(r["p95_s"], r)),
    ("accepted requests (primary + backup)",
     lambda r: f"{r['accepted']} ({r['endpoints']['primary']['accepted']} + "
               f"{r['endpoints']['backup']['accepted']})"),
    ("images fetched", lambda r: str(r["images_fetched"])),
    ("accepted requests per image", lambda r: f"{r['accepted_per_image']:.2f}"
     if r["accepted_per_image"] else "-"),
    ("cancels: free (in queue) / billed (running)",
     lambda r: f"{r['cancels_free']} / {r['cancels_billed']}"),
    ("billed requests", lambda r: str(r["billed"])),
    ("total spend", lambda r: f"${r['spend_usd']:.2f}"),
    ("wasted spend", lambda r: f"${r['wasted_usd']:.2f}"),
    ("most requests in progress at once", lambda r: str(r["in_progress_max"])),
]


def sec(x, r):
    if x == math.inf:
        return "not answered"
    return f"{x:.2f} s ({x / r['scale']:.1f} s real)"


def table(results, scale):
    for r in results:
        r["scale"] = scale
    head = ["", *[r["contender"] for r in results]]
    rows = [[name, *[f(r) for r in results]] for name, f in ROWS]
    widths = [max(len(str(x[i])) for x in [head] + rows) for i in range(len(head))]
    text = "\n".join("  ".join(str(c).ljust(w) for c, w in zip(row, widths))
                     for row in [head] + rows)
    md = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    md += ["| " + " | ".join(row) + " |" for row in rows]
    return text, "\n".join(md)


def profile_text(args, seq):
    sc = args.scale
    p = PROFILE
    distinct = len(set(seq))
    return (f"Time scale {sc:g} (seconds below are the seed's, scaled in the run). "
            f"{len(seq)} try-ons over {distinct} pairs (Zipf s={args.zipf:g}, seed {args.seed}), "
            f"one every {p['interval']:g} s; {args.slots} slots each. "
            f"Primary {p['primary_time'][0]:g}-{p['primary_time'][1]:g} s, "
            f"{p['primary_error_rate'] * 100:g} % errors (HTTP {args.error_code}, {'refused at submit' if args.errors_at == 'submit' else 'after running'}), "
            f"{p['primary_hang_rate'] * 100:g} % hangs; backup {p['backup_time'][0]:g}-"
            f"{p['backup_time'][1]:g} s; soft limit {p['soft_limit']:g} s, hard "
            f"{p['hard_limit']:g} s, one retry after {p['retry_countdown']:g} s; the client "
            f"waits {p['client_wait']:g} s. Prices ${PRICE[PRIMARY]} primary, "
            f"${PRICE[BACKUP]} backup per billed request.")


def plot(results, path, scale, soft, wait):
    """Latency CDF of both contenders, with gnuplot (as bench.py's plots)."""
    import subprocess
    base = os.path.splitext(path)[0]
    series = []
    for i, r in enumerate(results):
        lat = r["latencies_answered_s"]
        n = r["tryons"]
        dat = f"{base}.{i}.dat"
        with open(dat, "w") as f:
            f.write("0 0\n")
            for k, x in enumerate(lat):
                f.write(f"{x} {k / n}\n{x} {(k + 1) / n}\n")
            f.write(f"{wait * 1.05} {len(lat) / n}\n")
        series.append(f'"{dat}" using 1:2 with lines lw 2 title "{r["contender"]} '
                      f'({r["answered"]}/{n} answered)"')
    script = (f'set terminal pngcairo size 820,460 font "DejaVu Sans,9" noenhanced\n'
              f'set output "{path}"\n'
              f'set title "Production day in miniature: latency CDF"\n'
              f'set xlabel "latency, s (time scale {scale:g}; x{1 / scale:g} for the seed\'s seconds)"\n'
              f'set ylabel "fraction of try-ons answered"\n'
              f'set xrange [0:{wait * 1.05}]\nset yrange [0:1.02]\nset grid\nset key right center\n'
              f'set arrow from {soft},0 to {soft},1.02 nohead dt 2 lc rgb "grey"\n'
              f'set label "soft limit" at {soft},0.35 right rotate by 90 tc rgb "grey"\n'
              f'set arrow from {wait},0 to {wait},1.02 nohead dt 3 lc rgb "grey"\n'
              f'set label "client gives up" at {wait},0.35 right rotate by 90 tc rgb "grey"\n'
              f'plot ' + ", ".join(series) + "\n")
    gp = base + ".gp"
    with open(gp, "w") as f:
        f.write(script)
    subprocess.run(["gnuplot", gp], check=True, capture_output=True, timeout=60)


# ----------------------------------------------------------------- main ---
def ensure_packages():
    missing = []
    for mod, pkg in (("celery", "python3-celery"), ("redis", "python3-redis"),
                     ("requests", "python3-requests")):
        try:
            __import__(mod)
        except ImportError:
            missing.append(pkg)
    if not missing:
        return True
    if os.geteuid() == 0 and shutil.which("apt-get"):
        log(f"installing {' '.join(missing)} (Debian packages)")
        import subprocess
        subprocess.run(["apt-get", "install", "-y", "--no-install-recommends"] + missing,
                       check=True, stdout=subprocess.DEVNULL)
        return True
    print(f"bench-day: missing: apt-get install -y {' '.join(missing)}")
    return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--short", action="store_true",
                    help="a short run with checks (make test); build/bench-day-short/")
    ap.add_argument("--scale", type=float, default=None,
                    help="time scale (default 0.1; 0.05 with --short)")
    ap.add_argument("--tryons", type=int, default=None, help="default 120 (36 with --short)")
    ap.add_argument("--pairs", type=int, default=None, help="default 60 (18 with --short)")
    ap.add_argument("--slots", type=int, default=4, help="job slots of each contender")
    ap.add_argument("--zipf", type=float, default=1.0, help="popularity exponent s")
    ap.add_argument("--seed", type=int, default=16, help="seeds the schedule and the faults")
    ap.add_argument("--errors-at", choices=("submit", "run"), default="submit",
                    help="where the primary's errors happen: refused at submit (5xx, nothing "
                         "accepted; the issue's profile) or after running (accepted, 5xx result)")
    ap.add_argument("--error-code", type=int, default=500,
                    help="HTTP code of the primary's errors (5xx are not billed)")
    ap.add_argument("--queue-time", default="0,0", metavar="LO,HI",
                    help="queue time range of both models, seed's seconds (default 0,0)")
    ap.add_argument("--only", default="tryon-worker,python",
                    help="contenders, comma-separated: tryon-worker,python")
    ap.add_argument("--worker-env", action="append", default=[], metavar="K=V",
                    help="extra environment for tryon-worker (repeatable)")
    ap.add_argument("--out", default=None, help="results directory")
    args = ap.parse_args()
    preset = SHORT if args.short else FULL
    for k in ("scale", "tryons", "pairs"):
        if getattr(args, k) is None:
            setattr(args, k, preset[k])
    args.queue_time = [float(x) for x in args.queue_time.split(",")]
    for kv in args.worker_env:
        if "=" not in kv:
            ap.error(f"--worker-env wants K=V, got {kv!r}")
    if not ensure_packages():
        return 2
    out = args.out or os.path.join(ROOT, "build", "bench-day-short" if args.short else "bench-day")
    os.makedirs(out, exist_ok=True)
    t0 = time.monotonic()
    seq = schedule(args.tryons, args.pairs, args.zipf, args.seed)
    day = Day(args)
    contenders = {"tryon-worker": TryonWorker(day), "python": PythonBaseline(day)}
    results = []
    try:
        for name in [x for x in args.only.split(",") if x]:
            log(f"== {name} (at {time.monotonic() - t0:.1f} s)")
            try:
                results.append(day.run_one(contenders[name], seq))
            except Exception as e:  # noqa: BLE001 - report it, run the other one
                import traceback
                traceback.print_exc()
                day.check(f"{name}: ran to the end", False, repr(e)[:300])
    finally:
        day.s.cleanup_test()
        day.s.close()
    if not results:
        print("0 passed, 1 failed")
        return 1
    text, md = table(results, args.scale)
    print(text)
    doc = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
           "mode": "short" if args.short else "full", "scale": args.scale,
           "profile": PROFILE, "prices": PRICE, "args": {k: v for k, v in vars(args).items()},
           "schedule": seq, "profile_text": profile_text(args, seq), "results": results,
           "tryon_worker": day.version}
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(finite(doc), f, indent=1)
    with open(os.path.join(out, "bench-day.md"), "w") as f:
        f.write(f"{doc['profile_text']}\n\n{md}\n\n![latency CDF](latency-cdf.png)\n")
    png = os.path.join(out, "latency-cdf.png")
    try:
        plot(results, png, args.scale, PROFILE["soft_limit"] * args.scale,
             PROFILE["client_wait"] * args.scale)
    except Exception as e:  # noqa: BLE001
        day.check("plot written", False, repr(e)[:300])
    log(f"results in {out}")
    elapsed = time.monotonic() - t0
    checks(day, results, out, elapsed, args)
    passed = sum(1 for c in day.checks if c[1])
    failed = len(day.checks) - passed
    for name, ok, detail in day.checks:
        if not ok:
            print(f"FAILED: {name} {detail}")
    print(f"bench-day: {elapsed:.1f} s")
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


def finite(x):
    """x with inf (not answered) as null: strict JSON."""
    if isinstance(x, float) and math.isinf(x):
        return None
    if isinstance(x, dict):
        return {k: finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [finite(v) for v in x]
    return x


def checks(day, results, out, elapsed, args):
    """Directions, not the goals: the harness measured something sane."""
    ck = day.check
    for r in results:
        n = r["contender"]
        ck(f"{n}: every try-on sent and waited for", len(r["records"]) == r["tryons"]
           and all("outcome" in x for x in r["records"]), f"{len(r['records'])}/{r['tryons']}")
        ck(f"{n}: answered > 80 %", r["answered_rate"] > 0.8, f"{r['answered_rate']:.2f}")
        ck(f"{n}: sends kept the schedule (late < 0.5 s)", r["max_send_late_s"] < 0.5,
           f"{r['max_send_late_s']:.3f} s")
        ck(f"{n}: p50 <= p95, answered latencies positive",
           r["p50_s"] <= r["p95_s"] and all(x > 0 for x in r["latencies_answered_s"]),
           f"{r['p50_s']} {r['p95_s']}")
        ck(f"{n}: every delivered image was fetched from the stand-in",
           not r["delivered_not_fetched"], str(r["delivered_not_fetched"]))
        ck(f"{n}: counters consistent (requests listed == accepted >= billed, fetched, "
           f"cancels)", r["requests_listed"] == r["accepted"] >= max(
               r["billed"], r["images_fetched"], r["cancels_free"] + r["cancels_billed"]),
           f"listed {r['requests_listed']} accepted {r['accepted']} billed {r['billed']} "
           f"fetched {r['images_fetched']}")
        ck(f"{n}: each answered pair needed an image (fetched >= distinct pairs answered)",
           r["images_fetched"] >= r["distinct_pairs_answered"],
           f"{r['images_fetched']} >= {r['distinct_pairs_answered']}")
        ck(f"{n}: spend >= wasted >= 0", r["spend_usd"] >= r["wasted_usd"] >= 0,
           f"{r['spend_usd']} {r['wasted_usd']}")
        ck(f"{n}: every task reached a final state", r["final_states"]["unfinished"] == 0,
           str(r["final_states"]))
    faults = sum(r["endpoints"]["primary"]["fault_errors"] + r["endpoints"]["primary"]["fault_hangs"]
                 for r in results)
    ck("the profile drew faults", faults > 0, str(faults))
    for f in ("results.json", "bench-day.md", "latency-cdf.png"):
        p = os.path.join(out, f)
        ck(f"{f} written", os.path.exists(p) and os.path.getsize(p) > 200, p)
    if args.short:
        ck("short run under 90 s", elapsed < 90, f"{elapsed:.1f} s")


if __name__ == "__main__":
    sys.exit(main())
