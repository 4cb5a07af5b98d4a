# tandem: one entry point for building, testing, benchmarks and the demo.
#   make            build build/tandem (and the BPF objects and skeletons)
#   make test       unit, BPF data-path and system tests, through prove (TAP)
#   make SAN=1 ...  the same with ASan+UBSan, into build/san
#   make fuzz       run every libFuzzer target for FUZZ_SECONDS each
#   make V=1        show the commands
#   make install    binary, man pages, systemd units, examples under PREFIX
#                   (/usr/local), into DESTDIR; make uninstall; make deb
# The fuzz run reads the committed seeds in tests/fuzz/corpus/NAME and
# writes what it finds under build/fuzz.
# Sources are found by wildcard: a new file in src/<part>/ needs no edit here.

SAN ?= 0
V ?= 0
FUZZ_SECONDS ?= 30
O := build
ifeq ($(SAN),1)
O := build/san
endif

# Where make install puts things. The cluster file stays in /etc whatever
# the prefix (the units name /etc/tandem/cluster.ini); Debian keeps its
# units in /lib/systemd/system for PREFIX=/usr, systemd also reads
# /usr/local/lib/systemd/system.
PREFIX ?= /usr/local
DESTDIR ?=
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
DOCDIR ?= $(PREFIX)/share/doc/tandem
SYSCONFDIR ?= /etc
UNITDIR ?= $(if $(filter /usr,$(PREFIX)),,$(PREFIX))/lib/systemd/system
VERSION := $(shell sed -n 's/^\#define TANDEM_VERSION "\(.*\)"/\1/p' src/ctl/ctl.h)
DEB_JOBS ?= 2

CC ?= cc
CLANG ?= clang
BPFTOOL ?= bpftool
ARCH_INC := /usr/include/$(shell $(CC) -dumpmachine)

CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Wshadow -D_GNU_SOURCE \
	-fno-strict-aliasing -MMD -MP \
	-Isrc/core -Isrc/http -Isrc/l7 -Isrc/relay -Isrc/l4 -Isrc/ctl -Isrc/dash -Isrc/bpf/shared -Isrc -I$(O)/bpf
LDLIBS += -linih -lbpf -lelf -lz -lpthread -lsystemd -lssl -lcrypto
ifeq ($(SAN),1)
CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-7s %s\n' $(1) $(2);
endif

