# Soak: a bounded run (minutes) of mixed traffic and faults against the
# release binary, reporting requests served, errors by kind, and the
# proxy's RSS and descriptors at start and end. Not part of `make test`.
SOAK_SECS    ?= 180
SOAK_WORKERS ?= 12

.PHONY: soak

## soak: mixed traffic and faults for $(SOAK_SECS) s against the release binary
soak:
	$(CARGO) build --release --bin smolproxy --example soak
	target/release/examples/soak --proxy target/release/smolproxy \
	  --secs $(SOAK_SECS) --workers $(SOAK_WORKERS)
