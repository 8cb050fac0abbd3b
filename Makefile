# quantd: one Makefile for the core library, the job layer, the daemon, the client, tests and benches.
#
#   make          build bin/quantd, bin/quantctl and the static libraries
#   make deps     install the Debian packages the build and tests need (idempotent)
#   make test     deps + build + every Check suite (the daemon's run it on loopback)
#   make test-daemon  only the daemon's integration suites (tests/check_daemon_*.c)
#   make test-browser the web page in headless Chromium against a real daemon (tests/browser)
#   make asan     the same suites under AddressSanitizer and UndefinedBehaviorSanitizer
#   make tsan     the daemon, worker and threaded-training suites under ThreadSanitizer
#   make fuzz     each libFuzzer target of tests/fuzz for FUZZ_SECONDS (60); make check runs
#                 them for a few seconds after replaying their seed corpora
#   make run      deps + build + quantd serve on 127.0.0.1:8080 with state in ./var
#   make bench    the measured figures, each beside its peer (long: minutes)
#   make stress   the long fault runs (tests/stress/run.sh, at nice 10): STRESS_ROUNDS (50) kill -9
#                 rounds, SIGTERM under load, a full disk, a crash loop, the whole allocation-failure
#                 sweep of the store, hostile HTTP clients; make test runs short versions
#   make bench-load  wrk for SECONDS_LOAD (180) on the read endpoints and /metrics while two jobs
#                 train: errors, p99 per endpoint, the daemon's memory over time (bench/load.sh)

CC      ?= cc
OPT     ?= -O3 -march=native
WERROR  ?= -Werror
CFLAGS  ?= $(OPT) -g
# libsystemd (sd_notify) is optional: without it quantd builds and runs, minus Type=notify.
SYSTEMD := $(shell pkg-config --exists libsystemd 2>/dev/null && echo libsystemd)
# ONNX export is optional too: protobuf-c, its compiler and libonnx-dev's onnx.proto
ONNX_PROTO = /usr/include/onnx/onnx.proto
ONNX_PKG := $(shell test -f $(ONNX_PROTO) && command -v protoc-c >/dev/null && \
              pkg-config --exists libprotobuf-c 2>/dev/null && echo libprotobuf-c)
PKGS     = jansson libmicrohttpd sqlite3 libuv openblas zlib libcrypto $(SYSTEMD) $(ONNX_PKG)
ALLCFLAGS = -std=c11 -D_GNU_SOURCE -Wall -Wextra $(WERROR) -fopenmp -I. \
            $(if $(SYSTEMD),-DQD_HAVE_SYSTEMD) \
            $(shell pkg-config --cflags $(PKGS) 2>/dev/null) $(CFLAGS)
LDLIBS  = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -fopenmp -lm -lpthread
CHECKLIBS = $(shell pkg-config --libs check 2>/dev/null)
CURLLIBS  = $(shell pkg-config --libs libcurl 2>/dev/null)
BUILD  ?= build
BIN    ?= bin

DEB_PACKAGES = build-essential pkg-config libopenblas-dev libmicrohttpd-dev libjansson-dev \
               libsqlite3-dev libuv1-dev check libsubunit-dev libcurl4-openssl-dev zlib1g-dev \
               libjs-chart.js dataset-fashion-mnist python3-torch libsystemd-dev libssl-dev wrk \
               chromium clang libclang-rt-dev libomp-dev \
               protobuf-c-compiler libprotobuf-c-dev libonnx-dev python3-onnx

