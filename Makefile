# netops - build, test, benchmark, demo.  See README.md.
#   make demo    the main job (installs what is missing, builds, runs it)
#   make check   every test (installs what is missing, builds, runs all)

LUA        ?= lua5.4
CC         ?= gcc
BUILD      ?= build
PKGS        = lua5.4 libnetfilter_conntrack libmnl
# Include directories: pkg-config's, and those luarocks names (rock-build).
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null) \
              $(foreach d,$(LUA_INCDIR) $(NETFILTER_CONNTRACK_INCDIR) $(MNL_INCDIR),-I$(d))
# Only the ctnetlink module, and the C tests and fuzzers of its area, link these.
CT_LIBS     = $(foreach d,$(NETFILTER_CONNTRACK_LIBDIR) $(MNL_LIBDIR),-L$(d)) \
              -lnetfilter_conntrack -lnfnetlink -lmnl
# Warnings are errors here; a rock built on another machine (another
# compiler) gets them as warnings (the rockspec sets WERROR empty).
WERROR     ?= -Werror
WARN        = -Wall -Wextra -Wmissing-prototypes -Wshadow $(WERROR)
CFLAGS     ?= -O2 -g
ALL_CFLAGS  = -std=c11 -D_GNU_SOURCE -fPIC -fvisibility=hidden $(WARN) $(PKG_CFLAGS) $(CFLAGS)

