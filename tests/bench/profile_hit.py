#!/usr/bin/python3
"""profile_hit.py: where the parent's CPU goes on the cache-hit path.

    profile_hit.py callgrind [--slots 128] [--n 3000]
        instructions per cache hit: two callgrind runs of the worker (n and
        2n tasks, queue pre-filled), the difference divided by n, so start-up
        and shutdown cancel out. Deterministic: the number to compare
        before/after on a shared, noisy machine. Keeps the larger run's
        callgrind.out (callgrind_annotate it).
    profile_hit.py latency [--n 500]
        cache-hit latency at 50/s from send_task's return (tryon-worker only,
        bench.py's method) and the PING floor.
    profile_hit.py perf --svg docs/bench/flame-hit-before.svg [--slots 128]
        perf record (cpu-clock, frame-pointer call graphs) of the parent while
        it drains a full queue at full speed, folded by flamegraph.py into an
        SVG. Needs a build with -fno-omit-frame-pointer (perf's DWARF
        unwinding gives only the leaf frame for this static musl binary):
            make BUILD=/tmp/fp CFLAGS='-std=c11 $(WARN) -O2 -g \
                -fno-omit-frame-pointer -fstack-protector-strong -fno-common -MMD -MP'
            TRYON_BINARY=/tmp/fp/tryon-worker.debug profile_hit.py perf ...

Uses bench.py's harness (one redis-server, the HTTPS stand-in, messages built
once by the real client); TRYON_BINARY should be the unstripped build
(tryon-worker.debug) so both tools see symbols. Every process is started by
lib.Session and stopped by its PID."""
import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench as B  # noqa: E402

lib = B.lib


def worker_env(b, slots):
    env = lib.worker_env(b.s, b.redis, broker_db=B.BROKER_DB, result_db=B.RESULT_DB,
                         REDIS_CACHE_URL=b.redis.url(B.CACHE_DB), FAL_KEY=lib.FAL_KEY,
                         FAL_QUEUE_URL=b.standin.base, TRYON_CA_FILE=b.ca_file,
                         TRYON_CONCURRENCY=slots, TRYON_ENABLE_TEST_TASKS="0",
                         TRYON_HTTP_ADDR=f"127.0.0.1:{lib.free_port()}",
                         TRYON_HOSTNAME="bench@localhost")
    return {k: str(v) for k, v in env.items()}


def drain(b, n, slots, wrapper, timeout):
    """Publish n cache hits, run the worker under `wrapper` until all n
    results exist, stop it (SIGTERM: it exits cleanly, tools flush)."""
    b.flush()
    msgs, _ids = b.hit_messages(n)
    b.publish(msgs)
    del msgs
    p = b.s.start("worker", wrapper + [lib.BINARY, "worker"], env=worker_env(b, slots))
    t0 = time.monotonic()
    try:
        lib.wait_for(lambda: b.results_count() >= n or not p.alive(), timeout,
                     f"{n} results", interval=0.05)
        took = time.monotonic() - t0
        assert b.results_count() >= n, p.stderr_text()[-3000:]
    finally:
        p.stop(120)
        b.s.procs_test.remove(p)
    return took, p


def callgrind_total(path):
    with open(path) as f:
        for line in f:
            if line.startswith("totals:") or line.startswith("summary:"):
                return int(line.split()[1])
    raise AssertionError(f"no totals in {path}")


def run_callgrind(b, a):
    outs = {}
    for n in (a.n, 2 * a.n):
        out = os.path.join(a.dir, f"callgrind.out.{n}")
        drain(b, n, a.slots, ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                              "--trace-children=no"], 600)
        outs[n] = callgrind_total(out)
    per = (outs[2 * a.n] - outs[a.n]) / a.n
    print(f"callgrind: {outs[a.n]} Ir for {a.n} tasks, {outs[2 * a.n]} Ir for {2 * a.n}; "
          f"{per:.0f} instructions per cache hit (slots {a.slots})")
    print(f"profile: callgrind_annotate {os.path.join(a.dir, f'callgrind.out.{2 * a.n}')}")


def run_perf(b, a):
    data = os.path.join(a.dir, "perf.data")
    b.flush()
    msgs, _ids = b.hit_messages(a.n)
    b.publish(msgs)
    del msgs
    p = b.s.start("worker", [lib.BINARY, "worker"], env=worker_env(b, a.slots))
    lib.wait_for(lambda: b.results_count() >= a.n // 10, 60, "the first tenth")
    rec = subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock", "-F", "4000",
                            "--call-graph", "fp", "-o", data, "-p", str(p.pid)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    c0 = b.results_count()
    t0 = time.monotonic()
    lib.wait_for(lambda: b.results_count() >= a.n * 0.9 or not p.alive(), 120, "90 %")
    c1, t1 = b.results_count(), time.monotonic()
    rec.send_signal(2)
    rec.wait(60)
    p.stop(60)
    b.s.procs_test.remove(p)
    print(f"perf: {c1 - c0} tasks in {t1 - t0:.2f} s while recording "
          f"({(c1 - c0) / (t1 - t0):.0f}/s, slowed by the recording)")
    script = subprocess.run(["perf", "script", "-i", data, "-F", "comm,tid,ip,sym"],
                            capture_output=True, text=True).stdout
    folded = os.path.join(a.dir, "hit.folded")
    subprocess.run([B.PYTHON, os.path.join(HERE, "flamegraph.py"), "--fold", "-",
                    "--svg", a.svg, "--folded-out", folded,
                    "--title", a.title or f"tryon-worker parent, cache hits, {a.slots} slots"],
                   input=script, text=True, check=True)
    print(f"flame graph: {a.svg}; folded stacks: {folded}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tool", choices=("callgrind", "perf", "latency"))
    ap.add_argument("--slots", type=int, default=128)
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--svg", default="flame.svg")
    ap.add_argument("--title", default="")
    ap.add_argument("--dir", default=None, help="where tool output goes (default: a temp dir)")
    a = ap.parse_args()
    bargs = argparse.Namespace(smoke=True, standin_as_is=False)
    b = B.Bench(bargs)
    a.dir = a.dir or b.s.tmp
    os.makedirs(a.dir, exist_ok=True)
    try:
        b.fill_cache()
        if a.tool == "callgrind":
            run_callgrind(b, a)
        elif a.tool == "latency":
            b.smoke = False
            fl = b.ping_floor(20000)
            r = b.latency_run(b.ours, 4, 50, a.n if a.n != 3000 else 500)
            print(f"latency after send_task: p50 {r['after_send_p50_ms']:.3f} ms, p99 "
                  f"{r['after_send_p99_ms']:.3f} ms; floor 3 x PING p50 {fl.get('three_rtt_ms', 0):.3f} ms")
        else:
            if a.n == 3000:
                a.n = 60000
            run_perf(b, a)
    finally:
        if a.dir == b.s.tmp:
            os.environ["TRYON_KEEP_TMP"] = "1"
        b.s.close()


if __name__ == "__main__":
    main()
