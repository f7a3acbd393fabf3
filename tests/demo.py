#!/usr/bin/python3
"""make demo: run tryon-worker end to end on a self-contained local default.

Starts its own redis-server (broker, results and cache on DBs 0, 1 and 2),
the model API stand-in (HTTPS with a test CA made now, 2 s per image), and the
worker; submits try-ons with `tryon-worker submit --wait` and with the real
Python Celery client; prints for each the path taken and its latency; stops
everything it started and exits 0 (1 if a try-on did not end as expected)."""
import os
import sys
import time

# Entry scripts find the shared test modules the same way: tests/lib,
# from the script's own path (no PYTHONPATH, any working directory).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import itest  # noqa: E402

PRIMARY = "fal-ai/flux-2-lora-gallery/virtual-tryon"
BACKUP = "fal-ai/fashn/tryon/v1.6"


def say(msg=""):
    print(msg, flush=True)


def path_taken(before, after):
    """Which model calls a try-on made, from the stand-in's counters."""
    p = after["submits"].get(PRIMARY, 0) - before["submits"].get(PRIMARY, 0)
    b = after["submits"].get(BACKUP, 0) - before["submits"].get(BACKUP, 0)
    if not p and not b:
        return "cache hit (no model call)"
    if p and not b:
        return "primary model (Flux)"
    if b and not p:
        return "backup model (FASHN), primary skipped"
    return "backup model (FASHN) after the primary failed"


def main():
    s = itest.Session()
    failures = 0
    try:
        say("== tryon-worker demo: everything runs on this machine, on loopback")
        r = itest.Redis(s, password=itest.REDIS_PASSWORD)
        say(f"redis-server on 127.0.0.1:{r.port} (password protected): broker DB 0, results DB 1, cache DB 2")
        st = itest.Standin(s, model_time=2.0)
        say(f"model API stand-in (fal queue API over HTTPS, test CA) at {st.base}, 2 s per image")
        env = s.base_env(CELERY_BROKER_URL=r.url(0), CELERY_RESULT_BACKEND=r.url(1),
                         REDIS_CACHE_URL=r.url(2), FAL_QUEUE_URL=st.base, FAL_KEY=itest.FAL_KEY,
                         TRYON_CA_FILE=os.path.join(s.ca(), "ca.pem"), TRYON_HOSTNAME="celery@demo")
        say("\n$ tryon-worker doctor")
        d = s.run(["doctor"], env=env)
        for line in d.out.splitlines():
            say("  " + line)
        w = itest.Worker(s, env)
        say(f"\ntryon-worker started (pid {w.proc.pid}), 4 job slots, consuming tryon_queue")

        def submit_cli(person, garment, expect_path):
            nonlocal failures
            before = st.stats()
            t0 = time.monotonic()
            res = s.run(["submit", person, garment, "--wait", "30"], env=env)
            took = time.monotonic() - t0
            lines = res.out.split()
            path = path_taken(before, st.stats())
            ok = res.returncode == 0 and len(lines) == 2 and path == expect_path
            failures += not ok
            say(f"  submit --wait: task {lines[0] if lines else '?'}")
            say(f"    result  {lines[1] if len(lines) > 1 else res.err.strip()}")
            say(f"    path    {path}")
            say(f"    latency {took * 1000:.0f} ms (including the CLI's own start-up)")

        def submit_python(app, person, garment, expect_path):
            nonlocal failures
            before = st.stats()
            t0 = time.monotonic()
            try:
                url = app.send_task("app.tasks.virtual_tryon", args=[person, garment],
                                    queue="tryon_queue").get(timeout=30)
            except Exception as e:  # noqa: BLE001 - reported as an unexpected outcome
                url = f"{type(e).__name__}: {e}"
                expect_path = None
            took = time.monotonic() - t0
            path = path_taken(before, st.stats())
            failures += path != expect_path
            say(f"  Python virtual_tryon.delay(...).get(): {url}")
            say(f"    path    {path}")
            say(f"    latency {took * 1000:.0f} ms")

        p1, g1 = "https://example.com/people/ada.png", "https://example.com/garments/coat.png"
        say("\n1. A new person/garment pair: the primary model makes the image, the result is cached")
        submit_cli(p1, g1, "primary model (Flux)")

        say("\n2. The same pair again, from the unchanged Python client: answered from the cache")
        app = itest.celery_app(r.url(0), r.url(1))
        submit_python(app, p1, g1, "cache hit (no model call)")

        say("\n3. The primary model starts failing (HTTP 500): the backup model takes over")
        st.config(PRIMARY, "status:500")
        submit_python(app, "https://example.com/people/grace.png", g1,
                      "backup model (FASHN) after the primary failed")
        st.config(PRIMARY, "ok")

        say("\n4. An invalid argument: a clear ValueError, no model call, no retry")
        before = st.stats()
        try:
            app.send_task("app.tasks.virtual_tryon", args=["not a url", g1], queue="tryon_queue").get(timeout=10)
            failures += 1
            say("  unexpected success")
        except ValueError as e:
            say(f"  ValueError: {e}")
            calls = sum(st.stats()["submits"].values()) - sum(before["submits"].values())
            failures += calls != 0
            say(f"    model calls: {calls}")

        say("\n5. Health from inside the worker: app.tasks.health_check")
        res = s.run(["call", "app.tasks.health_check", "--wait", "10"], env=env)
        say("  " + res.out.strip().splitlines()[-1] if res.out.strip() else res.err)

        w.stop()
        say("\nworker stopped with SIGTERM (graceful drain); stand-in and redis-server stopped next.")
        say("demo: " + ("all try-ons ended as expected" if not failures else f"{failures} unexpected outcome(s)"))
        return 1 if failures else 0
    finally:
        s.close()   # the Celery app first, while Redis is still up (itest)


if __name__ == "__main__":
    sys.exit(main())
