#!/usr/bin/env bash
# src_layers.t: the layering of src/ that the connection-layer redesign set
# up (scripts/incgraph.py): no include cycle, no BPF ABI header in src/l7
# (kernel engines are src/relay's), and a pool that knows no session.
source "$(dirname "$0")/tap.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
out=$(python3 "$ROOT/scripts/incgraph.py" 2>&1)
rc=$?
while IFS= read -r l; do diag "$l"; done <<< "$out"
is "$rc" 0 "include graph of src/: no cycle, no ABI header in l7, upool knows no session"
done_testing
