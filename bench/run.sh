#!/usr/bin/env bash
# Benchmarks: see docs/benchmarks.md for the method and the latest figures.
set -euo pipefail
cd "$(dirname "$0")/.."
exec /usr/bin/python3 bench/overhead.py "$@"
