# snnkit: the two commands a user needs are `make demo` and `make test`.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all setup build demo test bench install test-sanitize fuzz clean

all: build

setup:
	@bash scripts/setup.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

build: setup $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

demo: build
	bash scripts/demo.sh $(BUILD)

# A subset: make test CTEST_ARGS="-R 'cli_convert_eval|safetensors'"
CTEST_ARGS ?=
test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

bench: build
	@bash scripts/setup.sh --bench
	bash bench/run_all.sh $(BUILD)

install: build
	cmake --install $(BUILD) --prefix $(or $(PREFIX),/usr/local)

# ASan + UBSan build of the library, the CLI and the tests, then ctest there; any sanitizer report fails the
# test (UBSan halts on the first error, LeakSanitizer is on). Subset: make test-sanitize
# SANITIZE_TARGETS="test_io test_data" CTEST_ARGS="-R 'Safetensors|Idx'" (see docs/reliability.md).
ASAN_BUILD ?= build-asan
SANITIZE_TARGETS ?= all
SANITIZER_ENV = ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=0 \
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 LSAN_OPTIONS=suppressions=$(CURDIR)/scripts/lsan.supp
test-sanitize:
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSNNKIT_SANITIZE=ON \
	  -DSNNKIT_BUILD_BENCH=OFF -DSNNKIT_BUILD_EXAMPLES=OFF $(CMAKE_FLAGS)
	cmake --build $(ASAN_BUILD) -j $(JOBS) --target $(SANITIZE_TARGETS)
	cd $(ASAN_BUILD) && $(SANITIZER_ENV) ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

# libFuzzer targets (clang): each parser runs FUZZ_SECONDS on its corpus (fuzz/corpus/<name> seeds; new inputs
# go to $(FUZZ_BUILD)/corpus/<name>); crashes, leaks and timeouts are saved to $(FUZZ_BUILD)/artifacts/.
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= idx cifar image safetensors model onnx nir
fuzz:
	CC=clang CXX=clang++ cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSNNKIT_FUZZ=ON \
	  -DSNNKIT_BUILD_TESTS=OFF -DSNNKIT_BUILD_BENCH=OFF -DSNNKIT_BUILD_EXAMPLES=OFF
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target $(addprefix fuzz_,$(FUZZ_TARGETS))
	bash fuzz/run_all.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

clean:
	rm -rf $(BUILD)
