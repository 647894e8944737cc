#!/usr/bin/env bash
# Event throughput: a process doing COUNT opens (default 1,000,000) over FILES distinct
# files (default 1000), run bare and under `warden run --mode observe`, in the same
# invocation. Prints events drained per second, events lost, and the slowdown ratio.
# Needs root (BPF) and a built warden (.build/release/warden, or WARDEN=path).
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${COUNT:-1000000}
FILES=${FILES:-1000}
WARDEN=$(realpath "${WARDEN:-.build/release/warden}")
[[ -x $WARDEN ]] || { echo "bench: $WARDEN not built (swift build -c release)" >&2; exit 1; }
work=$(mktemp -d /var/tmp/warden-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
cc -O2 -o "$work/opens" bench/opens.c
mkdir "$work/data"
for ((i = 0; i < FILES; i++)); do : > "$work/data/f$i"; done
printf 'mode = "observe"\nnet.default = "allow"\n[allow.fs]\nread_extra = ["%s"]\n' "$work" > "$work/warden.toml"

now() { date +%s.%N; }
t0=$(now); "$work/opens" "$work/data" "$FILES" "$COUNT"; t1=$(now)
(cd "$work" && "$WARDEN" run --ring-buffer-mib "${RING_MIB:-4}" -- ./opens "$work/data" "$FILES" "$COUNT" 2>"$work/stderr") || { cat "$work/stderr"; exit 1; }
t2=$(now)
python3 - "$work/warden-metrics.json" "$t0" "$t1" "$t2" "$COUNT" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
t0, t1, t2, count = float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
bare, wrapped = t1 - t0, t2 - t1
drained = m["allowed_total"] + m["violations_total"] + m["repeats_not_logged"]
print(f"opens: {count}  bare: {bare:.2f} s  under warden: {wrapped:.2f} s  ratio: {wrapped / bare:.1f}x")
print(f"events drained: {drained}  lines written: {m['allowed_total'] + m['violations_total']}  lost: {m['lost_events']}")
print(f"throughput: {drained / wrapped:,.0f} events/s (target >= 500,000 with 0 lost)")
PY