CORE_SRC   = $(wildcard core/*.c)
JOBS_SRC   = $(wildcard jobs/*.c)
DAEMON_SRC = $(wildcard daemon/*.c)
CLIENT_SRC = $(wildcard client/*.c)
TEST_SRC   = $(wildcard tests/check_*.c)
SCHEMA_SQL = $(sort $(wildcard schema/[0-9][0-9][0-9]_*.sql))
CORE_OBJ   = $(CORE_SRC:%.c=$(BUILD)/%.o)
JOBS_OBJ   = $(JOBS_SRC:%.c=$(BUILD)/%.o)
DAEMON_OBJ = $(DAEMON_SRC:%.c=$(BUILD)/%.o)
CLIENT_OBJ = $(CLIENT_SRC:%.c=$(BUILD)/%.o)
TESTS      = $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

.PHONY: all deps test check test-daemon asan run bench bench-accuracy clean format
all: $(BIN)/quantd $(if $(CLIENT_SRC),$(BIN)/quantctl)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) -MMD -MP -c $< -o $@

# the numbered migrations, embedded into the daemon's store
$(BUILD)/gen/schema_sql.h: $(SCHEMA_SQL) schema/embed.sh
	@mkdir -p $(dir $@)
	sh schema/embed.sh $(SCHEMA_SQL) > $@.tmp && mv $@.tmp $@
$(BUILD)/daemon/store.o: $(BUILD)/gen/schema_sql.h
$(BUILD)/daemon/store.o: ALLCFLAGS += -I$(BUILD)/gen

$(BUILD)/libqdcore.a: $(CORE_OBJ)
	ar rcs $@ $^
$(BUILD)/libqdjobs.a: $(JOBS_OBJ)
	ar rcs $@ $^

$(BIN)/quantd: $(DAEMON_OBJ) $(BUILD)/libqdjobs.a $(BUILD)/libqdcore.a
	@mkdir -p $(BIN)
	$(CC) $(ALLCFLAGS) -o $@ $(DAEMON_OBJ) $(BUILD)/libqdjobs.a $(BUILD)/libqdcore.a $(LDLIBS)

# quantctl: the client; libcurl and jansson only, plus the error names of core/err.c
$(BIN)/quantctl: $(CLIENT_OBJ) $(BUILD)/core/err.o
	@mkdir -p $(BIN)
	$(CC) $(ALLCFLAGS) -o $@ $(CLIENT_OBJ) $(BUILD)/core/err.o $(shell pkg-config --libs libcurl jansson) -lm

$(BUILD)/tests/%: tests/%.c tests/check_main.h $(BUILD)/libqdjobs.a $(BUILD)/libqdcore.a
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) -o $@ $< $(BUILD)/libqdjobs.a $(BUILD)/libqdcore.a $(LDLIBS) $(CHECKLIBS)
# quantctl's suite runs the binaries of this build (bin/ or bin-asan/) as subprocesses
$(BUILD)/tests/check_quantctl: ALLCFLAGS += -DQD_BIN_DIR='"$(BIN)"'
# check_train runs `quantd run` of this build for its command-line case
$(BUILD)/tests/check_train: private ALLCFLAGS += -DQD_BIN_DIR='"$(BIN)"'
$(BUILD)/tests/check_train: $(BIN)/quantd

# daemon integration tests: start $(BIN)/quantd on loopback and talk to it with libcurl
$(BUILD)/tests/check_daemon%: tests/check_daemon%.c tests/daemon_util.c tests/daemon_util.h \
                              tests/check_main.h $(BIN)/quantd
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) -DQD_TEST_BIN='"$(BIN)/quantd"' -o $@ $< tests/daemon_util.c \
	    $(LDLIBS) $(CHECKLIBS) $(CURLLIBS)

deps:
	@missing=$$(for p in $(DEB_PACKAGES); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	    echo "installing:" $$missing; \
	    SUDO=; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
	    $$SUDO apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "deps: all installed"; fi
	@$(MAKE) --no-print-directory deps-npm

check: all $(TESTS)
	@sh tests/run.sh $(TESTS)
	$(if $(findstring -fsanitize,$(OPT)),,@$(MAKE) --no-print-directory fuzz-check)
	$(if $(findstring -fsanitize,$(OPT)),,@$(MAKE) --no-print-directory test-browser)

test: deps
	@$(MAKE) --no-print-directory check

# only the daemon's integration suites
test-daemon: all $(filter $(BUILD)/tests/check_daemon%,$(TESTS))
	@sh tests/run.sh $(filter $(BUILD)/tests/check_daemon%,$(TESTS))

# sanitizers slow the suites several times over: Check's timeouts are scaled to match
asan:
	@CK_TIMEOUT_MULTIPLIER=10 $(MAKE) --no-print-directory BUILD=build-asan BIN=bin-asan \
	    OPT="-O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" check

run: deps all
	$(BIN)/quantd serve --listen 127.0.0.1:8080 --state ./var

bench: deps all
	sh bench/run.sh

bench-accuracy: deps all
	sh bench/accuracy.sh

format:
	clang-format -i $(CORE_SRC) $(JOBS_SRC) $(DAEMON_SRC) $(TEST_SRC) core/*.h jobs/*.h daemon/*.h

# ---- fuzzing: libFuzzer targets in tests/fuzz (clang, with ASan and UBSan) ----
# The libraries and daemon objects are rebuilt with clang and coverage instrumentation in
# $(BUILD)/fuzz by a nested make; each tests/fuzz/fuzz_NAME.c links into $(BUILD)/fuzz/fuzz_NAME.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_QUICK   ?= 4
# (-Wno-pass-failed: at -O1 clang declines to vectorize the `omp simd` loops and says so)
FUZZ_OPT      = -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined \
                -fno-sanitize-recover=undefined -Wno-pass-failed
FUZZ_SRC      = $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_TARGETS  = $(FUZZ_SRC:tests/fuzz/fuzz_%.c=%)
.PHONY: fuzz fuzz-build fuzz-bins fuzz-check

fuzz-build:
	@command -v $(FUZZ_CC) >/dev/null || { echo "fuzz: $(FUZZ_CC) not found (make deps installs clang)"; exit 1; }
	@$(MAKE) --no-print-directory BUILD=$(BUILD)/fuzz BIN=$(BUILD)/fuzz/bin CC=$(FUZZ_CC) \
	    OPT="$(FUZZ_OPT)" fuzz-bins

# (nested make only: BUILD is $(BUILD)/fuzz there)
fuzz-bins: $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/%)
$(BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_util.h $(BUILD)/libqdjobs.a $(BUILD)/libqdcore.a
	$(CC) $(ALLCFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LINK) $(BUILD)/libqdjobs.a \
	    $(BUILD)/libqdcore.a $(LDLIBS)
# the HTTP target serves the daemon's own dispatcher and handlers: all of daemon/ with main()
# renamed (libFuzzer brings its own), the $(DAEMON_LIB) archive of the reliability block below
$(BUILD)/fuzz_http: $(BUILD)/libqdd.a
$(BUILD)/fuzz_http: FUZZ_LINK = $(DAEMON_LIB)

# every target for FUZZ_SECONDS (make fuzz FUZZ_SECONDS=300)
fuzz: fuzz-build
	@sh tests/fuzz/run.sh $(BUILD)/fuzz $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# part of make check: the seed corpora (with every past crash) replayed, then FUZZ_QUICK seconds each
fuzz-check: fuzz-build
	@sh tests/fuzz/run.sh --check $(BUILD)/fuzz $(FUZZ_QUICK) $(FUZZ_TARGETS)

# ---- ThreadSanitizer: the daemon (HTTP threads, workers, store, events) and threaded training ----
# clang, for libomp and its Archer tool (OMP_TOOL_LIBRARIES), which tells TSan about OpenMP's
# barriers and joins; libomp's own internals are not instrumented and are ignored
# (ignore_noninstrumented_modules, as Archer asks). OpenBLAS runs one thread
# (OPENBLAS_NUM_THREADS=1): its pool hands work over by spinning on plain memory, which TSan
# cannot see and would report as races; the threads quantd makes itself are all tested.
# Reports go to $(BUILD)/tsan/ (the daemons' too) and any report fails the run.
TSAN_CC      ?= clang
ARCHER        = $(firstword $(wildcard /usr/lib/llvm-*/lib/libarcher.so))
TSAN_SUITES   = $(filter $(BUILD)/tests/check_daemon%,$(TESTS)) \
                $(filter $(BUILD)/tests/check_layers $(BUILD)/tests/check_train,$(TESTS))
