#!/usr/bin/env python3
"""peak-disk.py DIR... OUT: how far the total size of the files under DIRs grew above what it
was when this started (what a run adds, not what earlier runs left there), sampled every
100 ms by this one process and written to OUT whenever it grows (a shell loop would fork du,
awk and sleep ten times a second, CPU the measured tool would be charged for). Runs until
killed."""
import os
import sys
import time


def size(path):
    total = 0
    try:
        with os.scandir(path) as it:
            for e in it:
                try:
                    if e.is_dir(follow_symlinks=False):
                        total += size(e.path)
                    else:
                        total += e.stat(follow_symlinks=False).st_size
                except OSError:
                    pass
    except OSError:
        pass
    return total


dirs, out = sys.argv[1:-1], sys.argv[-1]
start = sum(size(d) for d in dirs)
peak = 0
while True:
    now = sum(size(d) for d in dirs) - start
    if now > peak:
        peak = now
        # Written beside and renamed over, so a kill between the two leaves the last peak,
        # never an empty file.
        with open(out + ".tmp", "w") as f:
            f.write(str(peak))
        os.replace(out + ".tmp", out)
    time.sleep(0.1)
