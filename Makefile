# Ordinavo Connect webhook workers.
#
#   make                     build webhookd into build/default/
#   make SANITIZER=address   the same with ASan (build/address/), or =undefined
#   make deps                install Debian packages, Kafka jars, Python tools
#   make check               deps, format, build, unit tests (also under
#                            valgrind, ASan and UBSan), end-to-end tests
#                            (also against an ASan build)
#   make unit                unit tests only (no services needed)
#   make e2e                 end-to-end tests against real Kafka/Redis/HTTP
#   make valgrind            unit tests under valgrind
#   make demo                run the product against a local stack
#   make bench               throughput and latency benchmark
#   make bench-instructions  instructions per delivery, counted by callgrind
#   make docs                regenerate the settings table in the docs
#   make format / format-check

CC        ?= cc
PKGS      := rdkafka libcurl jansson hiredis avro-c openssl libmicrohttpd
SANITIZER ?=

ifeq ($(SANITIZER),)
BUILD := build/default
else
BUILD := build/$(SANITIZER)
endif

WARNINGS := -Wall -Wextra -Werror -Wshadow -Wpointer-arith \
	-Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wvla -Wundef \
	-Wcast-align -Wwrite-strings -Wconversion -Wno-sign-conversion

CPPFLAGS += -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
	-Iworker/src -Icodecs/src $(shell pkg-config --cflags $(PKGS))
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 $(WARNINGS) -fno-strict-aliasing
LDLIBS   += $(shell pkg-config --libs $(PKGS)) -lm

ifneq ($(SANITIZER),)
CFLAGS  += -fsanitize=$(SANITIZER) -fno-omit-frame-pointer \
	-fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SANITIZER)
endif

# Every delivery builds and frees a few hundred small JSON nodes (jansson).
# mimalloc does that with about 12 % fewer instructions than glibc's malloc
# and keeps the throughput steady (docs/benchmarks.md). Only the shipped
# binary uses it: the sanitizers and valgrind, which run the unit tests,
# need the C library's allocator to intercept.
ifeq ($(SANITIZER),)
ALLOCATOR := -lmimalloc
endif

# Everything except the programs' main files is one library shared by
# webhookd and the unit tests.
LIB_SRCS  := $(filter-out worker/src/main.c, \
	$(wildcard worker/src/*.c codecs/src/*.c))
LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/%.o)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
C_FILES   := $(wildcard worker/src/*.[ch] codecs/src/*.[ch] tests/unit/*.[ch] \
	tests/bench/*.[ch])

PYTEST := .deps/venv/bin/pytest

.PHONY: all deps check unit e2e valgrind demo bench bench-instructions docs \
	lint-compose \
	format format-check clean

all: $(BUILD)/webhookd

$(BUILD)/webhookd: $(BUILD)/worker/src/main.o $(LIB_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(ALLOCATOR) $(LDLIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJS) tests/unit/unit.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -Itests/unit -o $@ $< $(LIB_OBJS) \
		$(LDLIBS) -lcmocka

-include $(LIB_OBJS:.o=.d) $(BUILD)/worker/src/main.d

deps:
	scripts/deps.sh

unit: $(UNIT_BINS)
	@tests/unit/run.sh $(UNIT_BINS)

valgrind: $(UNIT_BINS)
	@VALGRIND=1 tests/unit/run.sh $(UNIT_BINS)

e2e: all
	WEBHOOKD_BIN=$(abspath $(BUILD)/webhookd) $(PYTEST) tests/e2e $(PYTEST_ARGS)

check: deps
	$(MAKE) format-check lint-compose
	$(MAKE) all unit
	scripts/config-doc.sh $(BUILD)/webhookd --check
	$(MAKE) valgrind
	$(MAKE) SANITIZER=undefined unit
	$(MAKE) SANITIZER=address unit
	$(MAKE) e2e
	$(MAKE) SANITIZER=address e2e

docs: all
	scripts/config-doc.sh $(BUILD)/webhookd

demo: deps all
	scripts/demo.sh

bench: deps all
	scripts/bench.sh

bench-instructions: deps all
	BENCH_SCRIPT=instructions scripts/bench.sh

# The compose file cannot be run here (no Docker engine); validate it against
# the compose specification instead.
lint-compose:
	.deps/venv/bin/check-jsonschema --builtin-schema vendor.compose-spec \
		docker-compose.yml

format:
	clang-format -i $(C_FILES)

format-check:
	clang-format --dry-run --Werror $(C_FILES)

clean:
	rm -rf build
