#!/usr/bin/env python3
"""body.py: the body cacheorigin serves for a request target, recomputed
independently (same hash, size rule and generator as cacheorigin.c), so the
bench can check what clients get through tandem.
  body.py MIN MAX TARGET...   prints "TARGET SIZE SHA256" per target"""
import hashlib
import sys

M64 = (1 << 64) - 1


def obj_hash(target: bytes) -> int:
    h = 0xcbf29ce484222325
    for c in target:
        h ^= c
        h = (h * 0x100000001b3) & M64
    h = ((h ^ (h >> 33)) * 0xff51afd7ed558ccd) & M64
    h = ((h ^ (h >> 33)) * 0xc4ceb9fe1a85ec53) & M64
    return h ^ (h >> 33)


def body(target: bytes, smin: int, smax: int) -> bytes:
    h = obj_hash(target)
    n = smin + h % (smax - smin + 1)
    x = h | 1
    out = bytearray()
    while len(out) < n:
        x ^= (x << 13) & M64
        x ^= x >> 7
        x ^= (x << 17) & M64
        out += x.to_bytes(8, "little")
    return bytes(out[:n])


if __name__ == "__main__":
    smin, smax = int(sys.argv[1]), int(sys.argv[2])
    for t in sys.argv[3:]:
        b = body(t.encode(), smin, smax)
        print(t, len(b), hashlib.sha256(b).hexdigest())
