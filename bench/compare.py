#!/usr/bin/env python3
"""Times commands interleaved (one run of each per round, ROUNDS rounds), then prints each
one's median wall time, peak RSS and its ratio to bare, to bwrap and to strace.

    compare.py ROUNDS WORKDIR MAXRSS name=command ... (shell lines run in WORKDIR; MAXRSS
    is bench/maxrss.c built, which runs each and reports its tree's peak RSS)

Interleaving, not back-to-back batches: a page cache warming up or a neighbour's build on
a shared machine then weighs on every command alike. hyperfine (Debian's 1.15) runs each
command's batch in turn and reports no peak RSS, hence this small harness. Peak RSS is the
largest resident set in the command's process tree that wait4 reports (for a warden run:
warden itself unless a process of the build is bigger)."""
import os
import statistics
import subprocess
import sys
import time


def timed(command, cwd, maxrss):
    out = os.path.join(cwd, ".maxrss")
    start = time.perf_counter()
    p = subprocess.run([maxrss, out, "/bin/sh", "-c", command], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if p.returncode != 0:
        sys.exit(f"bench: `{command}` exited {p.returncode}: {p.stderr.decode(errors='replace')[-2000:]}")
    with open(out) as f:
        return elapsed, int(f.read()) * 1024


def main():
    rounds, cwd, maxrss = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    pairs = [a.split("=", 1) for a in sys.argv[4:]]
    times = {n: [] for n, _ in pairs}
    rss = {n: 0 for n, _ in pairs}
    for _ in range(rounds):
        for name, command in pairs:
            t, r = timed(command, cwd, maxrss)
            times[name].append(t)
            rss[name] = max(rss[name], r)
    med = {n: statistics.median(ts) for n, ts in times.items()}
    print(f"{'':14} {'median':>10} {'min':>10} {'peak RSS':>10} {'/bare':>7} {'/bwrap':>7} {'/strace':>8}")
    for name, _ in pairs:
        def ratio(base):
            return f"{med[name] / med[base]:.2f}x" if base in med and med[base] > 0 else "-"
        print(f"{name:14} {fmt(med[name]):>10} {fmt(min(times[name])):>10} {rss[name] / 2**20:8.1f} MiB"
              f" {ratio('bare'):>7} {ratio('bwrap'):>7} {ratio('strace'):>8}")
    if "bare" in med:
        for name in med:
            if name.startswith("warden"):
                print(f"{name}: {(med[name] - med['bare']) * 1000:+.1f} ms over bare (median of {rounds})")


def fmt(seconds):
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


if __name__ == "__main__":
    main()
