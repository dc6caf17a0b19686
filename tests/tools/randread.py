#!/usr/bin/env python3
"""Concurrent random readers: N threads pread random ranges of IMAGE and
compare each with the same range of REFERENCE (a regular file with the
expected bytes). Exit 1 on the first mismatch or error.

usage: randread.py [--threads N] [--reads M] [--seed S] IMAGE REFERENCE [IMAGE REFERENCE ...]
"""
import argparse
import os
import random
import sys
import threading

def worker(idx, pairs, reads, seed, errors):
    rng = random.Random(seed * 1000 + idx)
    fds = [(os.open(img, os.O_RDONLY), os.open(ref, os.O_RDONLY), os.path.getsize(ref), img)
           for img, ref in pairs]
    try:
        for _ in range(reads):
            fi, fr, size, name = rng.choice(fds)
            if rng.random() < 0.5:
                off = rng.randrange(0, size)
            else:
                off = rng.randrange(0, max(1, size // 2048)) * 2048
            length = rng.choice([1, 512, 2048, 4096, 65536, 1 << 20, rng.randrange(1, 300000)])
            a = os.pread(fi, length, off)
            b = os.pread(fr, length, off)
            if a != b:
                errors.append("%s: %d bytes at %d differ (got %d, want %d)"
                              % (name, length, off, len(a), len(b)))
                return
    except OSError as e:
        errors.append("thread %d: %s" % (idx, e))
    finally:
        for fi, fr, _, _ in fds:
            os.close(fi)
            os.close(fr)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--reads", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()
    if len(a.files) % 2:
        ap.error("IMAGE REFERENCE pairs expected")
    pairs = list(zip(a.files[0::2], a.files[1::2]))
    errors = []
    ts = [threading.Thread(target=worker, args=(i, pairs, a.reads, a.seed, errors))
          for i in range(a.threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        for e in errors:
            print(e, file=sys.stderr)
        return 1
    print("%d threads x %d random reads over %d images: all bytes equal"
          % (a.threads, a.reads, len(pairs)))
    return 0

sys.exit(main())
