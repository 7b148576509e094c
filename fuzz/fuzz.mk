# Fuzzing: cargo-fuzz targets in fuzz/, see fuzz/README.md.
# Both targets install the nightly toolchain and cargo-fuzz if missing.

FUZZ_SECONDS    ?= 60
FUZZ_CI_SECONDS ?= 20

.PHONY: fuzz fuzz-ci

## fuzz: run every fuzz target for $(FUZZ_SECONDS) s each (FUZZ_SECONDS=N)
fuzz:
	CARGO="$(CARGO)" fuzz/run.sh $(FUZZ_SECONDS)

## fuzz-ci: the short fuzz CI runs, $(FUZZ_CI_SECONDS) s per target
fuzz-ci:
	CARGO="$(CARGO)" fuzz/run.sh $(FUZZ_CI_SECONDS)