SRC         = $(sort $(wildcard csrc/*.c))
HDR         = $(wildcard csrc/*.h)
# Two C modules, split by what they link.  netops.ctnetlink: the kernel
# conntrack binding, with libnetfilter_conntrack, libnfnetlink and libmnl,
# plus the libc-only code it calls (compiled into it again: Lua loads each C
# module with its symbols private).  netops.core: everything else, libc only.
CT_SRC      = csrc/conntrack.c csrc/ct_text.c csrc/lua_conntrack.c csrc/lua_ct_text.c
CT_SHARED   = csrc/luax.c csrc/inet.c csrc/clock.c csrc/spawn.c csrc/file.c
CORE_SRC    = $(filter-out $(CT_SRC),$(SRC))
# Area code free of Lua: linked into C tests, fuzzers and C benchmarks; those
# that include conntrack.h also get conntrack.c and its libraries.
CT_PURE     = csrc/conntrack.c csrc/ct_text.c
PURE_SRC    = $(filter-out csrc/lua_% csrc/core.c csrc/luax.c $(CT_PURE),$(SRC))
CT_USERS   := $(shell grep -lE '^\#include "(conntrack|ct_text).h"' spec/c/*.c spec/fuzz/*.c 2>/dev/null)
ct_src      = $(if $(filter $(CT_USERS),$<),$(CT_PURE) $(CT_LIBS))
CTESTS      = $(patsubst spec/c/%.c,$(BUILD)/ctest/%,$(wildcard spec/c/*.c))
HELPERS     = $(patsubst spec/helpers/%.c,$(BUILD)/helpers/%,$(wildcard spec/helpers/*.c))
FUZZERS     = $(patsubst spec/fuzz/%.c,$(BUILD)/fuzz/%,$(wildcard spec/fuzz/*.c))
FUZZ_SECONDS ?= 60

# Debian packages: the build, then what tests, benchmarks and the demo run.
# `make install` needs DEPS_BUILD only.
DEPS_BUILD  = lua5.4 liblua5.4-dev luarocks libnetfilter-conntrack-dev \
              libmnl-dev gcc make pkg-config zip unzip git tar pandoc \
              lua-argparse lua-dkjson lua-filesystem
DEPS_TEST   = lua-busted lua5.1 lua5.3 valgrind clang libclang-rt-14-dev iproute2 procps \
              conntrack conntrackd keepalived nftables iptables openssh-server \
              openssh-client perl python3 util-linux strace iputils-ping socat \
              man-db bash-completion prometheus-node-exporter curl
# The API reference (make doc: ldoc . with config.ld, into doc/api/).
DEPS_DOC    = lua-ldoc lua-discount

.PHONY: all deps deps-build deps-test build check test ctest helpers sanitize valgrind \
        fuzz bench demo doc man completion install install-rock uninstall rock package-test clean \
        rock-build rock-install

all: build

deps: deps-build deps-test

deps-build:
	@sh .ci/deps.sh $(DEPS_BUILD)

deps-test:
	@sh .ci/deps.sh $(DEPS_TEST) $(DEPS_DOC)

build: $(BUILD)/netops/core.so $(BUILD)/netops/ctnetlink.so $(HELPERS)

$(BUILD)/netops/core.so: $(CORE_SRC) $(HDR) Makefile
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -shared -o $@ $(CORE_SRC) $(LDFLAGS)

$(BUILD)/netops/ctnetlink.so: $(CT_SRC) $(CT_SHARED) $(HDR) Makefile
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -shared -o $@ $(CT_SRC) $(CT_SHARED) $(CT_LIBS) $(LDFLAGS)

$(BUILD)/ctest/%: spec/c/%.c $(PURE_SRC) $(CT_PURE) $(HDR)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Icsrc -o $@ $< $(PURE_SRC) $(ct_src) $(LDFLAGS)

$(BUILD)/helpers/%: spec/helpers/%.c
	@mkdir -p $(@D)
	$(CC) -std=c11 -D_GNU_SOURCE $(WARN) -O1 -g -pthread -o $@ $<

ctest: $(CTESTS)

helpers: $(HELPERS)

# probeleak is built from netops' own probe.c, spawn.c and clock.c (it includes them)
$(BUILD)/helpers/probeleak: csrc/probe.c csrc/probe.h csrc/spawn.c csrc/spawn.h csrc/clock.c csrc/clock.h

# ct_text_cli runs netops' own snapshot parser (csrc/ct_text.c and what it calls)
$(BUILD)/helpers/ct_text_cli: spec/helpers/ct_text_cli.c $(PURE_SRC) $(CT_PURE) $(HDR)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Icsrc -o $@ $< $(PURE_SRC) $(CT_PURE) $(CT_LIBS) $(LDFLAGS)

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
$(BUILD)/fuzz/%: spec/fuzz/%.c $(PURE_SRC) $(CT_PURE) $(HDR)
	@mkdir -p $(@D)
	clang -std=c11 -D_GNU_SOURCE -g -O1 -Icsrc -fsanitize=fuzzer,address,undefined \
	  -fno-sanitize-recover=all -o $@ $< $(PURE_SRC) $(ct_src)

fuzz: deps $(FUZZERS)
	@set -e; for f in $(FUZZERS); do \
	  mkdir -p $(BUILD)/corpus/$$(basename $$f); \
	  $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $(BUILD)/corpus/$$(basename $$f); done

# Benchmarks: netops and its rivals side by side, ratios printed.  Every
# bench/[0-9]* runs (one failing does not skip the rest), each headed by the
# date and the load average and followed by the load average; the exit
# status says whether any failed.
bench: deps
	@$(MAKE) --no-print-directory build
	@failed=; for b in bench/[0-9]*; do \
	  echo "== $$b  $$(date -Iseconds)  load average $$(cut -d' ' -f1-3 /proc/loadavg)"; \
	  if [ -x "$$b" ] && NETOPS_BUILD=$(BUILD) ./$$b; then :; else echo "== $$b FAILED"; failed="$$failed $$b"; fi; \
	  echo "== $$b done  load average $$(cut -d' ' -f1-3 /proc/loadavg)"; \
	done; \
	if [ -n "$$failed" ]; then echo "benchmarks failed:$$failed"; exit 1; fi

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

VERSION    := $(shell sed -n 's/.*_VERSION = "netops \([^"]*\)".*/\1/p' lua/netops/init.lua)
PREFIX     ?= /usr/local
DIST       ?= dist
LUAROCKS    = luarocks --lua-version 5.4
# The commands: examples/NAME.lua, installed as bin/NAME.
COMMANDS    = checksignals normalize sssh netops-failover netops-conntrack failover-tester
# The Lua modules: lua/netops/..., installed as netops/... (precompiled), and
# the default failover policy, as netops.policies.primary_backup (text: it is
# a policy, loaded by netops-failover's trusted loader).
LUA_MODULES = $(sort $(shell find lua/netops -name '*.lua'))
# Man pages: doc/man/NAME.N.md (pandoc's man page markdown) -> build/man/NAME.N
MAN_PAGES  := $(patsubst doc/man/%.md,%,$(wildcard doc/man/*.md))
man_dir     = $(PREFIX)/share/man/man$(subst .,,$(suffix $(1)))
COMPLETIONS = $(addprefix $(BUILD)/completion/,$(COMMANDS))
# Installed beside the man pages, to copy and edit; the rock has them too.
SHARED_DOCS = examples/primary-backup.lua examples/keepalived.conf examples/conntrackd.conf \
              examples/netops-conntrack-metrics.service examples/netops-conntrack-metrics.timer

man: $(addprefix $(BUILD)/man/,$(MAN_PAGES))

$(BUILD)/man/%: doc/man/%.md
	@mkdir -p $(@D)
	pandoc --standalone --from markdown-smart --to man --output $@ $<

# Bash completion: doc/completion/NAME when there is one (sssh: ssh's
# completion), else generated by argparse from netops.cli.NAME's parser().
completion: $(COMPLETIONS)

# Made every time (a few milliseconds): a doc/completion/NAME removed must
# not leave its copy behind.
$(BUILD)/completion/%: $(BUILD)/netops/core.so FORCE
	@mkdir -p $(@D)
	if [ -f doc/completion/$* ]; then cp doc/completion/$* $@; else \
	  $(LUA) -e 'package.path = "lua/?.lua;lua/?/init.lua;" .. package.path' \
	    -e 'package.cpath = "$(BUILD)/?.so;" .. package.cpath' \
	    -e 'io.write(require("netops.cli.$(subst -,_,$*)").parser():get_bash_complete())' > $@.tmp && \
	  mv $@.tmp $@; fi

FORCE:

# The checkout's files (tracked, and new ones git does not ignore), as they
# are now, copied into directory $(1): luarocks builds there, so the
# checkout's build/ (made with other flags) is neither used nor touched.
copy_sources = git ls-files -z --cached --others --exclude-standard | \
	  tar --null --files-from=- --ignore-failed-read -cf - | tar -xf - -C $(1)

# The rock alone into PREFIX's tree (PREFIX/bin, share/lua/5.4, lib/lua/5.4),
# built by luarocks make in a copy of the checkout.
install-rock: deps-build
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	  $(call copy_sources,"$$tmp"); \
	  echo "cd $$tmp && $(LUAROCKS) --tree=$(abspath $(PREFIX)) make rockspec/netops-scm-1.rockspec"; \
	  cd "$$tmp" && $(LUAROCKS) --tree="$(abspath $(PREFIX))" make rockspec/netops-scm-1.rockspec

# The rock, the man pages, the bash completions, the default policy and the
# sample configs.
install: install-rock man completion
	$(foreach m,$(MAN_PAGES),install -D -m 644 $(BUILD)/man/$(m) $(call man_dir,$(m))/$(m) &&) true
	install -d $(PREFIX)/share/bash-completion/completions $(PREFIX)/share/doc/netops
	install -m 644 $(COMPLETIONS) $(PREFIX)/share/bash-completion/completions/
	install -m 644 $(SHARED_DOCS) $(PREFIX)/share/doc/netops/

# Exactly what install put there.
uninstall:
	! $(LUAROCKS) --tree="$(PREFIX)" show netops >/dev/null 2>&1 || \
	  $(LUAROCKS) --tree="$(PREFIX)" remove netops
	rm -f $(foreach m,$(MAN_PAGES),$(call man_dir,$(m))/$(m)) \
	  $(addprefix $(PREFIX)/share/bash-completion/completions/,$(COMMANDS)) \
	  $(addprefix $(PREFIX)/share/doc/netops/,$(notdir $(SHARED_DOCS)))
	! [ -d $(PREFIX)/share/doc/netops ] || rmdir $(PREFIX)/share/doc/netops

# The rock's build and install, which luarocks runs (the rockspec's build
# type is "make"): luarocks passes its CFLAGS and include directories to
# rock-build, and to rock-install the rock's directories (INST_LUADIR,
# INST_LIBDIR, INST_BINDIR) and LUA, the absolute path of the interpreter it
# installs for.  Each command gets `#!LUA` as its first line, so a start
# execs the interpreter directly (no env(1), no PATH search); each Lua
# module is installed precompiled by that interpreter (rockspec/compile.lua,
# debug information kept), so a start does not parse it.
rock-build: $(BUILD)/netops/core.so $(BUILD)/netops/ctnetlink.so

rock-install: rock-build
	@test -n "$(INST_LUADIR)" -a -n "$(INST_LIBDIR)" -a -n "$(INST_BINDIR)" || \
	  { echo "rock-install: luarocks runs it, with INST_LUADIR, INST_LIBDIR, INST_BINDIR and LUA" >&2; exit 2; }
	@case "$(LUA)" in /*) ;; *) echo "rock-install: LUA must be an absolute path, not '$(LUA)'" >&2; exit 2;; esac
	install -d $(INST_LIBDIR)/netops $(INST_BINDIR) $(INST_LUADIR)/netops/policies \
	  $(sort $(dir $(patsubst lua/%,$(INST_LUADIR)/%,$(LUA_MODULES))))
	install -m 755 $(BUILD)/netops/core.so $(BUILD)/netops/ctnetlink.so $(INST_LIBDIR)/netops/
	$(LUA) rockspec/compile.lua lua $(INST_LUADIR) $(LUA_MODULES)
	install -m 644 examples/primary-backup.lua $(INST_LUADIR)/netops/policies/primary_backup.lua
	$(foreach c,$(COMMANDS),sed '1s|^#!.*|#!$(LUA)|' examples/$(c).lua > $(INST_BINDIR)/$(c) && \
	  chmod 755 $(INST_BINDIR)/$(c) &&) true

# A rocks server in DIST: the source rock of rockspec/netops-VERSION-1.rockspec
# (its source a tarball of the checkout as it is), and the manifest.
# `luarocks install --server=DIST netops` installs from it.
rock: deps-build
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	  mkdir -p "$$tmp/netops-$(VERSION)" $(DIST); dist=$$(cd $(DIST) && pwd); \
	  $(call copy_sources,"$$tmp/netops-$(VERSION)"); \
	  tar -C "$$tmp" -czf "$$tmp/netops-$(VERSION).tar.gz" netops-$(VERSION); \
	  sed -e "s|^\( *\)url = .*|\1url = \"file://$$tmp/netops-$(VERSION).tar.gz\",|" -e '/^ *tag = /d' \
	    rockspec/netops-$(VERSION)-1.rockspec > "$$tmp/netops-$(VERSION)-1.rockspec"; \
	  cd "$$tmp"; $(LUAROCKS) pack netops-$(VERSION)-1.rockspec; \
	  mv netops-$(VERSION)-1.src.rock "$$dist/"; \
	  luarocks-admin --lua-version 5.4 make-manifest "$$dist"

# The packaging steps (make install, make rock, luarocks install from it,
# make uninstall), offline, into throwaway trees; then the installed module,
# commands, man pages and completions are exercised.
package-test: build
	@sh .ci/package-test.sh

# luarocks make run in the checkout leaves csrc/*.o and netops/*.so.
clean:
	rm -rf build build-asan *.rock csrc/*.o netops $(DIST)
