#!/usr/bin/env bash
# Integration tests: real nginx, curl and Python peers on loopback, the real agent with
# its eBPF programs. Needs root (CI runs as root); refuses, rather than skips, otherwise.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [[ $(id -u) -ne 0 ]]; then
	echo "integration tests load eBPF programs: run them as root (sudo make test)" >&2
	exit 1
fi
# Debian's interpreter, where python3-pytest is installed (not a pyenv one on PATH).
exec /usr/bin/python3 -m pytest -p no:cacheprovider -v tests/integration "$@"
