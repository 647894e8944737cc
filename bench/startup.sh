#!/usr/bin/env bash
# Fixed cost of a run: `warden run -- /bin/true` in enforce and observe mode against a bare
# `/bin/true`, interleaved in one invocation, medians of RUNS (default 15). Issue 16's goal
# is at most 40 ms over bare with every layer proven.
# Needs root (BPF, cgroups) and a built warden (.build/release/warden, or WARDEN=path).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-15}
WARDEN=$(realpath "${WARDEN:-.build/release/warden}")
[[ -x $WARDEN ]] || { echo "bench: $WARDEN not built (swift build -c release)" >&2; exit 1; }
work=$(mktemp -d /var/tmp/warden-startup.XXXXXX)
trap 'rm -rf "$work"' EXIT
python3 - "$WARDEN" "$work" "$RUNS" <<'PY'
import statistics, subprocess, sys, time
warden, work, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
def timed(cmd):
    start = time.perf_counter()
    subprocess.run(cmd, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return (time.perf_counter() - start) * 1000
samples = {"bare": [], "enforce": [], "observe": []}
for _ in range(runs):
    samples["bare"].append(timed(["/bin/true"]))
    samples["enforce"].append(timed([warden, "run", "--mode", "enforce", "--", "/bin/true"]))
    samples["observe"].append(timed([warden, "run", "--mode", "observe", "--", "/bin/true"]))
bare = statistics.median(samples["bare"])
for mode in ("enforce", "observe"):
    m = statistics.median(samples[mode])
    print(f"{mode}: median {m:.0f} ms, {m - bare:.0f} ms over bare ({bare:.1f} ms), {runs} runs")
PY
