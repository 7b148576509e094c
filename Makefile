# smolproxy — every command a user or CI needs, installing what it uses.
# The README's two set-up commands are `make run` and `make test`.

CARGO  ?= cargo
LISTEN ?= 127.0.0.1:8888
# apt-get needs root; use sudo when we are not root and it exists.
SUDO   := $(shell [ "$$(id -u)" = 0 ] || command -v sudo)

.PHONY: run build release test test-deps lint layout fmt clean

# The `tls` build's own test files (make test runs them with --features tls,
# beside the unit tests; the rest of the suite runs once, without it).
TLS_TESTS ?= --test tls_listen --test tls_inspect

## run: build and start the proxy on $(LISTEN), logs on the terminal
run:
	$(CARGO) run --release -- --listen $(LISTEN)

build:
	$(CARGO) build

release:
	$(CARGO) build --release

## test: install what the tests need (curl, openssl, wget, chromium, certutil, python3, logrotate, nftables,
## pacparser, prometheus-client, dpkg-dev, apt-utils), then run every test, the tls build's unit tests and $(TLS_TESTS) with
## --features tls (and the root-only tests: network namespaces wherever `ip netns` works, --user as root)
test: test-deps
	$(CARGO) test --all-targets
	$(CARGO) test --features tls --lib $(TLS_TESTS)
	@if [ "$$(id -u)" = 0 ]; then \
	  echo "$(CARGO) test --test privileges -- --ignored"; \
	  $(CARGO) test --test privileges -- --ignored; \
	else \
	  echo "*** skipped: the root-only --user tests in tests/privileges.rs (run make test as root) ***"; \
	fi
	@ns=smolproxy-probe-$$$$; \
	if ip netns add $$ns 2>/dev/null && ip netns del $$ns 2>/dev/null; then \
	  echo "$(CARGO) test --test faults --test upstream --test transparent -- --ignored"; \
	  $(CARGO) test --test faults --test upstream --test transparent -- --ignored; \
	else \
	  echo "*** skipped: the network-namespace tests in tests/faults.rs, tests/upstream.rs and tests/transparent.rs (needs root and 'ip netns'; 'ip netns add' failed here) ***"; \
	fi

# Idempotent: installs only what is missing.
test-deps:
	@missing=""; \
	command -v curl >/dev/null    || missing="$$missing curl"; \
	command -v openssl >/dev/null || missing="$$missing openssl"; \
	command -v wget >/dev/null    || missing="$$missing wget"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v certutil >/dev/null || missing="$$missing libnss3-tools"; \
	command -v python3 >/dev/null || missing="$$missing python3"; \
	/usr/bin/python3 -c 'import pacparser' 2>/dev/null || missing="$$missing python3-pacparser"; \
	/usr/bin/python3 -c 'import prometheus_client' 2>/dev/null || missing="$$missing python3-prometheus-client"; \
	command -v logrotate >/dev/null || [ -x /usr/sbin/logrotate ] || missing="$$missing logrotate"; \
	command -v nft >/dev/null || [ -x /usr/sbin/nft ] || missing="$$missing nftables"; \
	command -v dpkg-scanpackages >/dev/null || missing="$$missing dpkg-dev"; \
	command -v apt-ftparchive >/dev/null || missing="$$missing apt-utils"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $$missing; \
	fi

## lint: formatting and clippy, as CI runs them
lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) clippy --all-targets --features tls -- -D warnings

## layout: src/'s shape: no import cycle between files, none over 600 lines,
## each opening with a //! paragraph (tests/layout.rs; also part of make test)
layout:
	$(CARGO) test --test layout -- --nocapture --test-threads=1

fmt:
	$(CARGO) fmt

clean:
	$(CARGO) clean
	rm -rf dist

# Areas with their own targets keep them beside their files.
include cross/cross.mk
include bench/bench.mk
include fuzz/fuzz.mk

# ---- soak: not part of make test
SOAK_SECS    ?= 180
SOAK_WORKERS ?= 12

.PHONY: soak

## soak: mixed traffic and faults for $(SOAK_SECS) s against the release binary
soak:
	$(CARGO) build --release --bin smolproxy --example soak
	target/release/examples/soak --proxy target/release/smolproxy \
	  --secs $(SOAK_SECS) --workers $(SOAK_WORKERS)
