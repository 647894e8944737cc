#!/usr/bin/env bash
# Installs a warden release tarball into a prefix, after checking it against its .sha256
# file (TARBALL.sha256 beside it, or the file given). No network access: download the
# tarball and checksum first (the GitHub Action does), then run this.
#   install.sh TARBALL [PREFIX] [SHA256-FILE]     (PREFIX defaults to /usr/local)
set -euo pipefail
tarball=${1:?usage: install.sh TARBALL [PREFIX] [SHA256-FILE]}
prefix=${2:-/usr/local}
sums=${3:-$tarball.sha256}
[[ -f $tarball ]] || { echo "install.sh: $tarball does not exist" >&2; exit 1; }
[[ -f $sums ]] || { echo "install.sh: no checksum file $sums: refusing to install an unverified tarball" >&2; exit 1; }
want=$(awk '{print $1; exit}' "$sums")
have=$(sha256sum "$tarball" | awk '{print $1}')
[[ -n $want && $want == "$have" ]] || { echo "install.sh: $tarball does not match $sums (sha256 $have, expected $want)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar -C "$work" -xzf "$tarball"
top=$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'warden-*' | head -n 1)
[[ -x $top/bin/warden ]] || { echo "install.sh: $tarball holds no bin/warden" >&2; exit 1; }
mkdir -p "$prefix"
cp -R "$top/bin" "$top/share" "$prefix/"
echo "install.sh: installed $("$prefix/bin/warden" --version) into $prefix"
