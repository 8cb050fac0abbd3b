# quantd: one Makefile for the core library, the job layer, the daemon, the client, tests and benches.
#
#   make          build bin/quantd, bin/quantctl and the static libraries
#   make deps     install the Debian packages the build and tests need (idempotent)
#   make test     deps + build + every Check suite (the daemon's run it on loopback)
#   make test-daemon  only the daemon's integration suites (tests/check_daemon_*.c)
#   make asan     the same suites under AddressSanitizer and UndefinedBehaviorSanitizer
#   make run      deps + build + quantd serve on 127.0.0.1:8080 with state in ./var
#   make bench    the measured figures, each beside its peer (long: minutes)

CC      ?= cc
OPT     ?= -O3 -march=native
WERROR  ?= -Werror
CFLAGS  ?= $(OPT) -g
# libsystemd (sd_notify) is optional: without it quantd builds and runs, minus Type=notify.
SYSTEMD := $(shell pkg-config --exists libsystemd 2>/dev/null && echo libsystemd)
PKGS     = jansson libmicrohttpd sqlite3 libuv openblas zlib libcrypto $(SYSTEMD)
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
               libjs-chart.js dataset-fashion-mnist python3-torch libsystemd-dev libssl-dev wrk

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

check: all $(TESTS)
	@sh tests/run.sh $(TESTS)

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

clean:
	rm -rf build build-asan bin bin-asan

-include $(CORE_OBJ:.o=.d) $(JOBS_OBJ:.o=.d) $(DAEMON_OBJ:.o=.d) $(CLIENT_OBJ:.o=.d)
