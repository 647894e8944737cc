# Sourced by the bench scripts: the warden binary, the comparison tools, a work directory,
# and the command lines the same workload runs under (bare, warden, bwrap, strace).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[[ $(id -u) -eq 0 ]] || { echo "bench: run as root (BPF, cgroups)" >&2; exit 1; }
WARDEN=$(realpath "${WARDEN:-.build/release/warden}")
[[ -x $WARDEN ]] || { echo "bench: $WARDEN not built (swift build -c release)" >&2; exit 1; }
bash scripts/setup.sh --bench >/dev/null
BENCH=$PWD/bench
work=$(mktemp -d /var/tmp/warden-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
cc -O2 -o "$work/maxrss" "$BENCH/maxrss.c"

compare() { # ROUNDS name=command...
  python3 "$BENCH/compare.py" "$1" "$work" "$work/maxrss" "${@:2}"
}

# bubblewrap set up as one would to "just isolate" a build: the whole tree read-only, the
# project writable, fresh /dev, /proc, /tmp and PID namespace.
bwrap_cmd() { # DIR SHELL-LINE
  echo "bwrap --ro-bind / / --dev /dev --proc /proc --tmpfs /tmp --bind $1 $1 --unshare-pid --die-with-parent -- /bin/sh -c '$2'"
}

# The five ways to run COMMAND (STRACE=0: four), one line each (name=command, for compare.py): bare, bwrap
# and strace in BARE_DIR; warden in ENFORCE_DIR and OBSERVE_DIR, each with its warden.toml,
# and their metrics snapshots beside those (DIR.metrics.json) for audit_counts. bwrap
# makes all of $work writable.
# PREP, when set, runs first in the directory, outside warden (a clean that the policy
# would refuse the build itself: removing the output directory).
variants() { # COMMAND
  local prep=${PREP:-true}
  echo "bare=cd $BARE_DIR && $prep && $*"
  echo "warden-enforce=cd $ENFORCE_DIR && $prep && $WARDEN run --mode enforce --metrics $ENFORCE_DIR.metrics.json -- $*"
  echo "warden-observe=cd $OBSERVE_DIR && $prep && $WARDEN run --mode observe --metrics $OBSERVE_DIR.metrics.json -- $*"
  echo "bwrap=$(bwrap_cmd "$work" "cd $BARE_DIR && $prep && $*")"
  [[ ${STRACE:-1} == 0 ]] || echo "strace=cd $BARE_DIR && $prep && strace -f -o /dev/null -- $*"
}

# Prints the audit counts of the last warden run in DIR (DIR.metrics.json).
audit_counts() { # DIR LABEL
  python3 - "$1.metrics.json" "$2" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
lines = m["allowed_total"] + m["violations_total"]
print(f"{sys.argv[2]}: lines {lines}, repeats counted {m['repeats_not_logged']}, "
      f"violations {m['violations_total']}, lost {m['lost_events']}")
PY
}
