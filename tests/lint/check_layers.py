#!/usr/bin/python3
"""check_layers: the architecture rules of src/, checked from the #include
lines (a module uses another exactly when it includes its header).

1. No cycle among modules (a module is a .c/.h pair: src/worker/jobs).
2. Folders only reach down: lib reaches nothing; config and version (src/)
   reach lib (config also redis_url); celery, redis and ops reach lib;
   tryon reaches lib, config, redis, celery; worker reaches all of those;
   the commands in src/ (main, client, doctor, healthcheck) anything.
3. No .c file above 1,200 lines.
Prints one line per violation and the closing "N passed, N failed".
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src")
ALLOWED = {
    "lib": {"lib"},
    "base": {"lib", "base", "redis"},
    "redis": {"lib", "redis"},
    "celery": {"lib", "celery"},
    "ops": {"lib", "ops"},
    "tryon": {"lib", "base", "redis", "celery", "tryon"},
    "worker": {"lib", "base", "redis", "celery", "tryon", "ops", "worker"},
    "top": {"lib", "base", "redis", "celery", "tryon", "ops", "worker", "top"},
}
# config (the parsed environment) and version (build facts) live in src/
# but are leaves every layer above lib may read.
BASE = {"top/config", "top/version"}
MAX_LINES = 1200


def module_of(path):
    rel = os.path.relpath(path, ROOT)
    stem = os.path.splitext(rel)[0]
    return stem if "/" in stem else "top/" + stem


def folder(mod):
    return "base" if mod in BASE else mod.split("/")[0]


def main():
    deps, lines = {}, {}
    for d, _, files in os.walk(ROOT):
        for f in files:
            if not f.endswith((".c", ".h")):
                continue
            p = os.path.join(d, f)
            mod = module_of(p)
            text = open(p, encoding="utf-8").read()
            if f.endswith(".c"):
                lines[os.path.relpath(p, ROOT)] = text.count("\n")
            for inc in re.findall(r'^#include "([^"]+)\.h"', text, re.M):
                target = inc if "/" in inc else "top/" + inc
                if target != mod and os.path.exists(os.path.join(ROOT, inc + ".h")):
                    deps.setdefault(mod, set()).add(target)
    failed = passed = 0

    # 1. cycles (depth-first search with colours)
    colour, stack, cycles = {}, [], []

    def visit(m):
        colour[m] = 1
        stack.append(m)
        for n in sorted(deps.get(m, ())):
            if colour.get(n) == 1:
                cycles.append(stack[stack.index(n):] + [n])
            elif not colour.get(n):
                visit(n)
        stack.pop()
        colour[m] = 2

    for m in sorted(deps):
        if not colour.get(m):
            visit(m)
    for c in cycles:
        print("cycle: " + " -> ".join(c))
    failed += bool(cycles)
    passed += not cycles

    # 2. layers
    bad = [(m, n) for m, ns in deps.items() for n in ns if folder(n) not in ALLOWED[folder(m)]]
    for m, n in sorted(bad):
        print(f"layer: {m} uses {n}")
    failed += bool(bad)
    passed += not bad

    # 3. file size
    big = {f: n for f, n in lines.items() if n > MAX_LINES}
    for f, n in sorted(big.items()):
        print(f"size: src/{f} has {n} lines (> {MAX_LINES})")
    failed += bool(big)
    passed += not big

    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
