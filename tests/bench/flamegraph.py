#!/usr/bin/python3
"""flamegraph.py: `perf script` output -> folded stacks -> a flame graph SVG.

    perf script -F comm,tid,ip,sym | flamegraph.py --fold - --svg out.svg
    flamegraph.py --folded stacks.folded --svg out.svg

Debian does not package Brendan Gregg's FlameGraph scripts; this is the same
picture in ~150 lines: one rectangle per (stack prefix), width = samples,
root at the bottom, a <title> tooltip on each frame with its share, and a
plain-text top list (self time per function) printed to stdout."""
import argparse
import collections
import html
import sys
import zlib


def fold(lines):
    """perf script text (samples separated by blank lines; first line the
    comm/tid header, then one frame per line, leaf first) -> Counter of
    'root;...;leaf' -> samples."""
    out = collections.Counter()
    frames, header = [], None
    for line in list(lines) + [""]:
        line = line.rstrip("\n")
        if not line.strip():
            if header is not None:
                stack = [header] + list(reversed(frames)) if frames else [header]
                out[";".join(stack)] += 1
            frames, header = [], None
            continue
        if header is None:
            header = line.split()[0]
            continue
        parts = line.strip().split(None, 1)
        sym = parts[1] if len(parts) > 1 else parts[0]
        sym = sym.split("+0x")[0].replace(";", ":")
        if sym.startswith("("):
            sym = "[unknown]"
        frames.append(sym)
    return out


def squash_unknown(counts):
    """Runs of [unknown] frames (a frame-pointer walk through code without
    frame pointers, e.g. musl's assembly, reads garbage) become one."""
    out = collections.Counter()
    for stack, n in counts.items():
        frames = []
        for f in stack.split(";"):
            if not (f == "[unknown]" and frames and frames[-1] == "[unknown]"):
                frames.append(f)
        out[";".join(frames)] += n
    return out


def color(name):
    h = zlib.crc32(name.encode())
    if name.startswith("[k]") or "_[k]" in name or name.endswith("_[k]"):
        return f"rgb({200 + h % 55},{100 + h % 80},{50 + h % 40})"
    return f"rgb({225 + h % 30},{90 + (h >> 8) % 130},{(h >> 16) % 60})"


def render(counts, title, width=1200, row=16):
    root = {"n": 0, "kids": {}}
    for stack, n in counts.items():
        node = root
        node["n"] += n
        for f in stack.split(";"):
            node = node["kids"].setdefault(f, {"n": 0, "kids": {}})
            node["n"] += n
    total = root["n"] or 1

    def depth(node):
        return 1 + max((depth(k) for k in node["kids"].values()), default=0)
    rows = depth(root)
    height = (rows + 3) * row
    scale = (width - 20) / total
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="monospace" font-size="11">',
           f'<rect width="100%" height="100%" fill="#f8f8f0"/>',
           f'<text x="{width // 2}" y="{row}" text-anchor="middle" font-size="14">'
           f'{html.escape(title)} ({total} samples)</text>']

    def walk(name, node, x, level):
        w = node["n"] * scale
        y = height - (level + 1) * row - 4
        if w >= 0.3:
            pct = 100.0 * node["n"] / total
            label = html.escape(name)
            out.append(f'<g><title>{label} ({node["n"]} samples, {pct:.2f}%)</title>'
                       f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row - 1}" '
                       f'fill="{color(name)}" rx="2"/>')
            chars = int(w / 7)
            if chars >= 3:
                text = name if len(name) <= chars else name[:chars - 2] + ".."
                out.append(f'<text x="{x + 3:.1f}" y="{y + row - 4}">{html.escape(text)}</text>')
            out.append("</g>")
        cx = x
        for k in sorted(node["kids"]):
            walk(k, node["kids"][k], cx, level + 1)
            cx += node["kids"][k]["n"] * scale

    walk("all", root, 10, 0)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def top(counts, n=25):
    self_c, incl = collections.Counter(), collections.Counter()
    total = sum(counts.values()) or 1
    for stack, c in counts.items():
        fr = stack.split(";")
        self_c[fr[-1]] += c
        for f in set(fr):
            incl[f] += c
    lines = [f"{'self %':>7} {'incl %':>7}  function"]
    for f, c in self_c.most_common(n):
        lines.append(f"{100.0 * c / total:7.2f} {100.0 * incl[f] / total:7.2f}  {f}")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fold", help="perf script output ('-' = stdin)")
    ap.add_argument("--folded", help="folded stacks file")
    ap.add_argument("--folded-out", help="write the folded stacks here")
    ap.add_argument("--svg", required=True)
    ap.add_argument("--title", default="flame graph")
    a = ap.parse_args()
    if a.fold:
        src = sys.stdin if a.fold == "-" else open(a.fold)
        counts = fold(src)
    else:
        counts = collections.Counter()
        with open(a.folded) as f:
            for line in f:
                stack, _, n = line.rstrip("\n").rpartition(" ")
                counts[stack] += int(n)
    counts = squash_unknown(counts)
    if a.folded_out:
        with open(a.folded_out, "w") as f:
            for stack, n in sorted(counts.items()):
                f.write(f"{stack} {n}\n")
    with open(a.svg, "w") as f:
        f.write(render(counts, a.title))
    print(top(counts))


if __name__ == "__main__":
    main()
