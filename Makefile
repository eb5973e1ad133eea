# netops - build, test, benchmark, demo.  See README.md.
#   make demo    the main job (installs what is missing, builds, runs it)
#   make check   every test (installs what is missing, builds, runs all)

LUA        ?= lua5.4
CC         ?= gcc
BUILD      ?= build
PKGS        = lua5.4 libnetfilter_conntrack libmnl
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# Only the ctnetlink module, and the C tests and fuzzers of its area, link these.
CT_LIBS    := $(shell pkg-config --libs libnetfilter_conntrack libmnl 2>/dev/null)
WARN        = -Wall -Wextra -Wmissing-prototypes -Wshadow -Werror
CFLAGS     ?= -O2 -g
ALL_CFLAGS  = -std=c11 -D_GNU_SOURCE -fPIC $(WARN) $(PKG_CFLAGS) $(CFLAGS)

SRC         = $(sort $(wildcard csrc/*.c))
HDR         = $(wildcard csrc/*.h)
# Two C modules, split by what they link.  netops.ctnetlink: the kernel
# conntrack binding, with libnetfilter_conntrack, libnfnetlink and libmnl,
# plus the libc-only code it calls (compiled into it again: Lua loads each C
# module with its symbols private).  netops.core: everything else, libc only.
CT_SRC      = csrc/conntrack.c csrc/lua_conntrack.c
CT_SHARED   = csrc/luax.c csrc/inet.c csrc/clock.c csrc/spawn.c
CORE_SRC    = $(filter-out $(CT_SRC),$(SRC))
# Area code free of Lua: linked into C tests, fuzzers and C benchmarks; those
# that include conntrack.h also get conntrack.c and its libraries.
PURE_SRC    = $(filter-out csrc/lua_% csrc/core.c csrc/luax.c csrc/conntrack.c,$(SRC))
CT_USERS   := $(shell grep -l '^\#include "conntrack.h"' spec/c/*.c spec/fuzz/*.c 2>/dev/null)
ct_src      = $(if $(filter $(CT_USERS),$<),csrc/conntrack.c $(CT_LIBS))
CTESTS      = $(patsubst spec/c/%.c,$(BUILD)/ctest/%,$(wildcard spec/c/*.c))
HELPERS     = $(patsubst spec/helpers/%.c,$(BUILD)/helpers/%,$(wildcard spec/helpers/*.c))
FUZZERS     = $(patsubst spec/fuzz/%.c,$(BUILD)/fuzz/%,$(wildcard spec/fuzz/*.c))
FUZZ_SECONDS ?= 60

# Debian packages: the build, then what tests, benchmarks and the demo run.
DEPS_BUILD  = lua5.4 liblua5.4-dev luarocks lua-busted libnetfilter-conntrack-dev \
              libmnl-dev gcc make pkg-config zip unzip git \
              lua-argparse lua-dkjson lua-filesystem
DEPS_TEST   = lua5.1 lua5.3 valgrind clang libclang-rt-14-dev iproute2 procps \
              conntrack conntrackd keepalived nftables iptables openssh-server \
              openssh-client perl python3 util-linux strace iputils-ping socat
# The API reference (make doc: ldoc . with config.ld, into doc/api/).
DEPS_DOC    = lua-ldoc

.PHONY: all deps build check test ctest helpers sanitize valgrind fuzz bench \
        demo doc install package-test clean

all: build

deps:
	@sh .ci/deps.sh $(DEPS_BUILD) $(DEPS_TEST) $(DEPS_DOC)

build: $(BUILD)/netops/core.so $(BUILD)/netops/ctnetlink.so $(HELPERS)

$(BUILD)/netops/core.so: $(CORE_SRC) $(HDR) Makefile
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -shared -o $@ $(CORE_SRC) $(LDFLAGS)

$(BUILD)/netops/ctnetlink.so: $(CT_SRC) $(CT_SHARED) $(HDR) Makefile
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -shared -o $@ $(CT_SRC) $(CT_SHARED) $(CT_LIBS) $(LDFLAGS)

$(BUILD)/ctest/%: spec/c/%.c $(PURE_SRC) csrc/conntrack.c $(HDR)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Icsrc -o $@ $< $(PURE_SRC) $(ct_src) $(LDFLAGS)

$(BUILD)/helpers/%: spec/helpers/%.c
	@mkdir -p $(@D)
	$(CC) -std=c11 -D_GNU_SOURCE $(WARN) -O1 -g -pthread -o $@ $<

ctest: $(CTESTS)

helpers: $(HELPERS)

# probeleak is built from netops' own probe.c, spawn.c and clock.c (it includes them)
$(BUILD)/helpers/probeleak: csrc/probe.c csrc/probe.h csrc/spawn.c csrc/spawn.h csrc/clock.c csrc/clock.h

# Every test: busted specs under Lua 5.4 (each file in its own process),
# packaging, the C tests; the specs and C tests again against an ASan+UBSan
# build; the C tests under valgrind.  A line for each pass, then one closing
# line counting each distinct test once (spec/run.sh).
check: deps
	@$(MAKE) --no-print-directory build ctest
	@$(MAKE) --no-print-directory $(ASAN_MAKE) build ctest
	@NETOPS_BUILD=$(BUILD) NETOPS_SANITIZE_BUILD=build-asan NETOPS_PASSES="plain asan valgrind" sh spec/run.sh

test: build ctest
	@NETOPS_BUILD=$(BUILD) NETOPS_PASSES=plain sh spec/run.sh

# The specs and C tests against the C core built under ASan and UBSan.
ASAN_MAKE = BUILD=build-asan \
	  CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all" \
	  LDFLAGS="-fsanitize=address,undefined"
sanitize: deps
	@$(MAKE) --no-print-directory $(ASAN_MAKE) build ctest
	@NETOPS_BUILD=$(BUILD) NETOPS_SANITIZE_BUILD=build-asan NETOPS_PASSES=asan sh spec/run.sh

# The C tests under valgrind (leaks and invalid accesses fail them).
valgrind: build ctest
	@NETOPS_BUILD=$(BUILD) NETOPS_PASSES=valgrind sh spec/run.sh

# Fuzz each target for FUZZ_SECONDS; a crash or sanitizer report fails.
$(BUILD)/fuzz/%: spec/fuzz/%.c $(PURE_SRC) csrc/conntrack.c $(HDR)
	@mkdir -p $(@D)
	clang -std=c11 -D_GNU_SOURCE -g -O1 -Icsrc -fsanitize=fuzzer,address,undefined \
	  -fno-sanitize-recover=all -o $@ $< $(PURE_SRC) $(ct_src)

fuzz: deps $(FUZZERS)
	@set -e; for f in $(FUZZERS); do \
	  mkdir -p $(BUILD)/corpus/$$(basename $$f); \
	  $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $(BUILD)/corpus/$$(basename $$f); done

# Benchmarks: netops and its rivals side by side, ratios printed.
bench: deps
	@$(MAKE) --no-print-directory build
	@set -e; for b in bench/[0-9]*; do [ -x "$$b" ] || continue; echo "== $$b"; NETOPS_BUILD=$(BUILD) ./$$b; done

demo: deps
	@$(MAKE) --no-print-directory build
	@NETOPS_BUILD=$(BUILD) sh examples/demo.sh

# The API reference from the LDoc comments (config.ld), into doc/api/.
doc:
	ldoc .

# The rockspec's Lua dependencies come from Debian (DEPS_BUILD): the config
# says they are installed, so luarocks works offline.
LUAROCKS_CONFIG ?= $(CURDIR)/rockspec/luarocks-debian.lua
export LUAROCKS_CONFIG

install: deps
	luarocks --lua-version 5.4 make rockspec/netops-scm-1.rockspec

# luarocks make, pack and install of the packed rock, all offline, into a
# throwaway tree; then the installed module and commands are exercised.
package-test: build
	@sh .ci/package-test.sh

clean:
	rm -rf build build-asan *.rock
