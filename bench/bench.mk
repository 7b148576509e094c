# Benchmarks: smolproxy side by side with Apache Traffic Server, tinyproxy, squid and a
# direct connection, all on loopback. See the Benchmarks section of README.md.
#   make bench                 full run (median of 5, ~10 min), writes BENCHMARKS.md
#   make bench BENCH_QUICK=1   one short run for development, writes bench/out/quick.md
#   make bench BENCH_ARGS='--only direct,smolproxy'   extra flags for bench/run.py
#   make bench-cache           the cache scenario (below)
#   make bench-inspect         HTTPS inspection beside plain forwarding (below; as root)
#   make syscalls              system calls per request and per idle second (strace),
#                              written as a section of BENCHMARKS.md (make bench keeps it)

BENCH_QUICK ?=
BENCH_ARGS  ?=
BENCH_MUSL  := x86_64-unknown-linux-musl
BENCH_OUT   := $(if $(BENCH_QUICK),bench/out/quick.md,BENCHMARKS.md)

.PHONY: bench bench-deps bench-build syscalls

bench: bench-deps bench-build
	@mkdir -p bench/out
	python3 bench/run.py $(if $(BENCH_QUICK),--quick) --out $(BENCH_OUT) \
	  --json bench/out/raw.json --command "make bench$(if $(BENCH_QUICK), BENCH_QUICK=1)" $(BENCH_ARGS)

## syscalls: strace -c over a fixed count of requests through the release build
## (--threads 1): per keep-alive request, per connection-per-request exchange,
## per idle second with 1,000 idle tunnels
syscalls: bench-deps
	$(CARGO) build --release
	python3 bench/syscalls.py --out $(BENCH_OUT)

# The measured binary is the ordinary release build; a static (musl) build is
# made too when that target is installed, for the binary-size figure.
bench-build:
	$(CARGO) build --release
	@if rustup target list --installed 2>/dev/null | grep -qx '$(BENCH_MUSL)'; then \
	  $(CARGO) build --release --target $(BENCH_MUSL) || echo "bench: static build failed, reporting the dynamic binary"; \
	else echo "bench: $(BENCH_MUSL) not installed, reporting the dynamic binary's size"; fi

# Idempotent: installs only what is missing.
bench-deps:
	@missing=""; \
	command -v wrk >/dev/null                                   || missing="$$missing wrk"; \
	command -v curl >/dev/null                                  || missing="$$missing curl"; \
	command -v python3 >/dev/null                               || missing="$$missing python3"; \
	command -v strip >/dev/null                                 || missing="$$missing binutils"; \
	command -v strace >/dev/null                                || missing="$$missing strace"; \
	command -v openssl >/dev/null                               || missing="$$missing openssl"; \
	{ command -v nginx || test -x /usr/sbin/nginx; } >/dev/null         || missing="$$missing nginx"; \
	{ command -v squid || test -x /usr/sbin/squid; } >/dev/null         || missing="$$missing squid"; \
	{ command -v tinyproxy || test -x /usr/bin/tinyproxy; } >/dev/null  || missing="$$missing tinyproxy"; \
	{ command -v traffic_server || test -x /usr/bin/traffic_server; } >/dev/null || missing="$$missing trafficserver"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

# The cache scenario (issue 11): hits from smolproxy's cache (--cache-dir)
# beside squid's (memory + ufs cache_dir), and the direct MB/s; bench/cache.py.
#   make bench-cache                 median of 5 runs, writes bench/out/cache.md
#   make bench-cache BENCH_QUICK=1   one short run, writes bench/out/cache-quick.md
.PHONY: bench-cache
bench-cache: bench-deps bench-build
	@mkdir -p bench/out
	python3 bench/run.py --scenario cache --only direct,smolproxy,squid $(if $(BENCH_QUICK),--quick) \
	  --out bench/out/cache$(if $(BENCH_QUICK),-quick).md --json bench/out/cache-raw.json \
	  --command "make bench-cache$(if $(BENCH_QUICK), BENCH_QUICK=1)" $(BENCH_ARGS)

# HTTPS inspection beside plain forwarding (bench/inspect.py): keep-alive CPU
# per request, inspected connections per second with a cached or a new leaf,
# memory per held inspected connection. Builds smolproxy-tls; run as root (the
# HTTPS origin takes port 443 on loopback: inspection covers port 443 only).
#   make bench-inspect               one run, writes bench/out/inspect.md
.PHONY: bench-inspect
bench-inspect: bench-deps
	$(CARGO) build --release --features tls --target-dir target/tls-bench
	@mkdir -p bench/out
	python3 bench/inspect.py --binary target/tls-bench/release/smolproxy --out bench/out/inspect.md