.PHONY: tsan tsan-run
tsan:
	@command -v $(TSAN_CC) >/dev/null || { echo "tsan: $(TSAN_CC) not found (make deps installs clang)"; exit 1; }
	@CK_TIMEOUT_MULTIPLIER=20 $(MAKE) --no-print-directory BUILD=build-tsan BIN=bin-tsan \
	    CC=$(TSAN_CC) OPT="-O1 -g -fno-omit-frame-pointer -fsanitize=thread -Wno-pass-failed" tsan-run

tsan-run: all $(TSAN_SUITES)
	@rm -rf $(BUILD)/tsan && mkdir -p $(BUILD)/tsan
	@OPENBLAS_NUM_THREADS=1 OMP_TOOL_LIBRARIES=$(ARCHER) \
	 TSAN_OPTIONS="suppressions=$(CURDIR)/tests/tsan.supp log_path=$(CURDIR)/$(BUILD)/tsan/report \
	 ignore_noninstrumented_modules=1" \
	 sh tests/run.sh $(TSAN_SUITES); rc=$$?; \
	 n=$$(cat $(BUILD)/tsan/report.* 2>/dev/null | grep -c '^WARNING: ThreadSanitizer'); \
	 echo "tsan: $$n reports$$([ $$n -gt 0 ] && echo " (in $(BUILD)/tsan/)")"; \
	 [ $$rc -eq 0 ] && [ $$n -eq 0 ]

