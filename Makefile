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
CFLAGS    = -std=c11 $(WARN) -O2 -g -fstack-protector-strong -fno-common -MMD -MP
# -static, not -static-pie: musl-gcc turns -static-pie into a dynamic binary.
LDFLAGS   = -static -Wl,-z,relro,-z,now,-z,noexecstack
LIBS      = $(PREFIX)/lib/libcurl.a $(PREFIX)/lib/libbearssl.a -lpthread

SRCS      = $(wildcard src/*.c)
OBJS      = $(SRCS:src/%.c=$(BUILD)/obj/%.o)
STAMP     = $(VENDOR)/.stamp

# Pure modules: no sockets, no vendor libraries beyond headers. The unit
# tests and fuzzers build them with the host compiler and sanitizers.
PURE      = buf errmsg resp json base64 isotime celery_msg exitclass kombu record promtext metrics httpparse celery_ctl breaker cachekey
PURE_SRCS = $(foreach m,$(PURE),$(wildcard src/$(m).c))
SAN       = -fsanitize=address,undefined -fno-sanitize-recover=all
UNIT_SRCS = $(wildcard tests/unit/test_*.c)
UNIT_BINS = $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/unit/%)
FUZZ_SRCS = $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS = $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/fuzz/%)
FUZZ_TIME ?= 20
# Tests of modules that use libcurl's URL API link Debian's libcurl (same
# upstream version, 7.88.1) so they can run under the sanitizers.
UNIT_LIBS_test_redis_url = src/redis_url.c -lcurl
FUZZ_LIBS_fuzz_redis_url = src/redis_url.c -lcurl
UNIT_LIBS_test_httpd    = src/httpd.c src/log.c
UNIT_LIBS_test_sdnotify = src/sdnotify.c
UNIT_LIBS_test_tryon_state = src/tryon_state.c src/log.c

.PHONY: all deps test unit integration fuzz fuzz-build bench bench-smoke chaos image portable clean distclean demo FORCE
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

$(BUILD)/tryon-worker: $(OBJS)
	$(CC) $(LDFLAGS) -o $@.debug $(OBJS) $(LIBS)
	strip -o $@ $@.debug
	@file $@ | grep -q 'statically linked' || { echo "error: $@ is not static" >&2; exit 1; }

# Tests: unit (host gcc + ASan/UBSan), then integration against the static
# binary; tests/run.sh prints the closing "N passed, N failed" line.
$(BUILD)/unit/%: tests/unit/%.c $(PURE_SRCS) tests/unit/harness.h | $(STAMP)
	@mkdir -p $(@D)
	$(HOSTCC) -std=c11 $(WARN) -O1 -g $(SAN) -D_GNU_SOURCE -Isrc -Itests/unit -I$(GEN) -o $@ $< $(PURE_SRCS) $(UNIT_LIBS_$*)

test: $(BUILD)/tryon-worker $(UNIT_BINS) $(FUZZ_BINS)
	tests/run.sh

unit: $(UNIT_BINS)
	tests/run.sh unit

integration: $(BUILD)/tryon-worker
	tests/run.sh integration

$(BUILD)/fuzz/%: tests/fuzz/%.c $(PURE_SRCS) | $(STAMP)
	@mkdir -p $(@D)
	$(FUZZCC) -std=c11 -O1 -g -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Isrc -I$(GEN) -o $@ $< $(PURE_SRCS) $(FUZZ_LIBS_$*)

fuzz-build: $(FUZZ_BINS)
fuzz: $(FUZZ_BINS)
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

demo: $(BUILD)/tryon-worker
	tests/demo.sh

# Images without a container engine: an OCI archive (umoci) and a systemd
# portable service image (squashfs); see image/README.md.
image: $(BUILD)/tryon-worker
	image/build-oci.sh $(BUILD)/tryon-worker $(BUILD)/tryon-worker-oci.tar

portable: $(BUILD)/tryon-worker
	image/build-portable.sh $(BUILD)/tryon-worker $(BUILD)

clean:
	rm -rf $(BUILD)/obj $(BUILD)/unit $(BUILD)/fuzz $(BUILD)/tryon-worker $(BUILD)/tryon-worker.debug \
		$(BUILD)/tryon-worker-oci.tar $(BUILD)/tryon-worker_*.raw
distclean:
	rm -rf $(BUILD)

-include $(OBJS:.o=.d)
