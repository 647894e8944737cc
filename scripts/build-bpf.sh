#!/usr/bin/env bash
# Compiles the BPF objects in bpf/ into prebuilt/ with a manifest. warden embeds
# prebuilt/*.bpf.o at compile time (#embed in Sources/CWardenBPF/objects.c).
#   scripts/build-bpf.sh          rebuild and write
#   scripts/build-bpf.sh --check  rebuild into a temporary directory and fail if the
#                                 committed objects or manifest differ
set -euo pipefail
cd "$(dirname "$0")/.."

CLANG=${CLANG:-clang}
STRIP=${LLVM_STRIP:-llvm-strip}
for tool in "$CLANG" "$STRIP" python3; do
  command -v "$tool" >/dev/null || { echo "build-bpf.sh: $tool not found (scripts/setup.sh installs it)" >&2; exit 1; }
done
if [[ ! -r /sys/kernel/btf/vmlinux ]]; then
  echo "build-bpf.sh: note: no kernel BTF here; the objects do not need it (no CO-RE), warden's tier 1 will" >&2
fi

case "$(uname -m)" in
  x86_64) multiarch=x86_64-linux-gnu target_arch=x86 ;;
  aarch64) multiarch=aarch64-linux-gnu target_arch=arm64 ;;
  *) echo "build-bpf.sh: unsupported architecture $(uname -m)" >&2; exit 1 ;;
esac

out=prebuilt
if [[ ${1:-} == --check ]]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  out=$tmp/prebuilt
fi
mkdir -p "$out"

objects=(net trace lsm)
for name in "${objects[@]}"; do
  # Relative source path and no DWARF: the bytes do not depend on where the tree lives.
  "$CLANG" -O2 -g -target bpf -D__TARGET_ARCH_"$target_arch" -fdebug-prefix-map="$PWD"=. -Ibpf/include -I/usr/include/"$multiarch" \
    -c "bpf/$name.bpf.c" -o "$out/$name.bpf.o"
  "$STRIP" --strip-debug "$out/$name.bpf.o"
done

CLANG_VERSION=$("$CLANG" --version | head -n 1) python3 - "$out" "${objects[@]}" <<'PY'
import hashlib, json, os, sys
out, names = sys.argv[1], sys.argv[2:]
# ring buffers and bpf_snprintf: 5.13; bpf_loop: 5.17.
minimum = {"net": "5.13", "trace": "5.17", "lsm": "5.11"}
manifest = {"clang": os.environ["CLANG_VERSION"], "objects": {}}
for name in names:
    data = open(f"{out}/{name}.bpf.o", "rb").read()
    manifest["objects"][f"{name}.bpf.o"] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
                                            "minimum_kernel": minimum[name]}
json.dump(manifest, open(f"{out}/manifest.json", "w"), indent=2, sort_keys=True)
open(f"{out}/manifest.json", "a").write("\n")
PY

if [[ ${1:-} == --check ]]; then
  status=0
  for f in "$out"/*; do
    cmp -s "$f" "prebuilt/$(basename "$f")" || { echo "build-bpf.sh: prebuilt/$(basename "$f") is stale; run scripts/build-bpf.sh" >&2; status=1; }
  done
  [[ $status == 0 ]] && echo "build-bpf.sh: prebuilt/ is up to date"
  exit $status
fi
echo "build-bpf.sh: wrote $out/"
