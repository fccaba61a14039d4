#!/usr/bin/env python3
"""Interleaved decrypt and edit timings of several leafseal binaries (docs/performance-log.md,
"Edit, round 7"). Each round runs every binary's `decrypt` and `edit` once, in a random
order, each from a fresh copy of the encrypted file, so that a load swing on a shared
machine hits all commands alike. Prints per command the median wall time, user and
system CPU and peak RSS (from wait4), and per binary the edit/decrypt ratio of the
medians and the median of the per-round ratios.

usage: interleave-edit.py ROUNDS ENCRYPTED EDITOR AGE_KEY_FILE BINARY...
"""
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def main():
    if len(sys.argv) < 6:
        sys.exit(__doc__)
    rounds, enc, editor, keys = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    bins = [os.path.abspath(b) for b in sys.argv[5:]]
    work = tempfile.mkdtemp(prefix="interleave-")
    target = os.path.join(work, "work.yaml")
    env = dict(os.environ, SOPS_AGE_KEY_FILE=keys)
    cmds = []
    for b in bins:
        cmds.append((b, "decrypt", [b, "decrypt", target], env))
        cmds.append((b, "edit", [b, "edit", target], dict(env, EDITOR=editor)))
    res = {(b, what): [] for b, what, _, _ in cmds}
    for _ in range(rounds):
        order = list(cmds)
        random.shuffle(order)
        for b, what, argv, e in order:
            shutil.copyfile(enc, target)
            t0 = time.perf_counter()
            p = subprocess.Popen(argv, env=e, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            _, status, ru = os.wait4(p.pid, 0)
            wall = time.perf_counter() - t0
            if os.waitstatus_to_exitcode(status) != 0:
                sys.exit(f"{b} {what} failed")
            res[(b, what)].append((wall, ru.ru_utime, ru.ru_stime, ru.ru_maxrss / 1024))
    shutil.rmtree(work)
    med = statistics.median
    for (b, what), v in res.items():
        print("%-40s %-7s wall %6.1f ms  user %4.0f ms  sys %4.0f ms  peak RSS %5.1f MB (%.0f-%.0f)" % (
            b[-40:], what, med(x[0] for x in v) * 1e3, med(x[1] for x in v) * 1e3,
            med(x[2] for x in v) * 1e3, med(x[3] for x in v), min(x[3] for x in v), max(x[3] for x in v)))
    for b in bins:
        d, e = res[(b, "decrypt")], res[(b, "edit")]
        ratio = med(x[0] for x in e) / med(x[0] for x in d)
        per_round = med(y[0] / x[0] for x, y in zip(d, e))
        print("%-40s edit/decrypt: %.2f (median of per-round ratios %.2f)" % (b[-40:], ratio, per_round))


if __name__ == "__main__":
    main()
