#!/usr/bin/python3
"""Integration test runner: real static binary, real redis-server, real
Python Celery client, local HTTPS stand-in. Discovers test_*.py here, runs
every test_* function with a shared Session (tests/lib/itest.py), each
under its own time limit, and prints the plain closing line
"N passed, N failed, N skipped".

Every test must pass alone and in any order: --shuffle runs them (across
files) in a random order and prints the seed that reproduces it.

Usage: runner.py [-k SUBSTRING] [-x] [--list] [--shuffle [SEED]]
"""
import argparse
import importlib.util
import os
import random
import signal
import sys
import time
import traceback

# Entry scripts find the shared test modules the same way: tests/lib,
# from the script's own path (no PYTHONPATH, any working directory).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import itest  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


class TestTimeout(Exception):
    pass


def _on_alarm(signum, frame):
    raise TestTimeout("test exceeded its time limit")


def discover():
    """([(full name, function)], [(file, error text)]) in file, then line order."""
    tests, broken = [], []
    for f in sorted(os.listdir(HERE)):
        if not (f.startswith("test_") and f.endswith(".py")):
            continue
        name = f[:-3]
        try:
            spec = importlib.util.spec_from_file_location(name, os.path.join(HERE, f))
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
        except Exception:  # noqa: BLE001 - a broken file is a failure, not a crash
            broken.append((name, traceback.format_exc()))
            continue
        # Only functions defined in the file itself (not imported ones).
        fns = [v for n, v in vars(mod).items() if n.startswith("test_") and callable(v)
               and getattr(v, "__module__", None) == name]
        fns.sort(key=lambda fn: fn.__code__.co_firstlineno)
        tests += [(f"{name}.{fn.__name__}", fn) for fn in fns]
    return tests, broken


def main():
    ap = argparse.ArgumentParser(description="Run the integration tests.")
    ap.add_argument("-k", default=os.environ.get("TRYON_TEST_FILTER", ""),
                    help="run only tests whose FILE.FUNCTION contains this")
    ap.add_argument("-x", action="store_true", help="stop at the first failure")
    ap.add_argument("--list", action="store_true", help="print the selected tests in run order, run nothing")
    ap.add_argument("--shuffle", nargs="?", type=int, const=-1, default=None, metavar="SEED",
                    help="run in a random order (seeded; without SEED a new one is drawn)")
    args = ap.parse_args()

    tests, broken = discover()
    tests = [t for t in tests if args.k in t[0]]
    broken = [b for b in broken if not args.k or args.k in b[0] or b[0] in args.k]
    if args.shuffle is not None:
        seed = args.shuffle if args.shuffle >= 0 else random.SystemRandom().randrange(1, 10**6)
        random.Random(seed).shuffle(tests)
        print(f"shuffle seed {seed} (again: runner.py --shuffle {seed}"
              f"{' -k ' + args.k if args.k else ''})", flush=True)
    if not tests and not broken:
        print(f"no test matches -k {args.k!r}", file=sys.stderr)
        return 2
    if args.list:
        for full, _ in tests:
            print(full)
        for name, _ in broken:
            print(f"{name} (does not import)")
        return 1 if broken else 0

    passed = failed = skipped = 0
    for name, err in broken:
        failed += 1
        print(f"FAIL {name} (does not import)\n{err}", flush=True)
    if failed and args.x:
        tests = []
    session = itest.Session() if tests else None
    signal.signal(signal.SIGALRM, _on_alarm)
    try:
        for full, fn in tests:
            limit = getattr(fn, "time_limit", 120)
            t0 = time.monotonic()
            signal.alarm(int(limit))
            try:
                fn(session)
                signal.alarm(0)
                passed += 1
                print(f"PASS {full} ({time.monotonic() - t0:.1f}s)", flush=True)
            except itest.Skip as e:
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
                session.cleanup_test()
            if failed and args.x:
                break
    finally:
        if session:
            session.close()
    print(f"{passed} passed, {failed} failed, {skipped} skipped", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
