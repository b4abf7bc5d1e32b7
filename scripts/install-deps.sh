#!/usr/bin/env bash
# Install, from Debian's archive, what flowscope needs to build (and, with --test, to run
# its tests and benchmarks). Idempotent: packages already present are left alone, and
# apt-get update runs only when something is missing.
#
#   scripts/install-deps.sh          build dependencies
#   scripts/install-deps.sh --test   build + test + benchmark dependencies
set -euo pipefail

build_pkgs=(
	make gcc clang llvm           # user space (gcc) and BPF (clang -target bpf, llvm-strip)
	libbpf-dev bpftool            # libbpf skeleton loader; vmlinux.h and skeleton generation
	libelf-dev zlib1g-dev         # libbpf's own dependencies
	libyaml-dev                   # config files
	libsqlite3-dev                # embedded store
	libzstd-dev                   # wire format compression
	libprotobuf-c-dev protobuf-c-compiler  # wire format encoding (protoc-c at build time)
	libmicrohttpd-dev             # flowscope-server's HTTP API
	libcurl4-openssl-dev          # agent -> server transport, flowscope CLI
	uthash-dev                    # hash tables (connection and flow tables)
	libpcap-dev                   # capture files (--read-pcap), capture filter compiler
	libnghttp2-dev                # HTTP/2 parser: HPACK Huffman strings (nghttp2's inflater)
	libxxhash-dev                 # tag ids: a hash of kind and key, the same on every server
	libjansson-dev                # Kubernetes API responses (JSON) for pod and service tags
	pkg-config
	clang-format                  # make format / format-check
)
test_pkgs=(
	libcmocka-dev                 # unit tests
	nginx-light curl jq           # integration: real server and client
	zstd                          # integration: compresses hand-made ingest batches
	tshark tcpdump                # integration: the independent oracle for packet tests; bench
	iptables                      # integration: packet loss on a veth (statistic match)
	python3 python3-pytest        # integration test driver
	iproute2 procps psmisc
	wrk linux-perf                # benchmarks
	libclang-rt-14-dev            # ASan/UBSan/libFuzzer runtimes for clang builds
	nodejs                        # integration: gRPC client and server (@grpc/grpc-js via the npm
	                              # that ships with the machine's Node.js; Debian's npm package
	                              # cannot be installed beside it)
	dnsmasq-base bind9-dnsutils   # integration: DNS server (dnsmasq) and client (dig)
	redis-server redis-tools      # integration: Redis server, redis-cli, redis-benchmark
	mariadb-server-core mariadb-client-core  # integration: MySQL parser against a live MariaDB
	postgresql-15 postgresql-client-15       # integration: PostgreSQL parser (postgres, psql, pgbench)
	rabbitmq-server python3-pika  # integration: AMQP broker and client (test_proto_amqp.py)
	ruby ruby-pg ruby-webrick     # demo (make demo, test_demo_trace.py): the Ruby service
	clickhouse-server clickhouse-client # store contract and integration tests of the
	                              # ClickHouse backend (tests start their own server process;
	                              # the package's service is never used)
	golang-go                     # integration: a Go net/http service (goroutine tracking)
	mosquitto mosquitto-clients   # integration: MQTT broker, mosquitto_pub / mosquitto_sub
	python3-paho-mqtt             # integration: MQTT client for QoS 2
	nats-server                   # integration: NATS server (the test's client is a socket script)
	memcached libmemcached-tools  # integration: Memcached server, memccp / memccat / memcrm
	python3-xxhash                # integration: recomputes tag ids (XXH3_64) to assert them exactly
	python3-hypercorn             # integration: an h2c server that takes HTTP/1.1's Upgrade: h2c
	                              # (nginx and nghttpd speak h2c with prior knowledge only)
)

want=("${build_pkgs[@]}")
[[ "${1:-}" == "--test" ]] && want+=("${test_pkgs[@]}")

missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
	exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
	echo "install-deps: missing Debian packages: ${missing[*]}" >&2
	echo "install-deps: run as root (or: sudo apt-get install ${missing[*]})" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
