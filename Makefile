# A thin layer over the CMake presets (CMakePresets.json).
#   make run          build (release) and run sluice on the bundled site (127.0.0.1:8080)
#   make test         build (release) and run every test
#   make test-debug   the same tests under ASan + UBSan
#   make test-tsan    the same tests under ThreadSanitizer
#   make bench        build the benchmarks (build/bench/bin/)
#   make fuzz         build the libFuzzer targets with clang (build/fuzz/bin/)
#   make format       reformat the sources; make format-check fails on a diff
# WERROR=ON turns warnings into errors (CI does that; a user's build does not).

WERROR ?= OFF
JOBS ?= $(shell nproc)
BUILD_DEPS := cmake ninja-build g++ make libgtest-dev libgmock-dev libtomlplusplus-dev curl
# Peers and clients the tests drive: libhttp-parser (differential test),
# curl, ab and wrk (integration), chromium (the default site in a browser).
TEST_DEPS := libhttp-parser-dev curl apache2-utils wrk chromium
BENCH_DEPS := libbenchmark-dev libjemalloc-dev libmimalloc-dev libuv1-dev libevent-dev pkg-config
FUZZ_DEPS := clang libclang-rt-14-dev
FORMAT_DEPS := clang-format
SOURCES = $(shell git ls-files '*.cc' '*.h' 2>/dev/null || find src tests bench fuzz examples -name '*.cc' -o -name '*.h')

RUN_ARGS ?=

.PHONY: run test test-deps test-debug test-tsan build bench fuzz format format-check deps clean

deps:
	@scripts/ensure-deps $(BUILD_DEPS)

build: deps
	@cmake --preset release -DSLUICE_WERROR=$(WERROR) >/dev/null
	@cmake --build --preset release -j $(JOBS)

run: build
	build/release/bin/sluice $(RUN_ARGS)

test-deps:
	@scripts/ensure-deps $(BUILD_DEPS) $(TEST_DEPS)

test: test-deps build
	ctest --preset release -j $(JOBS)

test-debug: test-deps
	@cmake --preset debug -DSLUICE_WERROR=$(WERROR) >/dev/null
	@cmake --build --preset debug -j $(JOBS)
	ctest --preset debug -j $(JOBS)

test-tsan: test-deps
	@cmake --preset tsan -DSLUICE_WERROR=$(WERROR) >/dev/null
	@cmake --build --preset tsan -j $(JOBS)
	ctest --preset tsan -j $(JOBS)

bench: deps
	@scripts/ensure-deps $(BENCH_DEPS)
	@cmake --preset bench >/dev/null
	@cmake --build --preset bench -j $(JOBS)

fuzz:
	@scripts/ensure-deps $(BUILD_DEPS) $(FUZZ_DEPS)
	@cmake --preset fuzz >/dev/null
	@cmake --build --preset fuzz -j $(JOBS)

format:
	@scripts/ensure-deps $(FORMAT_DEPS)
	clang-format -i $(SOURCES)

format-check:
	@scripts/ensure-deps $(FORMAT_DEPS)
	clang-format --dry-run --Werror $(SOURCES)

clean:
	rm -rf build
