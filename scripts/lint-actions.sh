#!/usr/bin/env bash
# actionlint on every workflow; the example workflow uses the action at the repository
# root (`uses: ./`), so action.yml's inputs are checked through it too.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v actionlint > /dev/null || { echo "lint-actions: actionlint is missing (scripts/setup.sh --test)" >&2; exit 1; }
actionlint -no-color .github/workflows/*.yml
echo "lint-actions: actionlint found nothing in $(ls .github/workflows/*.yml | wc -l) workflows and action.yml"
