# tryon-worker: one statically linked musl binary. `make` builds
# build/tryon-worker and nothing else; see docs/BUILD.md.
VERSION   = 0.1.0
BUILD     = build
VENDOR    = $(BUILD)/vendor
PREFIX    = $(VENDOR)/prefix
GEN       = $(VENDOR)/gen

CC        = musl-gcc
HOSTCC    = gcc
FUZZCC    = clang
WARN      = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wvla
CPPFLAGS  = -D_GNU_SOURCE -DTRYON_VERSION='"$(VERSION)"' -Isrc -I$(PREFIX)/include -I$(GEN)
# No unwind tables (.eh_frame): nothing unwinds C here (perf walks frame
# pointers, gdb reads -g's .debug_frame), and the binary's read-only pages
# are all resident in an idle worker (issue 15, docs/BUILD.md).
CFLAGS    = -std=c11 $(WARN) -O2 -g -fstack-protector-strong -fno-common -fno-asynchronous-unwind-tables -fno-unwind-tables -MMD -MP
# -static, not -static-pie: musl-gcc turns -static-pie into a dynamic binary.
# --gc-sections drops the vendored libraries' unused functions (vendor/build.sh);
# src/layout.ld keeps the code only jobs run apart from the parent's (issue 15).
LAYOUT    = src/layout.ld
LDFLAGS   = -static -Wl,-z,relro,-z,now,-z,noexecstack -Wl,--gc-sections -Wl,-T,$(LAYOUT)
LIBS      = $(PREFIX)/lib/libcurl.a $(PREFIX)/lib/libbearssl.a -lpthread

