# netblame build. Intermediates go to build/, programs to bin/.
# Sources are discovered by folder, so adding a module is adding a file.

CC       ?= gcc
CLANG    ?= clang
BPFTOOL  ?= bpftool
BUILD    := build
BIN      := bin

ARCH     := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')
CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -Icommon -I$(BUILD) -I$(BUILD)/bpf
LDLIBS   := -lbpf -lelf -lz -lczmq -lzmq -lmsgpackc -lcrypto -ljansson -lyaml -lm -lpthread
# UAPI headers (the tcx object uses no vmlinux.h) need the multiarch asm/ directory.
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -I$(BUILD) -Icommon -Wall -Werror \
	-Wno-unused-function -idirafter /usr/include/$(MULTIARCH)
LLVM_STRIP ?= llvm-strip

COMMON_SRC := $(wildcard common/*.c)
COMMON_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(COMMON_SRC))
AGENT_SRC  := $(wildcard agent/*.c)
AGENT_OBJ  := $(patsubst %.c,$(BUILD)/%.o,$(AGENT_SRC))
COORD_SRC  := $(wildcard coordinator/*.c)
COORD_OBJ  := $(patsubst %.c,$(BUILD)/%.o,$(COORD_SRC))
BPF_SRC    := $(wildcard bpf/*.bpf.c)
BPF_OBJ    := $(patsubst bpf/%.bpf.c,$(BUILD)/bpf/%.bpf.o,$(BPF_SRC))
SKELS      := $(patsubst bpf/%.bpf.c,$(BUILD)/bpf/%.skel.h,$(BPF_SRC))
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BIN   := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
TTOOL_SRC  := $(wildcard tests/tools/*.c)
TTOOL_BIN  := $(patsubst tests/tools/%.c,$(BUILD)/tests/tools/%,$(TTOOL_SRC))
BENCH_SRC  := $(wildcard tests/bench/*.c)
BENCH_BIN  := $(patsubst tests/bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))
LIBCOMMON  := $(BUILD)/libnbcommon.a
DEPS_STAMP := $(BUILD)/.deps-ok

# The sanitizer build: common/ and the unit tests again, with clang, ASan and UBSan, in a tree of
# their own so the normal build is untouched. common/ also carries libFuzzer's coverage
# instrumentation (fuzzer-no-link), so one library serves the unit tests and the fuzz targets.
ASAN       := $(BUILD)/asan
SAN_FLAGS  := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
SAN_CFLAGS := -O1 -g $(SAN_FLAGS) -std=gnu11 -Wall -Wextra -Werror -Wno-missing-field-initializers \
	-D_GNU_SOURCE -Icommon -I$(BUILD) -I$(BUILD)/bpf
ASAN_COMMON_OBJ := $(patsubst %.c,$(ASAN)/%.o,$(COMMON_SRC))
ASAN_LIBCOMMON  := $(ASAN)/libnbcommon.a
ASAN_UNIT_BIN   := $(patsubst tests/unit/%.c,$(ASAN)/tests/%,$(UNIT_SRC))

# Fuzz targets: every tests/fuzz/fuzz_NAME.c is one, so adding a target is adding a file. It
# defines LLVMFuzzerTestOneInput and nb_fuzz_seeds(), which writes its seed inputs (made with the
# project's own encoders) into build/fuzz/corpus/NAME at build time.
FUZZ       := $(BUILD)/fuzz
FUZZ_SRC   := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_NAMES := $(patsubst tests/fuzz/fuzz_%.c,%,$(FUZZ_SRC))
FUZZ_BIN   := $(patsubst %,$(FUZZ)/fuzz_%,$(FUZZ_NAMES))
FUZZ_SEEDS := $(patsubst %,$(FUZZ)/corpus/%.done,$(FUZZ_NAMES))
# `make fuzz` runs each target this long; `make test` gives each FUZZ_TEST_SECONDS.
FUZZ_SECONDS      ?= 60
FUZZ_TEST_SECONDS ?= 10

# test_wire counts and fails allocations by wrapping the allocator at link time, which leaves
# the real one (and valgrind's or ASan's in its place) intact.
$(BUILD)/tests/test_wire $(ASAN)/tests/test_wire: TEST_LDFLAGS := \
	-Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free

.PHONY: all deps test unit e2e demo bench clean format lab-down sanitize fuzz install deb
.DEFAULT_GOAL := all

all: $(DEPS_STAMP) $(BIN)/netblame-agent $(BIN)/netblame links testtools

# Installs what is missing (Debian packages by name); fast when everything is there.
deps:
	deploy/install-deps.sh
	@mkdir -p $(BUILD) && touch $(DEPS_STAMP)

$(DEPS_STAMP):
	deploy/install-deps.sh
	@mkdir -p $(BUILD) && touch $@

$(BUILD)/vmlinux.h: | $(DEPS_STAMP)
	@mkdir -p $(BUILD)
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@

# Its headers as clang lists them (the .d, as for C below): the layouts it shares with user space
# (common/nb_mon.h, nb_upcall.h, ...) must rebuild it when they change, or the two disagree.
$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c $(BUILD)/bpf/%.bpf.d $(BUILD)/vmlinux.h
	@mkdir -p $(dir $@)
	$(CLANG) $(BPF_CFLAGS) -MMD -MP -MF $(BUILD)/bpf/$*.bpf.d -MT $@ -c $< -o $@.tmp
	@# DWARF is for debuggers; the skeleton embeds the object, and libbpf needs only BTF.
	$(LLVM_STRIP) -g $@.tmp -o $@ && rm -f $@.tmp

# Made on the way to others and kept (not deleted as intermediate). Not every target: a missing
# dependency file must make its object out of date, which it would not as a secondary one.
.SECONDARY: $(BPF_OBJ) $(SKELS) $(BUILD)/vmlinux.h $(patsubst %,$(FUZZ)/seed_%,$(FUZZ_NAMES))

$(BUILD)/bpf/%.skel.h: $(BUILD)/bpf/%.bpf.o
	$(BPFTOOL) gen skeleton $< name $(subst -,_,$*)_bpf > $@.tmp && mv $@.tmp $@

# Each object depends on the headers it includes, as the compiler lists them (-MMD, into a .d
# file next to it, read at the end), so a header change rebuilds only what includes it. -MP adds
# an empty rule per header, so a header deleted or renamed does not stop the build. The .d is a
# prerequisite too: an object without one (built before this rule, or its .d lost) is built
# again, since nothing else would say which headers it needs.
DEPFLAGS := -MMD -MP

$(BUILD)/%.o: %.c $(BUILD)/%.d | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(DEPFLAGS) -c $< -o $@

# The agent includes every skeleton: they are generated, so they must exist before its first
# compilation lists them.
$(AGENT_OBJ): $(SKELS)

$(LIBCOMMON): $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# serve's libraries are opened when serve starts (agent/serve_libs.c), not linked: every
# single-host tool would load them and the ~25 libraries they pull in at each start.
AGENT_LDLIBS := $(filter-out -lczmq -lzmq -lcrypto,$(LDLIBS)) -ldl
soname = $(shell objdump -p $$($(CC) -print-file-name=lib$(1).so) 2>/dev/null | \
	awk '/SONAME/ { print $$2 }')
$(BUILD)/agent/serve_libs.o: CFLAGS += -DNB_SONAME_ZMQ='"$(call soname,zmq)"' \
	-DNB_SONAME_MHD='"$(call soname,microhttpd)"' -DNB_SONAME_CRYPTO='"$(call soname,crypto)"'

$(BIN)/netblame-agent: $(AGENT_OBJ) $(LIBCOMMON)
	@mkdir -p $(BIN)
	$(CC) $(CFLAGS) -o $@ $^ $(AGENT_LDLIBS)

$(BIN)/netblame: $(COORD_OBJ) $(LIBCOMMON)
	@mkdir -p $(BIN)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# The tool names come from the binary's own table, so they are listed in one place.
links: $(BIN)/netblame-agent
	@tools=$$($(BIN)/netblame-agent --list-tools) && [ -n "$$tools" ] && \
	for t in $$tools; do ln -sfn netblame-agent $(BIN)/$$t; done

testtools: $(TTOOL_BIN) $(UNIT_BIN)

# nb_lat_probe drives the agent's stage tracer directly: it links the agent's modules it uses.
$(BUILD)/tests/tools/nb_lat_probe: TOOL_OBJ := $(BUILD)/agent/nb_tracer.o $(BUILD)/agent/nb_netns.o \
	$(BUILD)/agent/nb_log.o
$(BUILD)/tests/tools/nb_lat_probe: $(BUILD)/agent/nb_tracer.o $(BUILD)/agent/nb_netns.o \
	$(BUILD)/agent/nb_log.o

# nb_html_render renders saved reports with the coordinator's HTML module.
$(BUILD)/tests/tools/nb_html_render: TOOL_OBJ := $(BUILD)/coordinator/report_html.o
$(BUILD)/tests/tools/nb_html_render: $(BUILD)/coordinator/report_html.o

$(BUILD)/tests/tools/%: tests/tools/%.c $(BUILD)/tests/tools/%.d $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(DEPFLAGS) -o $@ $< $(TOOL_OBJ) $(LIBCOMMON) $(LDLIBS) -lnetfilter_queue \
		-lnfnetlink -lmnl

$(BUILD)/tests/test_%: tests/unit/test_%.c $(BUILD)/tests/test_%.d $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(DEPFLAGS) -Wno-unused-parameter -o $@ $< $(LIBCOMMON) $(LDLIBS) -lcmocka \
		$(TEST_LDFLAGS)

$(ASAN)/common/%.o: common/%.c $(ASAN)/common/%.d | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CLANG) $(SAN_CFLAGS) $(DEPFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@
	@# clang writes the .d after the object: the object must not look older than it
	@touch $@

$(ASAN_LIBCOMMON): $(ASAN_COMMON_OBJ)
	rm -f $@ && ar rcs $@ $^

$(ASAN)/tests/test_%: tests/unit/test_%.c $(ASAN)/tests/test_%.d $(ASAN_LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CLANG) $(SAN_CFLAGS) $(DEPFLAGS) -Wno-unused-parameter -o $@ $< $(ASAN_LIBCOMMON) $(LDLIBS) \
		-lcmocka $(TEST_LDFLAGS)

$(FUZZ)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ)/fuzz_%.d $(ASAN_LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CLANG) $(SAN_CFLAGS) $(DEPFLAGS) -Itests/fuzz -fsanitize=fuzzer -o $@ $< $(ASAN_LIBCOMMON) \
		$(LDLIBS)

# The same target linked with a main() that writes its seeds instead of fuzzing. Two sources:
# the dependency file must be named, or both would write the same one.
$(FUZZ)/seed_%: tests/fuzz/fuzz_%.c tests/fuzz/seed_main.c $(FUZZ)/seed_%.d $(ASAN_LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CLANG) $(SAN_CFLAGS) -MMD -MP -MF $@.d -MT $@ -Itests/fuzz -DNB_FUZZ_SEEDS -o $@ $< \
		tests/fuzz/seed_main.c $(ASAN_LIBCOMMON) $(LDLIBS)

$(FUZZ)/corpus/%.done: $(FUZZ)/seed_%
	rm -rf $(FUZZ)/corpus/$* && mkdir -p $(FUZZ)/corpus/$*
	$< $(FUZZ)/corpus/$*
	@touch $@

sanitize: $(ASAN_UNIT_BIN) $(FUZZ_BIN) $(FUZZ_SEEDS)

test: all sanitize
	FUZZ_SECONDS=$(FUZZ_TEST_SECONDS) tests/run.sh

fuzz: sanitize
	FUZZ_SECONDS=$(FUZZ_SECONDS) tests/run.sh fuzz

unit: all
	tests/run.sh unit

e2e: all
	tests/run.sh e2e

demo: all
	tests/demo.sh

$(BUILD)/bench/%: tests/bench/%.c $(BUILD)/bench/%.d $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(DEPFLAGS) -O2 -o $@ $< $(LIBCOMMON) $(LDLIBS)

bench: all $(BENCH_BIN)
	tests/bench/run.sh

lab-down:
	tests/lab down

# The compiler's dependency lists, one per object or program built from C (none yet on a clean
# checkout: then everything is built anyway). A missing one is "made" by its empty rule, which
# makes what depends on it out of date; only those that exist are read.
DEP_FILES := $(BPF_OBJ:.o=.d) $(COMMON_OBJ:.o=.d) $(AGENT_OBJ:.o=.d) $(COORD_OBJ:.o=.d) $(UNIT_BIN:=.d) \
	$(TTOOL_BIN:=.d) $(BENCH_BIN:=.d) $(ASAN_COMMON_OBJ:.o=.d) $(ASAN_UNIT_BIN:=.d) \
	$(FUZZ_BIN:=.d) $(patsubst %,$(FUZZ)/seed_%.d,$(FUZZ_NAMES))
$(DEP_FILES):
-include $(wildcard $(DEP_FILES))

# ---- install and package ----
# make install [PREFIX=/usr/local] [DESTDIR=...]: the two programs, the tool symlinks, man pages
# made from --help, bash completion, the systemd unit, /etc/netblame/ and an example config.
VERSION     := 0.1
PREFIX      ?= /usr/local
BINDIR      ?= $(PREFIX)/bin
MANDIR      ?= $(PREFIX)/share/man
DATADIR     ?= $(PREFIX)/share/netblame
SYSCONFDIR  ?= /etc
UNITDIR     ?= $(PREFIX)/lib/systemd/system
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
MAN1        := $(BUILD)/man/netblame.1 $(BUILD)/man/netblame-agent.1
MAN_NAME_netblame       := find where packets between two hosts are lost or delayed
MAN_NAME_netblame-agent := trace packet paths with eBPF, alone or for a netblame coordinator

$(BUILD)/man/%.1: $(BIN)/%
	@mkdir -p $(dir $@)
	help2man --no-info --version-string=$(VERSION) --name="$(MAN_NAME_$*)" --output=$@.tmp $< && \
		mv $@.tmp $@

install: $(BIN)/netblame-agent $(BIN)/netblame $(MAN1)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(DATADIR)
	install -d -m 0750 $(DESTDIR)$(SYSCONFDIR)/netblame
	install -m 0755 $(BIN)/netblame-agent $(BIN)/netblame $(DESTDIR)$(BINDIR)/
	@tools=$$($(BIN)/netblame-agent --list-tools) && [ -n "$$tools" ] && \
	for t in $$tools; do ln -sfn netblame-agent $(DESTDIR)$(BINDIR)/$$t; done
	install -m 0644 $(MAN1) $(DESTDIR)$(MANDIR)/man1/
	sed 's#@BINDIR@#$(BINDIR)#g;s#@SYSCONFDIR@#$(SYSCONFDIR)#g' \
		deploy/systemd/netblame-agent.service.in >$(DESTDIR)$(UNITDIR)/netblame-agent.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/netblame-agent.service
	install -m 0644 deploy/completion/netblame.bash $(DESTDIR)$(BASHCOMPDIR)/netblame
	ln -sfn netblame $(DESTDIR)$(BASHCOMPDIR)/netblame-agent
	install -m 0644 deploy/agent.conf.example $(DESTDIR)$(DATADIR)/agent.conf.example
	install -d $(DESTDIR)$(DATADIR)/runbooks
	install -m 0644 deploy/runbooks/*.yaml $(DESTDIR)$(DATADIR)/runbooks/

# make deb: build/deb/netblame_$(VERSION)-1_ARCH.deb with dpkg-buildpackage, from a copy of the
# tree that keeps the build outputs (and their times), so nothing is compiled twice.
deb: $(BIN)/netblame-agent $(BIN)/netblame $(MAN1)
	rm -rf $(BUILD)/deb && mkdir -p $(BUILD)/deb/src
	tar -cf - --exclude=./$(BUILD)/deb --exclude=./$(BUILD)/asan --exclude=./$(BUILD)/fuzz \
		--exclude=./$(BUILD)/test-logs ./Makefile ./agent ./bpf ./common ./coordinator \
		./deploy ./tests ./$(BIN) ./$(BUILD) | tar -xf - -C $(BUILD)/deb/src
	cp -a deploy/debian $(BUILD)/deb/src/debian
	cd $(BUILD)/deb/src && dpkg-buildpackage -b -us -uc >../build.log 2>&1 || \
		{ tail -n 20 ../build.log; exit 1; }
	@ls $(BUILD)/deb/*.deb

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(BIN)
