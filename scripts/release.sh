#!/usr/bin/env bash
# Builds the release tarball: dist/warden-<version>-x86_64-linux.tar.gz and its .sha256.
# The binary embeds the Swift runtime (--static-swift-stdlib) and links libbpf, libelf,
# zlib, libseccomp and libcrypto statically (Debian's .a files, chosen through pkg-config
# files that point only at them), so it runs on a machine with none of them installed. The
# script checks, prints and fails unless: ldd lists only glibc's own libraries (plus
# libgcc_s and libstdc++), and no symbol needs a glibc newer than 2.35 (Ubuntu 22.04).
# The tarball also holds bin/cargo-warden (a link: `cargo warden …`), the man page and the
# bash/zsh/fish completions generated from the argument parser, the README, LICENSE and the
# BPF objects' manifest. Needs `scripts/setup.sh` (build dependencies) and a Swift toolchain.
#   release.sh [OUTPUT-DIR]   (default dist/)
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mkdir -p "${1:-dist}" && cd "${1:-dist}" && pwd)
arch=$(uname -m)
[[ $arch == x86_64 ]] || { echo "release.sh: only x86_64 is built here (aarch64 is future work)" >&2; exit 1; }
libdir=/usr/lib/x86_64-linux-gnu
scratch=.build-release
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# pkg-config files naming only a directory of the static archives: the linker finds
# libbpf.a there before any libbpf.so.
mkdir -p "$work/static" "$work/pkgconfig"
for lib in bpf elf z seccomp crypto; do
  [[ -f $libdir/lib$lib.a ]] || { echo "release.sh: $libdir/lib$lib.a is missing (run scripts/setup.sh)" >&2; exit 1; }
  ln -s "$libdir/lib$lib.a" "$work/static/lib$lib.a"
done
pc() { printf 'Name: %s\nDescription: static, for the release\nVersion: 0\nCflags: -I/usr/include\nLibs: -L%s %s\n' "$1" "$work/static" "$2" > "$work/pkgconfig/$1.pc"; }
pc libbpf "-lbpf -lelf -lz"
pc libseccomp "-lseccomp"
pc libcrypto "-lcrypto"

export PKG_CONFIG_PATH=$work/pkgconfig
swift build -c release --static-swift-stdlib --scratch-path "$scratch" --product warden
swift build -c release --scratch-path "$scratch" --product generate-manual
bin=$scratch/release/warden
version=$("$bin" --version)

# The two promises, checked.
echo "release.sh: shared libraries the binary needs:"
ldd "$bin" | sed 's/^/  /'
unexpected=$(ldd "$bin" | awk '{print $1}' | grep -vE '^(linux-vdso\.so\.1|libc\.so\.6|libm\.so\.6|libdl\.so\.2|libpthread\.so\.0|librt\.so\.1|libgcc_s\.so\.1|libstdc\+\+\.so\.6|/lib64/ld-linux-x86-64\.so\.2)$' || true)
[[ -z $unexpected ]] || { echo "release.sh: links more than glibc: $unexpected" >&2; exit 1; }
glibc=$(objdump -T "$bin" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -n 1)
echo "release.sh: highest glibc symbol version needed: $glibc"
[[ $(printf '%s\n2.35\n' "$glibc" | sort -V | tail -n 1) == 2.35 ]] || { echo "release.sh: needs glibc $glibc > 2.35" >&2; exit 1; }

name=warden-$version-$arch-linux
root=$work/$name
mkdir -p "$root/bin" "$root/share/man/man1" "$root/share/bash-completion/completions" \
  "$root/share/zsh/site-functions" "$root/share/fish/vendor_completions.d"
install -m 0755 "$bin" "$root/bin/warden"
# Debug info only: the Swift runtime needs its metadata sections, which --strip-debug keeps.
strip --strip-debug "$root/bin/warden"
ln -s warden "$root/bin/cargo-warden"
"$scratch/release/generate-manual" "$bin" --output-directory "$root/share/man/man1" --date "$(date -u -d "@${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}" +%Y-%m-%d)"
"$bin" --generate-completion-script bash > "$root/share/bash-completion/completions/warden"
"$bin" --generate-completion-script zsh > "$root/share/zsh/site-functions/_warden"
"$bin" --generate-completion-script fish > "$root/share/fish/vendor_completions.d/warden.fish"
cp README.md LICENSE "$root/"
cp prebuilt/manifest.json "$root/bpf-manifest.json"

tarball=$out/$name.tar.gz
mtime=@${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
tar -C "$work" --sort=name --owner=0 --group=0 --numeric-owner --mtime="$mtime" -czf "$tarball" "$name"
(cd "$out" && sha256sum "$name.tar.gz" > "$name.tar.gz.sha256")
echo "release.sh: $tarball"
cat "$tarball.sha256"
