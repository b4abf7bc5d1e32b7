#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Fuzz smoke test: build every tests/fuzz/fuzz_*.c as a libFuzzer target (with ASan and
# UBSan) against the parser sources, run each for a bounded time on its seed corpus in
# tests/fuzz/corpus/<name>/, and fail on any crash, sanitizer report or leak. New corpus
# entries go to a temporary directory, so the seeds in the tree stay as committed.
#
#   FUZZ_RUNS=200000 FUZZ_TIME=20 FUZZ_PROTO_TIME=30 CLANG=clang tests/fuzz/run-smoke.sh
#   tests/fuzz/run-smoke.sh fuzz_proto_dns     only the targets named
set -u

cd "$(dirname "$0")/../.." || exit 1

CLANG=${CLANG:-clang}
RUNS=${FUZZ_RUNS:-2000000}
TIME=${FUZZ_TIME:-20}
# Protocol parsers (fuzz_proto_*) take hostile input straight off the network: each runs
# for this long whatever its speed (no run cap).
PROTO_TIME=${FUZZ_PROTO_TIME:-30}
# src/common links against what the Makefile links the unit tests with.
LIBS=${FUZZ_LIBS:--ljansson -lxxhash -lyaml -lprotobuf-c -lzstd -lz -lsqlite3 -lcurl -lpcap -lnghttp2 -lpthread -lm}
OUT=build/fuzz

shopt -s nullglob
# The agent's data path without its BPF loader and main (they need a kernel).
srcs=(src/proto/*.c src/common/*.c $(ls src/agent/*.c | grep -v -e agent_main.c -e probe.c)
	src/wire/*.c src/store/*.c src/query/*.c src/tag/*.c build/src/wire/*.pb-c.c)
# build/src/wire holds protoc-c's output: `make` (or `make tests`) generates it first.
if ! ls build/src/wire/*.pb-c.c >/dev/null 2>&1; then
	echo "fuzz-smoke: run make first (generated wire code missing in build/src/wire)"
	exit 1
fi
targets=(tests/fuzz/fuzz_*.c)
if [ $# -gt 0 ]; then
	targets=()
	for n in "$@"; do targets+=("tests/fuzz/${n%.c}.c"); done
fi
mkdir -p "$OUT"

if [ ${#targets[@]} -eq 0 ]; then
	echo "fuzz-smoke: no targets in tests/fuzz"
	exit 0
fi

# The code under test is the same for every target: compile it once per run (headers may
# have changed since the last one) (two compilers at a
# time, the machine's cores), then each target is its own file plus a link.
JOBS=${FUZZ_JOBS:-2}
CFLAGS_FUZZ=(-g -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
	-Isrc -Ibuild)
mkdir -p "$OUT/obj"
export CLANG OUT
printf '%s\n' "${srcs[@]}" | xargs -P "$JOBS" -I{} sh -c '
	o="$OUT/obj/$(echo "{}" | tr / _).o"
	rm -f "$o"
	"$CLANG" '"${CFLAGS_FUZZ[*]}"' -c "{}" -o "$o" 2>>"$OUT/obj.build.log" || rm -f "$o"'
objs=()
for src in "${srcs[@]}"; do
	o="$OUT/obj/$(echo "$src" | tr / _).o"
	if [ ! -e "$o" ]; then
		echo "FAIL  fuzz-smoke: $src does not build (see $OUT/obj.build.log)"
		exit 1
	fi
	objs+=("$o")
done

# Build one target and run it on its seeds; prints one PASS/FAIL line, returns 0 on PASS.
run_target() {
	local t=$1 name bin corpus log runs time work done_line
	name=$(basename "$t" .c)
	bin=$OUT/$name
	corpus=tests/fuzz/corpus/$name
	log=$OUT/$name.log

	# shellcheck disable=SC2086 # LIBS is a list of flags
	if ! "$CLANG" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-Isrc -Ibuild "$t" "${objs[@]}" -Wl,--as-needed $LIBS -o "$bin" >"$OUT/$name.build.log" 2>&1; then
		echo "FAIL  $name: does not build (see $OUT/$name.build.log)"
		return 1
	fi
	if [ ! -d "$corpus" ]; then
		echo "FAIL  $name: no seed corpus in $corpus"
		return 1
	fi
	runs=$RUNS time=$TIME
	case $name in fuzz_proto_*) runs=-1 time=$PROTO_TIME ;; esac
	work=$(mktemp -d)
	if "$bin" -runs="$runs" -max_total_time="$time" -artifact_prefix="$OUT/$name-" \
		"$work" "$corpus" >"$log" 2>&1; then
		done_line=$(grep -o 'Done [0-9]* runs in [0-9]* second(s)' "$log" | tail -n 1)
		echo "PASS  $name: ${done_line:-finished}, $(find "$corpus" -type f | wc -l) seeds"
		rm -rf "$work"
		return 0
	fi
	echo "FAIL  $name: crash (log $log, reproducer $OUT/$name-*)"
	grep -m 5 -E 'ERROR|runtime error|SUMMARY' "$log" | sed 's/^/      /'
	rm -rf "$work"
	return 1
}

# JOBS targets at a time: each fuzzer is single-threaded, and its time budget is wall time.
fail=0
pids=()
for t in "${targets[@]}"; do
	run_target "$t" &
	pids+=($!)
	if [ ${#pids[@]} -ge "$JOBS" ]; then
		wait "${pids[0]}" || fail=1
		pids=("${pids[@]:1}")
	fi
done
for p in "${pids[@]}"; do
	wait "$p" || fail=1
done
exit $fail