clean:
	rm -rf build build-asan build-tsan bin bin-asan bin-tsan

# ---- the web page (web/, daemon/http_web.c) and its browser test (tests/browser) ----
# The page's files and Chart.js (Debian's libjs-chart.js) are compiled into quantd.
CHARTJS   = /usr/share/javascript/chart.js/chart.min.js
WEB_FILES = index.html=web/index.html app.js=web/app.js style.css=web/style.css \
            icon.svg=web/icon.svg chart.min.js=$(CHARTJS)
$(BUILD)/gen/web_assets.h: $(foreach f,$(WEB_FILES),$(wildcard $(lastword $(subst =, ,$(f))))) \
                           web/embed.sh
	@mkdir -p $(dir $@)
	@[ -f $(CHARTJS) ] || { echo "$(CHARTJS) is missing: make deps installs libjs-chart.js"; exit 1; }
	sh web/embed.sh $(WEB_FILES) > $@.tmp && mv $@.tmp $@
$(BUILD)/daemon/http_web.o: $(BUILD)/gen/web_assets.h
$(BUILD)/daemon/http_web.o: ALLCFLAGS += -I$(BUILD)/gen

# npm packages of the browser test, as tests/browser/package-lock.json pins them: playwright-core
# only, no browser download (the test drives Debian's /usr/bin/chromium). Idempotent.
.PHONY: deps-npm test-browser
deps-npm:
	@command -v npm >/dev/null || { SUDO=; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
	    $$SUDO apt-get install -y -qq --no-install-recommends nodejs npm; }
	@if [ tests/browser/node_modules/.package-lock.json -nt tests/browser/package-lock.json ]; \
	then echo "deps-npm: all installed"; \
	else cd tests/browser && npm ci --no-audit --no-fund; fi

# about a minute: a daemon on a free loopback port, the page in headless Chromium; screenshots
# and the daemon's log in $(BUILD)/browser
test-browser: $(BIN)/quantd
	@[ -d tests/browser/node_modules/playwright-core ] || \
	    { echo "test-browser: playwright-core is not installed: run make deps"; exit 1; }
	node tests/browser/web.test.mjs --quantd $(BIN)/quantd --out $(BUILD)/browser

# ---- reliability: suites that link the daemon's own code, stress rounds, load ----
# check_daemon_auth reads the route table (http_route) to try every route; check_store_faults
# drives the store with failing allocations. Both link all of daemon/ with main() renamed so
# the suite's own main is the program's. libqdfault.so is an LD_PRELOAD shim that
# check_daemon_faults loads into quantd (a data set that kills the process; writes that fail
# with ENOSPC where a tmpfs cannot be mounted).
DAEMON_LIB = $(BUILD)/libqdd.a
$(BUILD)/tests/quantd_main.o: daemon/main.c
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) -Dmain=quantd_main -c $< -o $@
$(DAEMON_LIB): $(filter-out $(BUILD)/daemon/main.o,$(DAEMON_OBJ)) $(BUILD)/tests/quantd_main.o
	ar rcs $@ $^
