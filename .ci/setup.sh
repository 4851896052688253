#!/usr/bin/env bash
# Installs and starts what the test suite needs (Debian packages, a local registry, …).
# Idempotent; run as root. Each area keeps its own script in .ci/setup.d/.
set -euo pipefail
cd "$(dirname "$0")/.."
for script in .ci/setup.d/*.sh; do
  [ -e "$script" ] || continue
  echo "-- $script"
  bash "$script"
done
