#!/usr/bin/env bash
# The GitHub Action's install step: puts warden on PATH for the next steps. INPUT_WARDEN_PATH
# names a release tarball (verified against TARBALL.sha256 by scripts/install.sh) or a
# binary; otherwise release INPUT_VERSION is downloaded from the action's own repository's
# releases, with its checksum. Tests run this script as the action does.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
prefix=${RUNNER_TEMP:-/tmp}/warden
given=${INPUT_WARDEN_PATH:-}
if [[ -n $given && -f $given && $given == *.tar.gz ]]; then
  bash "$here/install.sh" "$given" "$prefix"
elif [[ -n $given && -x $given ]]; then
  mkdir -p "$prefix/bin"
  cp "$given" "$prefix/bin/warden"
else
  version=${INPUT_VERSION:?no warden-path and no version}
  repo=${ACTION_REPOSITORY:?no action repository to download from}
  name=warden-$version-$(uname -m)-linux.tar.gz
  url=https://github.com/$repo/releases/download/v$version/$name
  dl=$(mktemp -d)
  curl --fail --silent --show-error --location --output "$dl/$name" "$url"
  curl --fail --silent --show-error --location --output "$dl/$name.sha256" "$url.sha256"
  bash "$here/install.sh" "$dl/$name" "$prefix"
fi
echo "$prefix/bin" >> "${GITHUB_PATH:-/dev/null}"
echo "WARDEN_BIN=$prefix/bin/warden" >> "${GITHUB_ENV:-/dev/null}"
"$prefix/bin/warden" --version
