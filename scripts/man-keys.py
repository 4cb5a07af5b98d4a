#!/usr/bin/env python3
"""man-keys.py: every key the cluster file parser knows is documented in
tandem.ini(5), under its own section, and nothing else is.

Keys come from src/core/cfg.c: inside each cfg_key_SECTION[_more]()
function, every `strcmp(k, "KEY")` and every table row `{ "KEY", IDENT`
(the time keys of [l7], the matchers of [rule]); sections from
cfg_handler's `strcmp(section, "S")` / `strncmp(section, "S", n)`.
Documented keys are the definition lines `*KEY* = ...` under the heading
`## [SECTION ...]` of doc/man/tandem.ini.5.scd.
Usage: man-keys.py [CFG_C [SCD]]. Exit 0, or 1 listing every difference."""
import re
import sys
from pathlib import Path

root = Path(__file__).resolve().parent.parent
cfg_c = Path(sys.argv[1]) if len(sys.argv) > 1 else root / "src/core/cfg.c"
scd = Path(sys.argv[2]) if len(sys.argv) > 2 else root / "doc/man/tandem.ini.5.scd"
src = cfg_c.read_text()

parsed = {}          # section -> set of keys
for m in re.finditer(r"^static int cfg_key_(\w+)\(.*?^}", src, re.S | re.M):
    section = m.group(1).split("_")[0]
    body = m.group(0)
    keys = set(re.findall(r'strcmp\(k, "([A-Za-z0-9_]+)"\)', body))
    keys |= set(re.findall(r'\{\s*"([A-Za-z0-9_]+)",\s*[A-Za-z_]', body))
    parsed.setdefault(section, set()).update(keys)

handler = re.search(r"^static int cfg_handler\(.*?^}", src, re.S | re.M)
sections = set(re.findall(r'strn?cmp\(section, "(\w+)"', handler.group(0))) if handler else set()

documented = {}      # section -> set of keys
cur = None
for line in scd.read_text().splitlines():
    h = re.match(r"^## \[(\w+)", line)
    if h:
        cur = h.group(1)
        documented.setdefault(cur, set())
        continue
    if line.startswith("# "):
        cur = None
        continue
    d = re.match(r"^\*([A-Za-z0-9_]+)\* =", line)
    if d and cur:
        documented[cur].add(d.group(1))

bad = []
if not sections:
    bad.append(f"{cfg_c}: no section found in cfg_handler (has the parser changed shape?)")
for s in sorted(sections - parsed.keys()):
    bad.append(f"{cfg_c}: section [{s}] has no cfg_key_{s}() to read its keys from")
for s, keys in sorted(parsed.items()):
    if not keys:
        bad.append(f"{cfg_c}: cfg_key_{s}*() yields no key (has the parser changed shape?)")
    if s not in documented:
        bad.append(f"{scd}: no section heading '## [{s}' for the keys of [{s}]")
        continue
    for k in sorted(keys - documented[s]):
        bad.append(f"{scd}: [{s}] {k}: parsed by {cfg_c.name}, not documented")
    for k in sorted(documented[s] - keys):
        bad.append(f"{scd}: [{s}] {k}: documented, but {cfg_c.name} does not parse it")
for s in sorted(documented.keys() - parsed.keys()):
    bad.append(f"{scd}: section [{s}] documented, but {cfg_c.name} has no such section")

total = sum(len(k) for k in parsed.values())
print(f"{cfg_c.name}: {total} keys in {len(parsed)} sections "
      + ", ".join(f"[{s}] {len(k)}" for s, k in sorted(parsed.items())))
for b in bad:
    print(b)
sys.exit(1 if bad else 0)
