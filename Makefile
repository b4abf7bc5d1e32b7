# flowscope: one non-recursive Makefile.
#   make                  build everything into build/
#   make test             install test deps, build, run unit + sanitizer + fuzz smoke + integration
#   make run              install deps, build, flowscope up (server + agent, data in ./flowscope-data)
#   make demo             the tracing demo: services in three languages, flowscope, a load
#   make SANITIZE=address,undefined   build with sanitizers into build/san/
#   make V=1              show commands
.DELETE_ON_ERROR:
.SECONDARY:
.SUFFIXES:

SANITIZE ?=
ifeq ($(SANITIZE),)
OUT := build
SANFLAGS :=
else
OUT := build/san
SANFLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
endif

CC ?= gcc
CLANG ?= clang
LLVM_STRIP ?= llvm-strip
BPFTOOL ?= bpftool
ARCH := $(shell uname -m | sed 's/x86_64/x86/; s/aarch64/arm64/')
VMLINUX_BTF ?= /sys/kernel/btf/vmlinux

CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wmissing-prototypes -Wshadow \
	  -Wno-missing-field-initializers -Isrc -I$(OUT) -MMD -MP $(SANFLAGS) $(EXTRA_CFLAGS)
LDFLAGS += $(SANFLAGS) $(EXTRA_LDFLAGS)
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -I$(OUT) -Isrc -Wall -Werror \
	      -Wno-unused-function

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

COMMON_SRCS := $(wildcard src/common/*.c)
PROTO_SRCS := $(wildcard src/proto/*.c)
AGENT_SRCS := $(filter-out src/agent/agent_main.c src/agent/probe.c,$(wildcard src/agent/*.c))
LIB_SRCS := $(wildcard src/wire/*.c src/store/*.c src/query/*.c src/tag/*.c)
# The wire format's protobuf code is generated from src/wire/*.proto by protoc-c.
WIRE_PROTOS := $(wildcard src/wire/*.proto)
WIRE_GEN_C := $(patsubst %.proto,$(OUT)/%.pb-c.c,$(WIRE_PROTOS))
WIRE_GEN_H := $(WIRE_GEN_C:.c=.h)
CORE_OBJS := $(patsubst src/%.c,$(OUT)/obj/%.o,$(COMMON_SRCS) $(PROTO_SRCS) $(AGENT_SRCS) \
	     $(LIB_SRCS)) $(patsubst $(OUT)/%.c,$(OUT)/obj/gen/%.o,$(WIRE_GEN_C))
LIBS := -ljansson -lxxhash -lyaml -lprotobuf-c -lzstd -lz -lsqlite3 -lcurl -lpcap -lnghttp2 -lpthread -lm
CORE_LIB := $(OUT)/libflowscope_core.a

BPF_SRCS := $(wildcard src/bpf/*.bpf.c)
BPF_SKELS := $(patsubst src/bpf/%.bpf.c,$(OUT)/bpf/%.skel.h,$(BPF_SRCS))

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(OUT)/tests/%,$(UNIT_SRCS))

SERVER_SRCS := $(wildcard src/server/*.c)
SERVER_OBJS := $(patsubst src/%.c,$(OUT)/obj/%.o,$(SERVER_SRCS))
CLI_SRCS := $(wildcard src/cli/*.c)
CLI_OBJS := $(patsubst src/%.c,$(OUT)/obj/%.o,$(CLI_SRCS))
BINS := $(OUT)/flowscope-agent $(if $(SERVER_SRCS),$(OUT)/flowscope-server) \
	$(if $(CLI_SRCS),$(OUT)/flowscope)
# Benchmark drivers written in C (bench/*_bench.c), linked against the core library.
BENCH_SRCS := $(wildcard bench/*_bench.c)
BENCH_BINS := $(patsubst bench/%.c,$(OUT)/bench/%,$(BENCH_SRCS))

.PHONY: all tests deps test-deps test demo unit-test sanitize-test fuzz-smoke integration-test \
	integration-test-san run bench bench-encoding \
	clean format format-check
# The programs only: building the tests needs test-only packages (cmocka).
all: $(BINS)
tests: $(UNIT_BINS) $(OUT)/tests/syscall_cost $(BENCH_BINS)

deps:
	$(Q)scripts/install-deps.sh
test-deps:
	$(Q)scripts/install-deps.sh --test

# ---- kernel side -------------------------------------------------------------------
$(OUT)/vmlinux.h: | $(OUT)
	$(call msg,BTF,$@)
	$(Q)$(BPFTOOL) btf dump file $(VMLINUX_BTF) format c > $@

$(OUT)/bpf/%.bpf.o: src/bpf/%.bpf.c $(OUT)/vmlinux.h $(wildcard src/bpf/*.h src/bpf/shared/*.h) | $(OUT)/bpf
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@
	$(Q)$(LLVM_STRIP) -g $@

$(OUT)/bpf/%.skel.h: $(OUT)/bpf/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@

# ---- user space --------------------------------------------------------------------
$(OUT)/obj/%.o: src/%.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(OUT)/src/wire/%.pb-c.c $(OUT)/src/wire/%.pb-c.h: src/wire/%.proto
	$(call msg,PROTOC,$<)
	$(Q)mkdir -p $(OUT)
	$(Q)protoc-c --c_out=$(OUT) $<

$(OUT)/obj/gen/%.o: $(OUT)/%.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -Wno-missing-prototypes -c $< -o $@

# Whatever includes generated headers waits for them.
$(patsubst src/%.c,$(OUT)/obj/%.o,$(LIB_SRCS)): $(WIRE_GEN_H)
$(UNIT_BINS): $(WIRE_GEN_H)

# Objects that include a skeleton wait for it.
$(OUT)/obj/agent/probe.o $(OUT)/obj/agent/agent_main.o: $(BPF_SKELS)

$(CORE_LIB): $(CORE_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(OUT)/flowscope-agent: $(OUT)/obj/agent/agent_main.o $(OUT)/obj/agent/probe.o $(CORE_LIB)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $^ -o $@ -lbpf -lelf -lz $(LIBS)

$(OUT)/flowscope-server: $(SERVER_OBJS) $(CORE_LIB)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $^ -o $@ -lmicrohttpd $(LIBS)

$(SERVER_OBJS): $(WIRE_GEN_H)

$(OUT)/flowscope: $(CLI_OBJS) $(CORE_LIB)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $^ -o $@ $(LIBS)

$(CLI_OBJS): $(WIRE_GEN_H)

$(OUT)/bench/%: bench/%.c $(CORE_LIB) $(WIRE_GEN_H)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $< $(CORE_LIB) -o $@ $(LDFLAGS) $(LIBS)

$(OUT)/tests/%: tests/unit/%.c $(CORE_LIB)
	$(call msg,TEST,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -Itests $< $(CORE_LIB) -o $@ $(LDFLAGS) -lcmocka $(LIBS)

$(OUT)/tests/syscall_cost: bench/syscall_cost.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $< -o $@ $(LDFLAGS)

$(OUT) $(OUT)/bpf:
	$(Q)mkdir -p $@

# ---- running -----------------------------------------------------------------------
# flowscope up: server + agent on this host, data in ./flowscope-data (Ctrl-C stops both).
run: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)exec $(OUT)/flowscope up --data ./flowscope-data $(ARGS)

# The store contract test runs against a ClickHouse server of its own too: chserver.py
# starts one on free loopback ports, runs the test with FLOWSCOPE_TEST_CLICKHOUSE set, and
# stops it.
unit-test: $(UNIT_BINS)
	$(Q)set -e; for t in $(UNIT_BINS); do echo "== $$t"; \
		case $$t in */test_store_contract) python3 tests/integration/chserver.py -- $$t;; \
		*) $$t;; esac; done

