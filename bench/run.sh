#!/usr/bin/env bash
# Benchmarks: see docs/benchmarks.md for the method and the latest figures.
#   bench/run.sh [ARGS]             agent overhead (ARGS go to it), then server ingest/query
#   bench/run.sh overhead [ARGS]    agent overhead only (bench/overhead.py)
#   bench/run.sh server [ARGS]      server ingest and query only (bench/server_bench.py)
#   bench/run.sh replay [ARGS]      packet replay vs tcpdump and tshark (bench/replay.py)
#   bench/run.sh store [ARGS]       SQLite vs ClickHouse store backends (bench/store_bench.c,
#                                   against a clickhouse-server started for it)
#   bench/run.sh trace [ARGS]       trace completeness over the demo at increasing load
#                                   (bench/trace_completeness.py; network namespaces, root)
#   bench/run.sh encoding [ARGS]    SmartEncoded tag ids vs plain strings, SQLite and
#                                   ClickHouse (bench/encoding_bench.c, its own server)
set -euo pipefail
cd "$(dirname "$0")/.."
what=all
case "${1:-}" in
overhead | server | replay | store | trace | encoding | all) what=$1; shift ;;
esac
case "$what" in
overhead) exec /usr/bin/python3 bench/overhead.py "$@" ;;
server) exec /usr/bin/python3 bench/server_bench.py "$@" ;;
replay) exec /usr/bin/python3 bench/replay.py "$@" ;;
store) exec /usr/bin/python3 tests/integration/chserver.py -- build/bench/store_bench "$@" ;;
trace) exec /usr/bin/python3 bench/trace_completeness.py "$@" ;;
encoding) exec /usr/bin/python3 tests/integration/chserver.py -- build/bench/encoding_bench "$@" ;;
esac
for a in "$@"; do
	if [ "$a" = -h ] || [ "$a" = --help ]; then
		/usr/bin/python3 bench/overhead.py --help
		echo
		exec /usr/bin/python3 bench/server_bench.py --help
	fi
done
rc=0
/usr/bin/python3 bench/overhead.py "$@" || rc=$?
/usr/bin/python3 bench/server_bench.py || rc=$?
/usr/bin/python3 bench/replay.py || rc=$?
/usr/bin/python3 tests/integration/chserver.py -- build/bench/store_bench || rc=$?
/usr/bin/python3 bench/trace_completeness.py || rc=$?
# 10^6 rows here (2-3 minutes): make bench-encoding runs the 10^7 rows of the docs.
/usr/bin/python3 tests/integration/chserver.py -- build/bench/encoding_bench --rows 1000000 || rc=$?
exit "$rc"
