#!/usr/bin/env python3
"""incgraph: the include graph of src/ (quoted includes, resolved by file
name, as the Makefile's -I list does), and the layering rules it must keep.

  scripts/incgraph.py            prints every cycle and broken rule; exit 1 if any
  scripts/incgraph.py --dot      the graph in Graphviz dot

Rules: no include cycle; no file of src/l7 includes a BPF ABI header
(src/bpf/shared/*_abi.h: a kernel engine's ABI is src/relay's business);
src/l7/upool.c knows no session (no sess*.h, no sess_ call)."""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
INC = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def files():
    out = {}
    for d, _, names in os.walk(ROOT):
        for n in names:
            if n.endswith((".c", ".h")):
                out[n] = os.path.join(d, n)
    return out


def main():
    fs = files()
    graph = {}
    for name, path in fs.items():
        text = open(path, encoding="utf-8").read()
        graph[name] = [os.path.basename(i) for i in INC.findall(text) if os.path.basename(i) in fs]
    if "--dot" in sys.argv:
        print("digraph src {")
        for a, bs in sorted(graph.items()):
            for b in bs:
                print(f'  "{a}" -> "{b}";')
        print("}")
        return 0
    bad = []
    # cycles: a DFS with colours; every back edge closes one
    colour, stack = {}, []

    def visit(n):
        colour[n] = 1
        stack.append(n)
        for m in graph[n]:
            if colour.get(m) == 1:
                bad.append("cycle: " + " -> ".join(stack[stack.index(m):] + [m]))
            elif not colour.get(m):
                visit(m)
        stack.pop()
        colour[n] = 2

    for n in sorted(graph):
        if not colour.get(n):
            visit(n)
    for name, path in fs.items():
        if "/l7/" in path:
            for i in graph[name]:
                if i.endswith("_abi.h"):
                    bad.append(f"{name} includes the BPF ABI header {i}")
    up = fs.get("upool.c")
    if up:
        text = open(up, encoding="utf-8").read()
        for i in graph["upool.c"]:
            if i.startswith("sess"):
                bad.append(f"upool.c includes {i}")
        if re.search(r"\bsess_\w+\s*\(", text):
            bad.append("upool.c calls into the session")
    edges = sum(len(v) for v in graph.values())
    print(f"incgraph: {len(graph)} files, {edges} includes, {len(bad)} problem(s)")
    for b in bad:
        print("  " + b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
