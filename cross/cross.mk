# Static musl binaries for Raspberry Pis, routers and x86_64 boxes (cross/README.md).
# Included by the top Makefile, which defines CARGO and SUDO.
#
#   make cross-build     build every target in CROSS_TARGETS
#   make cross-test      build aarch64 + armv7, check them, run them under qemu (CI)
#   make cross-test-all  the same for every target (ARMv6, x86_64, MIPS too)
#   make cross-test-mipsel | cross-test-mips   MIPS (little/big-endian) under qemu
#   make cross-check     check already built binaries (static, CPU arch, size budget)
#   make dist            dist/smolproxy-VERSION-TARGET.tar.gz + .sha256 for DIST_TARGETS
#                        (each with smolproxy and smolproxy-tls), and the OpenWrt
#                        packages (make ipk; smolproxy only)
#   make ipk             dist/smolproxy_VERSION-1_ARCH.ipk (+ .sha256) for DIST_TARGETS
#   make dist-mipsel     the archive and package for mipsel only
#   make size-report     stripped size per release-profile option (SIZE_TARGET)
#   make cross-aarch64 | cross-armv7 | cross-armv6 | cross-x86_64 | cross-mipsel | cross-mips
#
# Route: CROSS_ROUTE=auto (default: docker if an engine answers, else native),
# docker or native. The scripts say which route and what they install.

# The four tier-2 targets. MIPS is tier 3 in Rust (std built from source) and
# best effort: released (dist) and tested by cross-test-all, not by CI's
# cross-test. Both MIPS builds are static executables, not PIEs (cross/README.md).
CROSS_TARGETS      ?= aarch64-unknown-linux-musl armv7-unknown-linux-musleabihf \
                      arm-unknown-linux-musleabihf x86_64-unknown-linux-musl
MIPS_TARGET        := mipsel-unknown-linux-musl
MIPS_TARGETS       := $(MIPS_TARGET) mips-unknown-linux-musl
DIST_TARGETS       ?= $(CROSS_TARGETS) $(MIPS_TARGETS)
CROSS_TEST_TARGETS ?= aarch64-unknown-linux-musl armv7-unknown-linux-musleabihf
SIZE_TARGET        ?= aarch64-unknown-linux-musl

# Passed to every script: which cargo, how to become root for apt.
CROSS_ENV = CARGO='$(CARGO)' SUDO='$(SUDO)'

.PHONY: cross-build cross-check cross-test cross-test-all dist size-report \
        cross-aarch64 cross-armv7 cross-armv6 cross-x86_64 cross-mipsel \
        cross-test-mipsel dist-mipsel ipk cross-mips cross-test-mips

cross-build:
	$(CROSS_ENV) bash cross/build.sh $(CROSS_TARGETS)

cross-aarch64:
	$(CROSS_ENV) bash cross/build.sh aarch64-unknown-linux-musl
cross-armv7:
	$(CROSS_ENV) bash cross/build.sh armv7-unknown-linux-musleabihf
cross-armv6:
	$(CROSS_ENV) bash cross/build.sh arm-unknown-linux-musleabihf
cross-x86_64:
	$(CROSS_ENV) bash cross/build.sh x86_64-unknown-linux-musl
cross-mipsel:
	$(CROSS_ENV) bash cross/build.sh $(MIPS_TARGET)
cross-mips:
	$(CROSS_ENV) bash cross/build.sh mips-unknown-linux-musl

cross-check:
	@for t in $(CROSS_TARGETS); do \
	  bash cross/check.sh $$t target/$$t/release/smolproxy || exit 1; \
	done

## cross-test: build aarch64 and armv7, check them, proxy real bytes under qemu-user;
## check the OpenWrt init script and the aarch64 .ipk
cross-test:
	$(CROSS_ENV) bash cross/cross-test.sh $(CROSS_TEST_TARGETS)
	bash cross/test-openwrt.sh
	bash cross/test-ipk.sh aarch64-unknown-linux-musl

cross-test-all:
	$(CROSS_ENV) bash cross/cross-test.sh $(CROSS_TARGETS) $(MIPS_TARGETS)
	bash cross/test-openwrt.sh

dist:
	$(CROSS_ENV) SMOLPROXY_TLS=1 bash cross/build.sh $(DIST_TARGETS)
	bash cross/dist.sh $(DIST_TARGETS)
	bash cross/ipk.sh $(DIST_TARGETS)

ipk:
	$(CROSS_ENV) bash cross/build.sh $(DIST_TARGETS)
	bash cross/ipk.sh $(DIST_TARGETS)

cross-test-mipsel:
	$(CROSS_ENV) bash cross/cross-test.sh $(MIPS_TARGET)
cross-test-mips:
	$(CROSS_ENV) bash cross/cross-test.sh mips-unknown-linux-musl
dist-mipsel:
	$(CROSS_ENV) SMOLPROXY_TLS=1 bash cross/build.sh $(MIPS_TARGET)
	bash cross/dist.sh $(MIPS_TARGET)
	bash cross/ipk.sh $(MIPS_TARGET)

size-report:
	$(CROSS_ENV) bash cross/size-report.sh $(SIZE_TARGET)