PARTS := core http l7 relay l4 dash ctl
SRCS := $(foreach p,$(PARTS),$(wildcard src/$(p)/*.c))
MAIN_SRC := src/ctl/ctl_main.c
LIB_SRCS := $(filter-out $(MAIN_SRC),$(SRCS))
OBJS := $(SRCS:%.c=$(O)/%.o)
LIB_OBJS := $(LIB_SRCS:%.c=$(O)/%.o)

BPF_SRCS := $(wildcard src/bpf/*.bpf.c)
BPF_OBJS := $(BPF_SRCS:src/bpf/%.bpf.c=$(O)/bpf/%.bpf.o)
BPF_SKELS := $(BPF_SRCS:src/bpf/%.bpf.c=$(O)/bpf/%.skel.h)

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(O)/tests/unit/%)
BPFT_SRCS := $(wildcard tests/bpf/test_*.c)
BPFT_BINS := $(BPFT_SRCS:tests/bpf/%.c=$(O)/tests/bpf/%)
SYS_TESTS := $(sort $(wildcard tests/sys/*.t))
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=build/fuzz/%)
HTTP_SRCS := $(wildcard src/http/*.c)
MANS := $(patsubst doc/man/%.scd,build/man/%,$(wildcard doc/man/*.scd))
UNITS := $(patsubst dist/systemd/%.in,%,$(wildcard dist/systemd/*.service.in))
EXAMPLES := $(wildcard conf/*.ini)

# BPF objects feed the skeletons and the lab: keep them, not as intermediates.
.SECONDARY: $(BPF_OBJS) $(BPF_SKELS)

.PHONY: all test unit-test sys-test fuzz bench bench-l4 bench-tls bench-scaling-tls bench-scaling-large demo fmt clean help deps \
	man install uninstall deb
all: $(O)/tandem

$(O)/tandem: $(OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Every C object may include a skeleton: build them first.
$(O)/%.o: %.c | $(BPF_SKELS)
	@mkdir -p $(@D)
	$(call msg,CC,$<)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# The dashboard's page and script are built into the binary (.incbin).
$(O)/src/dash/dash_assets.o: src/dash/dash.html src/dash/dash.js

$(O)/bpf/%.bpf.o: src/bpf/%.bpf.c $(wildcard src/bpf/lib/*.h src/bpf/shared/*.h)
	@mkdir -p $(@D)
	$(call msg,BPF,$<)
	$(Q)$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_x86 -I$(ARCH_INC) \
		-Isrc/bpf -Isrc/bpf/shared -c -o $@ $<

$(O)/bpf/%.skel.h: $(O)/bpf/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@

$(O)/tests/unit/%: tests/unit/%.c $(LIB_OBJS)
	@mkdir -p $(@D)
	$(call msg,TEST,$@)
	$(Q)$(CC) $(CFLAGS) -Itests/unit $(LDFLAGS) -o $@ $^ $(LDLIBS)

# A BPF test includes a skeleton: rebuilt when any skeleton changes.
$(O)/tests/bpf/%: tests/bpf/%.c $(LIB_OBJS) $(BPF_SKELS) $(wildcard tests/bpf/*.h)
	@mkdir -p $(@D)
	$(call msg,TEST,$@)
	$(Q)$(CC) $(CFLAGS) -Itests/unit $(LDFLAGS) -o $@ $(filter %.c %.o,$^) $(LDLIBS)

# The bench helper origin of bench/locality (not part of all: tandem does not need it).
$(O)/bench/cacheorigin: bench/locality/cacheorigin.c
	@mkdir -p $(@D)
	$(call msg,CC,$<)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -pthread -o $@ $<

# Benchmark helpers link the same objects as the tests (bench/l4/xdp_pps).
$(O)/bench/l4/%: bench/l4/%.c $(LIB_OBJS) | $(BPF_SKELS)
	@mkdir -p $(@D)
	$(call msg,BENCH,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(filter %.c %.o,$^) $(LDLIBS)

build/fuzz/%: tests/fuzz/%.c $(HTTP_SRCS)
	@mkdir -p $(@D)
	$(call msg,FUZZ,$@)
	$(Q)$(CLANG) -g -O1 -std=gnu11 -D_GNU_SOURCE -Isrc/http -Isrc/core \
		-fsanitize=fuzzer,address,undefined -o $@ $^

# One prove run, so CI reads one summary. System tests find the binary in $TANDEM.
test: all $(UNIT_BINS) $(BPFT_BINS)
	TANDEM=$(abspath $(O)/tandem) SAN=$(SAN) prove --timer --failures --comments --exec '' $(UNIT_BINS) $(BPFT_BINS) $(SYS_TESTS)

unit-test: $(UNIT_BINS)
	prove --exec '' $(UNIT_BINS)

sys-test: all
	TANDEM=$(abspath $(O)/tandem) SAN=$(SAN) prove --timer --failures --comments --exec '' $(SYS_TESTS)

fuzz: $(FUZZ_BINS)
	@for f in $(FUZZ_BINS); do \
		n=$$(basename $$f); mkdir -p tests/fuzz/corpus/$$n build/fuzz/corpus/$$n; \
		echo "fuzz: $$n for $(FUZZ_SECONDS)s"; \
		$$f -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
			-artifact_prefix=build/fuzz/ build/fuzz/corpus/$$n tests/fuzz/corpus/$$n \
			> build/fuzz/$$n.log 2>&1 \
			|| { tail -40 build/fuzz/$$n.log; exit 1; }; \
		tail -1 build/fuzz/$$n.log; \
	done

bench: all
	bench/relay/run.sh

bench-l4: all $(O)/bench/l4/xdp_pps
	bench/l4/run.sh

bench-tls: all
	bench/tls/run.sh

bench-scaling-tls: all
	TLS=1 bench/scaling/run.sh

bench-scaling-large: all
	LARGE=1 bench/scaling/run.sh

demo: all
	lab/demo.sh

deps:
	scripts/deps.sh

# Man pages from scdoc sources: doc/man/NAME.SECTION.scd -> build/man/NAME.SECTION
man: $(MANS)

build/man/%: doc/man/%.scd
	@mkdir -p $(@D)
	$(call msg,SCDOC,$@)
	$(Q)scdoc < $< > $@.tmp && mv $@.tmp $@

# The units get the installed paths; an existing cluster file or logrotate
# file in SYSCONFDIR is never overwritten (ours go there the first time).
install: $(O)/tandem man
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(DOCDIR)/examples \
		$(DESTDIR)$(SYSCONFDIR)/tandem
	install -m 755 $(O)/tandem $(DESTDIR)$(SBINDIR)/tandem
	for m in $(MANS); do \
		install -D -m 644 $$m $(DESTDIR)$(MANDIR)/man$${m##*.}/$${m##*/} || exit 1; \
	done
	for u in $(UNITS); do \
		sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
			dist/systemd/$$u.in > $(DESTDIR)$(UNITDIR)/$$u && \
		chmod 644 $(DESTDIR)$(UNITDIR)/$$u || exit 1; \
	done
	install -m 644 $(EXAMPLES) $(DESTDIR)$(DOCDIR)/examples/
	@for f in tandem/cluster.ini:conf/cluster.ini logrotate.d/tandem:conf/logrotate.tandem; do \
		dst=$(DESTDIR)$(SYSCONFDIR)/$${f%%:*}; src=$${f#*:}; \
		if [ -e $$dst ]; then \
			echo "install: $$dst exists, kept"; \
		else \
			echo "install -D -m 644 $$src $$dst"; \
			install -D -m 644 $$src $$dst || exit 1; \
		fi; \
	done

# Removes what install put there; a file in SYSCONFDIR only while it is
# still ours as installed.
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/tandem
	rm -f $(foreach m,$(MANS),$(DESTDIR)$(MANDIR)/man$(subst .,,$(suffix $(m)))/$(notdir $(m)))
	rm -f $(addprefix $(DESTDIR)$(UNITDIR)/,$(UNITS))
	rm -f $(addprefix $(DESTDIR)$(DOCDIR)/examples/,$(notdir $(EXAMPLES)))
	-rmdir $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(DOCDIR) 2>/dev/null
	@for f in tandem/cluster.ini:conf/cluster.ini logrotate.d/tandem:conf/logrotate.tandem; do \
		dst=$(DESTDIR)$(SYSCONFDIR)/$${f%%:*}; src=$${f#*:}; \
		if cmp -s $$src $$dst; then \
			echo "rm -f $$dst"; rm -f $$dst; \
		elif [ -e $$dst ]; then \
			echo "uninstall: $$dst differs from $$src, kept"; \
		fi; \
	done
	-rmdir $(DESTDIR)$(SYSCONFDIR)/tandem 2>/dev/null

# The Debian package (debian/), built by dpkg-buildpackage in a copy of the
# tree under build/deb, so its `debian/rules clean` and Debian's build
# flags never touch this tree's build/. The copy is what git would commit
# (tracked and untracked files, not ignored ones), or all but build/.
deb:
	@v=$$(dpkg-parsechangelog -l debian/changelog -S Version) && [ "$$v" = "$(VERSION)" ] || \
		{ echo "deb: debian/changelog is at $$v, src/ctl/ctl.h at $(VERSION)" >&2; exit 1; }
	rm -rf build/deb
	mkdir -p build/deb/tandem-$(VERSION)
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
		git ls-files -z -co --exclude-standard | \
			tar --null --ignore-failed-read -T - -cf - 2>/dev/null; \
	else \
		tar --exclude=./build --exclude=./.git -cf - .; \
	fi | tar -xf - -C build/deb/tandem-$(VERSION)
	cd build/deb/tandem-$(VERSION) && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES \
		dpkg-buildpackage -b -us -uc -j$(DEB_JOBS) > ../build.log 2>&1 || \
		{ tail -40 ../build.log; exit 1; }
	cp build/deb/tandem_$(VERSION)_$$(dpkg --print-architecture).deb build/
	@echo "deb: build/tandem_$(VERSION)_$$(dpkg --print-architecture).deb (log: build/deb/build.log)"

fmt:
	clang-format -i $(SRCS) $(wildcard src/*/*.h)

clean:
	rm -rf build

help:
	@echo "make            build build/tandem"
	@echo "make test       unit + BPF + system tests (TAP, prove); SAN=1 for ASan/UBSan"
	@echo "make unit-test  unit tests only;  make sys-test: system tests only"
	@echo "make fuzz       libFuzzer targets, FUZZ_SECONDS=$(FUZZ_SECONDS) each"
	@echo "make bench      bench/relay: tandem vs HAProxy vs direct (CSV + plot)"
	@echo "make bench-l4   bench/l4: XDP and tc pps per core, front-end CPU per connection vs nftables"
	@echo "make bench-tls  bench/tls: HTTPS, tandem vs HAProxy: keep-alive, full and resumed handshakes (CSV + plot)"
	@echo "make bench-scaling-tls  bench/scaling, HTTPS: two-level vs central HAProxy terminating TLS, 1-9 nodes"
	@echo "make bench-scaling-large  bench/scaling, 256 KiB-4 MiB objects: two-level with relay packet vs splice vs central HAProxy, 1-9 nodes"
	@echo "make demo       the loopback demo (README's first command)"
	@echo "bench/locality/run.sh  rr vs chash vs lard on origins with bounded caches (CSV + plot)"
	@echo "make deps       install the Debian packages (root)"
	@echo "make man        build/man/tandem.8, tandem.ini.5 (scdoc)"
	@echo "make install    PREFIX=$(PREFIX) DESTDIR=: binary, man pages, units, examples,"
	@echo "                $(SYSCONFDIR)/tandem/cluster.ini, logrotate.d/tandem if absent;  make uninstall"
	@echo "make deb        build/tandem_$(VERSION)_ARCH.deb (dpkg-buildpackage)"
	@echo "options: V=1 (show commands), SAN=1 (sanitizers, into build/san)"

-include $(OBJS:.o=.d)
