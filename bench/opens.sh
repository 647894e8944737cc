#!/usr/bin/env bash
# Per-syscall cost: a C program doing COUNT open+close pairs (default 1,000,000) over FILES
# distinct files (default 1000), bare, under warden (enforce, observe), bwrap and
# `strace -f`, interleaved, ROUNDS rounds (default 3). Prints medians and ratios, warden's
# peak RSS, and each warden mode's audit counts (lines written, repeats, lost). Issue 16's
# goals: enforce and observe at most 1.10x bare, 0 lost, peak RSS at most 64 MiB.
# strace is slow here (~20x): STRACE=0 leaves it out (in every bench script).
# Needs root and a release build (.build/release/warden, or WARDEN=path).
source "$(dirname "$0")/common.sh"
COUNT=${COUNT:-1000000}
FILES=${FILES:-1000}
ROUNDS=${ROUNDS:-3}
cc -O2 -o "$work/opens" "$BENCH/opens.c"
mkdir "$work/data" "$work/bare" "$work/enforce" "$work/observe"
for ((i = 0; i < FILES; i++)); do : > "$work/data/f$i"; done
for mode in enforce observe; do
  printf 'net.default = "allow"\n[allow.fs]\nread_extra = ["%s"]\n' "$work" > "$work/$mode/warden.toml"
done
BARE_DIR=$work/bare ENFORCE_DIR=$work/enforce OBSERVE_DIR=$work/observe
mapfile -t runs < <(variants "$work/opens $work/data $FILES $COUNT")
echo "$COUNT opens over $FILES files, $ROUNDS rounds, $(nproc) CPUs, kernel $(uname -r)"
compare "$ROUNDS" "${runs[@]}"
audit_counts "$work/enforce" enforce
audit_counts "$work/observe" observe