$(BUILD)/tests/check_daemon_auth $(BUILD)/tests/check_store_faults: $(DAEMON_LIB)
$(BUILD)/tests/check_daemon_auth $(BUILD)/tests/check_store_faults: \
    private LDLIBS := $(DAEMON_LIB) $(BUILD)/libqdjobs.a $(BUILD)/libqdcore.a $(LDLIBS)
$(BUILD)/tests/libqdfault.so: tests/stress/qdfault.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -Wall -Wextra $(WERROR) -O2 -fPIC -shared -o $@ $< -ldl
$(BUILD)/tests/check_daemon_faults: $(BUILD)/tests/libqdfault.so
$(BUILD)/tests/check_daemon_faults: private ALLCFLAGS += -DQD_FAULT_LIB='"$(BUILD)/tests/libqdfault.so"'

# make stress: the long fault runs (tests/stress/run.sh), at nice 10: STRESS_ROUNDS kill -9
# rounds (default 50), the whole allocation-failure sweep of the store, the disk-full test
# again through the LD_PRELOAD shim, the hostile-HTTP suite; one line of figures each.
# make bench-load: wrk for BENCH_SECONDS (default 180) against the read endpoints and /metrics
# while two jobs train (bench/load.sh): errors, p99 per endpoint, the daemon's RSS over time.
.PHONY: stress bench-load
STRESS_SUITES = check_daemon_faults check_store_faults check_daemon_hostile
stress: all $(STRESS_SUITES:%=$(BUILD)/tests/%)
	@nice -n 10 sh tests/stress/run.sh $(BUILD) $(STRESS_ROUNDS)
bench-load: all
	QUANTD=$(BIN)/quantd sh bench/load.sh

# ---- search: uniform and sensitivity searches on Fashion-MNIST cnn-s (bench/search.sh) ----
# From bench-accuracy's float model (or FLOAT=path/model.qdc); long: about 70 minutes on 2 cores.
.PHONY: bench-search
bench-search: deps all
	QUANTD=$(BIN)/quantd sh bench/search.sh

# ---- export: ONNX through protobuf-c, the export suites, the export benchmark ----
# The C code of onnx.proto is generated into $(BUILD)/gen/onnx at build time (never committed)
# and linked into libqdjobs.a; without protobuf-c the ONNX format answers "not available".
ifneq ($(ONNX_PKG),)
ONNX_GEN = $(BUILD)/gen/onnx
$(ONNX_GEN)/onnx.pb-c.c $(ONNX_GEN)/onnx.pb-c.h &: $(ONNX_PROTO)
	@mkdir -p $(ONNX_GEN)
	protoc-c --proto_path=$(dir $(ONNX_PROTO)) --c_out=$(ONNX_GEN) $(notdir $(ONNX_PROTO))
$(ONNX_GEN)/onnx.pb-c.o: $(ONNX_GEN)/onnx.pb-c.c $(ONNX_GEN)/onnx.pb-c.h
	$(CC) $(ALLCFLAGS) -I$(ONNX_GEN) -c $< -o $@
$(BUILD)/jobs/export_onnx.o: $(ONNX_GEN)/onnx.pb-c.h
$(BUILD)/jobs/export_onnx.o: ALLCFLAGS += -DQD_HAVE_ONNX -I$(ONNX_GEN)
$(BUILD)/libqdjobs.a: $(ONNX_GEN)/onnx.pb-c.o
endif

.PHONY: bench-export
bench-export: deps all
	QUANTD=$(BIN)/quantd sh bench/export.sh

-include $(CORE_OBJ:.o=.d) $(JOBS_OBJ:.o=.d) $(DAEMON_OBJ:.o=.d) $(CLIENT_OBJ:.o=.d)
