#!/usr/bin/env bash
# The README's test command: builds warden and runs every test. Kernel tests need root;
# with WARDEN_REQUIRE_KERNEL_TESTS=1 a kernel test that cannot run fails instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --build-tests
swift test --skip-build