sanitize-test:
	$(Q)$(MAKE) --no-print-directory SANITIZE=address,undefined CC=clang unit-test

fuzz-smoke:
	$(Q)tests/fuzz/run-smoke.sh

integration-test: all
	$(Q)tests/integration/run.sh

# The same end-to-end tests against an agent built with ASan/UBSan.
integration-test-san:
	$(Q)$(MAKE) --no-print-directory SANITIZE=address,undefined CC=clang \
		$(patsubst $(OUT)/%,build/san/%,$(BINS))
	$(Q)FLOWSCOPE_AGENT=build/san/flowscope-agent FLOWSCOPE_SERVER=build/san/flowscope-server \
		FLOWSCOPE_CLI=build/san/flowscope ASAN_OPTIONS=detect_leaks=1 tests/integration/run.sh

test: test-deps
	$(Q)$(MAKE) --no-print-directory format-check
	$(Q)$(MAKE) --no-print-directory all tests
	$(Q)$(MAKE) --no-print-directory unit-test
	$(Q)$(MAKE) --no-print-directory sanitize-test
	$(Q)$(MAKE) --no-print-directory fuzz-smoke
	$(Q)$(MAKE) --no-print-directory integration-test-san
	$(Q)$(MAKE) --no-print-directory integration-test

# The tracing demo (demo/demo.py): a shop of services in three languages in network
# namespaces, flowscope up beside it, a bounded load, then a look at what it recorded.
demo: test-deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)demo/demo.py run $(ARGS)

bench: test-deps
	$(Q)$(MAKE) --no-print-directory all tests
	$(Q)bench/run.sh

# SmartEncoding vs plain tag strings on SQLite and ClickHouse (docs/benchmarks.md), 10^7
# rows by default (about 15 minutes on 2 cores); ARGS="--rows 1000000 --dense" for others.
bench-encoding: test-deps
	$(Q)$(MAKE) --no-print-directory $(OUT)/bench/encoding_bench
	$(Q)bench/run.sh encoding $(ARGS)

format:
	$(Q)clang-format -i $(shell git ls-files '*.c' '*.h')
format-check:
	$(Q)clang-format --dry-run -Werror $(shell git ls-files '*.c' '*.h')

clean:
	rm -rf build

-include $(shell find $(OUT)/obj $(OUT)/tests $(OUT)/bench -name '*.d' 2>/dev/null)
