#!/usr/bin/python3
"""Integration test runner: real static binary, real redis-server, real
Python Celery client, local HTTPS stand-in. Discovers test_*.py here, runs
every test_* function with a shared Session, each under its own time limit,
and prints the plain closing line "N passed, N failed, N skipped".

Usage: runner.py [-k SUBSTRING] [-x]
"""
import argparse
import gc
import importlib.util
import os
import signal
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402


class TestTimeout(Exception):
    pass


def _on_alarm(signum, frame):
    raise TestTimeout("test exceeded its time limit")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-k", default=os.environ.get("TRYON_TEST_FILTER", ""))
    ap.add_argument("-x", action="store_true", help="stop at the first failure")
    args = ap.parse_args()

    here = os.path.dirname(os.path.abspath(__file__))
    files = sorted(f for f in os.listdir(here) if f.startswith("test_") and f.endswith(".py"))
    passed = failed = skipped = 0
    session = lib.Session()
    signal.signal(signal.SIGALRM, _on_alarm)
    try:
        for f in files:
            spec = importlib.util.spec_from_file_location(f[:-3], os.path.join(here, f))
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            tests = [(n, getattr(mod, n)) for n in dir(mod) if n.startswith("test_") and callable(getattr(mod, n))]
            tests.sort(key=lambda t: t[1].__code__.co_firstlineno)
            for name, fn in tests:
                full = f"{f[:-3]}.{name}"
                if args.k and args.k not in full:
                    continue
                limit = getattr(fn, "time_limit", 120)
                t0 = time.monotonic()
                signal.alarm(int(limit))
                try:
                    fn(session)
                    signal.alarm(0)
                    passed += 1
                    print(f"PASS {full} ({time.monotonic() - t0:.1f}s)", flush=True)
                except lib.Skip as e:
                    signal.alarm(0)
                    skipped += 1
                    print(f"SKIP {full}: {e}", flush=True)
                except BaseException as e:  # noqa: BLE001 - a test may fail in any way
                    signal.alarm(0)
                    if isinstance(e, KeyboardInterrupt):
                        raise
                    failed += 1
                    print(f"FAIL {full} ({time.monotonic() - t0:.1f}s)", flush=True)
                    traceback.print_exc(file=sys.stdout)
                    sys.stdout.flush()
                finally:
                    # Celery result objects unsubscribe on collection: let
                    # that happen while the test's redis-server still runs.
                    gc.collect()
                    session.cleanup_test()
                if failed and args.x:
                    break
            if failed and args.x:
                break
    finally:
        session.close()
    print(f"{passed} passed, {failed} failed, {skipped} skipped", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
