#!/usr/bin/env python3
"""Interleaved edits by several binaries: per edit the wall time from the editor's last
command (a timestamp it writes) to the exit of leafseal, and the whole edit's wall time.
usage: STAMP_EDITOR=EDITOR edit-tail.py ROUNDS ENCRYPTED AGE_KEY_FILE BINARY...
The editor must write `date +%s%N` to $STAMP_FILE as its last command (see
docs/performance-log.md, "Round 22: edit")."""
import os, random, shutil, statistics, subprocess, sys, tempfile, time
rounds, enc, keys = int(sys.argv[1]), sys.argv[2], sys.argv[3]
bins = [os.path.abspath(b) for b in sys.argv[4:]]
work = tempfile.mkdtemp(prefix="tail-")
target, stamp = os.path.join(work, "work.yaml"), os.path.join(work, "stamp")
env = dict(os.environ, SOPS_AGE_KEY_FILE=keys, EDITOR=os.environ["STAMP_EDITOR"], STAMP_FILE=stamp)
res = {b: [] for b in bins}
for _ in range(rounds):
    order = list(bins); random.shuffle(order)
    for b in order:
        shutil.copyfile(enc, target)
        t0 = time.time_ns()
        p = subprocess.run([b, "edit", target], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t1 = time.time_ns()
        if p.returncode != 0: sys.exit(f"{b} failed")
        with open(stamp) as f: s = int(f.read())
        res[b].append(((t1 - s) / 1e6, (t1 - t0) / 1e6))
shutil.rmtree(work)
for b, v in res.items():
    print("%-28s after the editor: median %6.1f ms (p25 %6.1f, p75 %6.1f); whole edit median %6.1f ms" % (
        b[-28:], statistics.median(x[0] for x in v), statistics.quantiles([x[0] for x in v])[0],
        statistics.quantiles([x[0] for x in v])[2], statistics.median(x[1] for x in v)))
