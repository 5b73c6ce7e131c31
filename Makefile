# The README's two commands live here: `make demo` and `make test`.
# Both install missing Debian packages, configure and build in build/ (Release, -j2).
BUILD_DIR ?= build
JOBS ?= 2
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=Release

.PHONY: deps configure build test demo bench soak clean

deps:
	@scripts/install-deps

configure: deps
	@cmake -S . -B $(BUILD_DIR) $(CMAKE_FLAGS) >/dev/null

build: configure
	@cmake --build $(BUILD_DIR) -j$(JOBS) -- --no-print-directory

test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j$(JOBS)

demo: build
	@scripts/demo $(BUILD_DIR)

bench: build
	@scripts/bench $(BUILD_DIR)

# A Poisson soak on a local cluster (default 30 minutes, a fault every 2 minutes on average,
# kinds weighted like a published failure mix); prints every fault and the run's ETTR.
# SOAK=FILE runs another soak scenario.
SOAK ?= tests/scenarios/soak/poisson-30m.yaml
soak: build
	@$(BUILD_DIR)/bin/bulwarkctl scenario run $(SOAK) --out $(BUILD_DIR)/soak.json

clean:
	rm -rf $(BUILD_DIR)