# Sources by folder (each folder's README.md says what it owns):
#   src/lib    buffers, JSON, logging, clocks, TLS trust, HTTPS client
#   src/redis  RESP, Redis URLs, the async connection, sync calls, scripts
#   src/celery Celery/kombu wire formats, pidbox, events, exit classes, outcomes
#   src/tryon  the try-on job: arguments, cache keys, fal client, breakers
#   src/worker the parent's loop, fetch, dispatch, jobs, finish, control
#   src/ops    HTTP endpoint, metrics, systemd notify
#   src        main, config, client, doctor, healthcheck, version
DIRS      = lib redis celery tryon worker ops
SRCS      = $(wildcard src/*.c) $(foreach d,$(DIRS),$(wildcard src/$(d)/*.c))
OBJS      = $(SRCS:src/%.c=$(BUILD)/obj/%.o)
STAMP     = $(VENDOR)/.stamp

# Pure modules, per folder: no sockets, no clock, no vendor libraries beyond
# headers. Unit tests and fuzzers link them from one archive each, built once
# with the host compiler and sanitizers.
PURE_lib    = buf errmsg json base64 isotime pyrepr ratelimit tokenbucket
PURE_redis  = resp scripts_lua sentinel resp_fifo redis_cmd
PURE_celery = celery_msg celery_ctl celery_inspect celery_control_cmds celery_events exitclass kombu record outcome
PURE_tryon  = breaker cachekey tryon_args fal_parse plan latency ledger_record
PURE_worker = outcome
PURE_ops    = promtext metrics httpparse page
PURE_SRCS = $(foreach d,$(DIRS),$(wildcard $(foreach m,$(PURE_$(d)),src/$(d)/$(m).c)))
SAN       = -fsanitize=address,undefined -fno-sanitize-recover=all
HOSTFLAGS = -std=c11 $(WARN) -O1 -g $(SAN) -D_GNU_SOURCE -Isrc -I$(GEN) -MMD -MP
FUZZFLAGS = -std=c11 -O1 -g -fsanitize=fuzzer-no-link,address,undefined -D_GNU_SOURCE -Isrc -I$(GEN) -MMD -MP
HOST_OBJS = $(PURE_SRCS:src/%.c=$(BUILD)/host/%.o)
FUZZ_OBJS = $(PURE_SRCS:src/%.c=$(BUILD)/fuzzobj/%.o)
HOST_LIB  = $(BUILD)/host/libpure.a
FUZZ_LIB  = $(BUILD)/fuzzobj/libpure.a
UNIT_SRCS = $(wildcard tests/unit/test_*.c)
UNIT_BINS = $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/unit/%)
FUZZ_SRCS = $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS = $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/fuzz/%)
# make fuzz: each target until FUZZ_RUNS runs (issue 14's goal) or FUZZ_TIME
# seconds, FUZZ_JOBS at a time, inputs up to FUZZ_MAXLEN bytes (docs/BUILD.md).
FUZZ_RUNS ?= 10000000
FUZZ_TIME ?= 3600
FUZZ_JOBS ?= $(shell nproc)
FUZZ_MAXLEN ?= 1024
# Tests of modules beyond the pure set name them here (host objects, built
# like the pure ones). Modules that use libcurl's URL API link Debian's
# libcurl (same upstream version, 7.88.1) so they run under the sanitizers.
UNIT_MODS_test_redis_url   = redis/redis_url
UNIT_LDLIBS_test_redis_url = -lcurl
UNIT_MODS_test_httpd       = ops/httpd lib/log lib/clock
UNIT_MODS_test_sdnotify    = ops/sdnotify
UNIT_MODS_test_tryon_state = tryon/tryon_state lib/log lib/clock
UNIT_MODS_test_log         = lib/log
FUZZ_MODS_fuzz_redis_url   = redis/redis_url
FUZZ_LDLIBS_fuzz_redis_url = -lcurl

.PHONY: all deps test unit integration fuzz fuzz-build bench bench-smoke bench-day bench-day-short chaos image portable \
	deploy-check clean distclean demo FORCE
all: $(BUILD)/tryon-worker

deps:
	vendor/install-deps.sh

$(STAMP): vendor/build.sh vendor/install-deps.sh vendor/versions.lock $(wildcard vendor/patches/*)
	vendor/install-deps.sh
	vendor/build.sh $(VENDOR)
	touch $@

# The commit is recorded in its own header, rewritten only when it changes.
$(GEN)/commit.h: FORCE | $(STAMP)
	@c=$$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown); \
	 git diff --quiet HEAD -- 2>/dev/null || c="$$c-dirty"; \
	 echo "#define TRYON_COMMIT \"$$c\"" > $@.tmp; \
	 cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@
FORCE:

$(BUILD)/obj/%.o: src/%.c | $(STAMP)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<
$(BUILD)/obj/version.o: $(GEN)/commit.h
# The trust anchors' bytes each in a section of their own, for src/layout.ld.
$(BUILD)/obj/lib/trust.o: CFLAGS += -fdata-sections

$(BUILD)/tryon-worker: $(OBJS) $(LAYOUT)
	$(CC) $(LDFLAGS) -o $@.debug $(OBJS) $(LIBS)
	strip -o $@ $@.debug
	@file $@ | grep -q 'statically linked' || { echo "error: $@ is not static" >&2; exit 1; }

# Tests: unit (host gcc + ASan/UBSan), then integration against the static
# binary; tests/run.sh prints the closing "N passed, N failed" line.
$(BUILD)/host/%.o: src/%.c | $(STAMP)
	@mkdir -p $(@D)
	$(HOSTCC) $(HOSTFLAGS) -c -o $@ $<
$(HOST_LIB): $(HOST_OBJS)
	rm -f $@ && ar rcs $@ $^

.SECONDEXPANSION:
# Host objects are kept between runs (make would delete them as intermediates).
.SECONDARY:
$(BUILD)/unit/%: tests/unit/%.c $$(addprefix $(BUILD)/host/,$$(addsuffix .o,$$(UNIT_MODS_$$*))) $(HOST_LIB) | $(STAMP)
	@mkdir -p $(@D)
	$(HOSTCC) $(HOSTFLAGS) -Itests/unit -o $@ $< $(UNIT_MODS_$*:%=$(BUILD)/host/%.o) $(HOST_LIB) $(UNIT_LDLIBS_$*) -lm

test: $(BUILD)/tryon-worker $(UNIT_BINS) $(FUZZ_BINS)
	BUILD=$(BUILD) tests/run.sh

unit: $(UNIT_BINS)
	BUILD=$(BUILD) tests/run.sh unit

integration: $(BUILD)/tryon-worker
	BUILD=$(BUILD) tests/run.sh integration

# redis_conn_check (tests/redis/): redis_conn and redis_sync against real
# redis-servers (TCP, TLS, unix socket, a restart) and in-process fake ones;
# run by tests/integration/test_b0_redis_conn.py, which finds it next to
# tryon-worker. Built like the binary: static musl, the program's objects
# but main.o, the vendor libraries. Its header deps go with the objects'.
CHECK_OBJS = $(filter-out $(BUILD)/obj/main.o,$(OBJS))
$(BUILD)/redis_conn_check: tests/redis/redis_conn_check.c $(CHECK_OBJS) | $(STAMP)
	@mkdir -p $(BUILD)/obj/tests
	$(CC) $(CPPFLAGS) $(CFLAGS) -MF $(BUILD)/obj/tests/redis_conn_check.d $(LDFLAGS) -o $@ $< $(CHECK_OBJS) $(LIBS)
	@file $@ | grep -q 'statically linked' || { echo "error: $@ is not static" >&2; exit 1; }
test integration: $(BUILD)/redis_conn_check

$(BUILD)/fuzzobj/%.o: src/%.c | $(STAMP)
	@mkdir -p $(@D)
	$(FUZZCC) $(FUZZFLAGS) -c -o $@ $<
$(FUZZ_LIB): $(FUZZ_OBJS)
	rm -f $@ && ar rcs $@ $^
$(BUILD)/fuzz/%: tests/fuzz/%.c $$(addprefix $(BUILD)/fuzzobj/,$$(addsuffix .o,$$(FUZZ_MODS_$$*))) $(FUZZ_LIB) | $(STAMP)
	@mkdir -p $(@D)
	$(FUZZCC) $(FUZZFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_MODS_$*:%=$(BUILD)/fuzzobj/%.o) $(FUZZ_LIB) $(FUZZ_LDLIBS_$*) -lm

fuzz-build: $(FUZZ_BINS)
fuzz: $(FUZZ_BINS)
	FUZZ_RUNS=$(FUZZ_RUNS) FUZZ_JOBS=$(FUZZ_JOBS) FUZZ_MAXLEN=$(FUZZ_MAXLEN) \
		tests/run-fuzz.sh $(FUZZ_TIME) $(FUZZ_BINS)

# The chaos run by hand: 10,000 tasks through SIGKILLs and a Redis restart
# (CI runs 1,000 as part of make test).
chaos: $(BUILD)/tryon-worker
	TRYON_CHAOS_TASKS=$${TRYON_CHAOS_TASKS:-10000} /usr/bin/python3 tests/integration/runner.py -k test_chaos_short

# The benchmark against the Python Celery worker (docs/BENCHMARKS.md); by
# hand, ~12 minutes. bench-smoke (~30 s) checks the harness and runs in make test.
bench: $(BUILD)/tryon-worker
	/usr/bin/python3 tests/bench/bench.py

bench-smoke: $(BUILD)/tryon-worker
	/usr/bin/python3 tests/bench/bench.py --smoke

# A production day in miniature: tryon-worker and the Python
# baseline side by side against one fal stand-in profile with faults, time
# scaled 1/10: answered in time, p50/p95, accepted requests per image,
# cancels, spend. bench-day: a few minutes, by hand, build/bench-day/
# (ARGS="--scale 0.2 --worker-env K=V" to vary it). bench-day-short: about
# 30 s, checks the harness ("N passed, N failed"), part of make test.
bench-day: $(BUILD)/tryon-worker
	TRYON_BINARY=$(BUILD)/tryon-worker /usr/bin/python3 tests/bench/bench_day.py $(ARGS)

bench-day-short: $(BUILD)/tryon-worker
	TRYON_BINARY=$(BUILD)/tryon-worker /usr/bin/python3 tests/bench/bench_day.py --short $(ARGS)

demo: $(BUILD)/tryon-worker
	tests/demo.sh

# Images without a container engine: an OCI archive (umoci) for registries,
# a docker-archive (skopeo; keeps the HEALTHCHECK for podman/docker load) and
# a systemd portable service image (squashfs); see image/README.md.
image: $(BUILD)/tryon-worker
	image/build-oci.sh $(BUILD)/tryon-worker $(BUILD)/tryon-worker-oci.tar

portable: $(BUILD)/tryon-worker
	image/build-portable.sh $(BUILD)/tryon-worker $(BUILD)

# The three ways users run it, run for real: the image under podman, the
# unit in a booted systemd, the portable image with portablectl (root,
# about a minute; the first run also builds a Debian root file system under
# $(BUILD)/deploy). tests/deploy/README.md says what each part checks.
deploy-check: $(BUILD)/tryon-worker
	tests/deploy/deploy-check.sh $(BUILD)

clean:
	rm -rf $(BUILD)/obj $(BUILD)/host $(BUILD)/fuzzobj $(BUILD)/unit $(BUILD)/fuzz $(BUILD)/tryon-worker $(BUILD)/tryon-worker.debug \
		$(BUILD)/tryon-worker-oci.tar $(BUILD)/tryon-worker-docker.tar $(BUILD)/tryon-worker_*.raw \
		$(BUILD)/redis_conn_check
distclean:
	rm -rf $(BUILD)

# Header dependencies of every object and test binary (-MMD -MP).
-include $(shell find $(BUILD)/obj $(BUILD)/host $(BUILD)/fuzzobj $(BUILD)/unit $(BUILD)/fuzz -name '*.d' 2>/dev/null)
