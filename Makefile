# The two commands of the README: `make test` and `make demo`. Both install any missing Debian
# packages, configure and build incrementally, then run. Other targets are for developers.
SHELL := /bin/bash
JOBS ?= $(shell nproc)
CTEST_ARGS ?=

.PHONY: all deps build build-asan build-release test test-debug test-asan soak demo bench package format format-check clean help fuzz fuzz-smoke

all: build

help:
	@echo "make test      install deps, check format, build ASan/UBSan, run every test suite, fuzz-smoke"
	@echo "make test-debug  the same suites in the plain debug build (build/debug)"
	@echo "make soak      long crash loop (50 SIGKILLs, label soak; SOAK_PRESET=asan for ASan)"
	@echo "make demo      install deps, build release, run 'hashwatt demo'"
	@echo "make bench     release build, every benchmark: bench/results.json, docs/cost_growth.svg"
	@echo "make build     debug build only (build/debug)"
	@echo "make package   release build, then the Debian package build/release/hashwatt_*.deb"
	@echo "make format    clang-format every C++ source in place"
	@echo "make fuzz      build the libFuzzer targets (build/fuzz), run each FUZZ_SECONDS (300) s"
	@echo "make fuzz-smoke  the same, FUZZ_SECONDS=10 per target (fuzz/README.md)"

deps:
	@scripts/install-deps.sh

build/%/build.ninja: CMakeLists.txt CMakePresets.json | deps
	cmake --preset $* >/dev/null

build: deps build/debug/build.ninja
	cmake --build --preset debug -j $(JOBS)

build-asan: deps build/asan/build.ninja
	cmake --build --preset asan -j $(JOBS)

build-release: deps build/release/build.ninja
	cmake --build --preset release -j $(JOBS)

# Suites labelled soak (long forms, e.g. the 50-kill crash loop) are left to `make soak`.
test-debug: build
	ctest --preset debug -j $(JOBS) -LE soak $(CTEST_ARGS)

test-asan: build-asan
	ctest --preset asan -j $(JOBS) -LE soak $(CTEST_ARGS)

# The long forms only: `ctest -L soak` in the debug build, or SOAK_PRESET=asan.
SOAK_PRESET ?= debug
soak: deps build/$(SOAK_PRESET)/build.ninja
	cmake --build --preset $(SOAK_PRESET) -j $(JOBS) --target hashwatt integration_crash
	ctest --preset $(SOAK_PRESET) -L soak $(CTEST_ARGS)

# The suite runs once, in the ASan+UBSan build: the same tests with the sanitizers' checks on
# top, where a second cold build plus run took `make test` past its 45-minute budget on 2 cores.
# Then a short round of every libFuzzer target (fuzz-smoke): the long runs are `make fuzz`.
test: format-check test-asan fuzz-smoke

# DEMO_ARGS passes flags through: make demo DEMO_ARGS="--miners 500 --duration 2m".
DEMO_ARGS ?=
demo: build-release
	build/release/cli/hashwatt demo $(DEMO_ARGS)

# Every benchmark of bench/ in one plan (bench/run_all.cpp; docs/performance.md, "make bench"):
# the table, bench/results.json and the cost-growth plot. BENCH_ARGS passes flags through:
# make bench BENCH_ARGS="--quick", BENCH_ARGS="--only agent_poll_10k", BENCH_ARGS="--list".
BENCH_ARGS ?=
# It builds only what it runs (the release hashwatt binary and the bench programs).
bench: deps build/release/build.ninja
	cmake --build --preset release -j $(JOBS) --target bench_run_all
	build/release/bench/bench_run_all --out bench/results.json --svg docs/cost_growth.svg $(BENCH_ARGS)

# The Debian package (deploy/CMakeLists.txt; docs/operations.md): build/release/hashwatt_<v>-1_<arch>.deb.
package: build-release
	cd build/release && cpack -G DEB

# libFuzzer targets of fuzz/ (fuzz/README.md): build/fuzz with clang, a fresh corpus per target
# seeded from tests/fixtures, crashes in build/fuzz/findings/<target>/, a summary table at the
# end; non-zero exit when a target crashed. FUZZ_TARGETS="antminer prices" picks targets.
FUZZ_SECONDS ?= 300
fuzz: deps
	FUZZ_SECONDS=$(FUZZ_SECONDS) fuzz/run.sh

fuzz-smoke: deps
	FUZZ_JOBS=$${FUZZ_JOBS:-2} FUZZ_SECONDS=$(if $(filter command line environment,$(origin FUZZ_SECONDS)),$(FUZZ_SECONDS),10) fuzz/run.sh

format:
	@git ls-files '*.cpp' '*.hpp' | xargs clang-format -i

format-check:
	@out=$$(git ls-files '*.cpp' '*.hpp' | xargs -r clang-format --dry-run 2>&1); \
	if [[ -n "$$out" ]]; then echo "$$out" | head -40; echo "clang-format: run 'make format'"; exit 1; fi

clean:
	rm -rf build
