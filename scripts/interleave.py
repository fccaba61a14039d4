#!/usr/bin/env python3
"""Interleaved timings of shell commands: each round runs every command once, in a
random order, so that a load swing on a shared machine hits all of them alike (the
table's other rows run one command's runs back to back). Prints a Markdown row per
command: the median wall time and CPU (user + system, from wait4) over the rounds, and
for every command after the first the median of the per-round ratios to the first
(`REF=... TARGET=...` labels; ratio = command / first, so a peer's row shows how many
times leafseal's time it took).

usage: interleave.py ROUNDS LABEL=COMMAND LABEL=COMMAND...
"""
import os
import random
import statistics
import subprocess
import sys
import time


def run(cmd):
    """Wall seconds and CPU seconds of `cmd` run through sh, output discarded."""
    start = time.perf_counter()
    p = subprocess.Popen(cmd, shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {cmd}")
    return wall, ru.ru_utime + ru.ru_stime


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    rounds = int(sys.argv[1])
    cmds = [a.split("=", 1) for a in sys.argv[2:]]
    wall = {label: [] for label, _ in cmds}
    cpu = {label: [] for label, _ in cmds}
    for r in range(rounds + 1):
        order = list(cmds)
        random.shuffle(order)
        for label, cmd in order:
            w, c = run(cmd)
            if r > 0:  # the first round warms the page cache
                wall[label].append(w * 1000)
                cpu[label].append(c * 1000)
    first = cmds[0][0]
    for label, _ in cmds:
        ratios = [x / y for x, y in zip(wall[label], wall[first])]
        ratio = "" if label == first else "%.1f×" % statistics.median(ratios)
        print("| %s | %.1f | %.1f | %s |" % (label, statistics.median(wall[label]), statistics.median(cpu[label]), ratio))


if __name__ == "__main__":
    main()
