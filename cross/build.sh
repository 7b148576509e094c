#!/usr/bin/env bash
# Build the static release binary of smolproxy for one or more musl targets.
#
#   cross/build.sh TARGET...          (run from the repository root; `make cross-build` does)
#
# Picks a route, installs what that route needs (each step checks first, so
# running it twice installs nothing), builds, and prints where the binary is.
#
# Routes (CROSS_ROUTE=auto|docker|native, default auto):
#   docker  `cross` (pinned, see CROSS_RS_VERSION) with cross/Cross.toml, used
#           when a docker engine answers `docker info`.
#   native  no containers:
#           - x86_64 musl: rustup's prebuilt std, linked by rust-lld
#             (ships with rustc; musl's crt and libc come from rust-std).
#           - aarch64/armv7/arm (ARMv6)/mipsel/mips musl: nightly
#             -Zbuild-std=std,panic_abort (STD_FEATURES below) with zig as
#             linker and C compiler (cargo-zigbuild; zig from the PyPI package
#             ziglang, in a private venv). -C link-self-contained=no lets zig
#             supply musl's start files and libc; MIPS adds
#             -C relocation-model=static (extra_rustflags below).
#             std built from source is compiled with the release profile
#             (opt-level "s", fat LTO) and without std's `backtrace` feature:
#             on aarch64 828,000 bytes instead of 1,064,856 for the same
#             source with the prebuilt std (cross/README.md).
# SMOLPROXY_TLS=1 (`make dist` sets it): also build the `tls` flavour of each
# target (shipped as smolproxy-tls) into ${CARGO_TARGET_DIR:-target}/tls.
# Its crypto, ring, compiles C and assembly, so it needs a C compiler for the
# target: on the native route zig (cargo-zigbuild) for every target, also
# aarch64/x86_64 (whose default build needs none); the cross images have one.
# Any install that cannot be done fails the build with a message: nothing is
# skipped silently.
set -euo pipefail

die() { echo "cross/build.sh: ERROR: $*" >&2; exit 1; }
say() { echo "cross/build.sh: $*" >&2; }

[ $# -ge 1 ] || die "usage: cross/build.sh TARGET..."
if [ ! -f Cargo.toml ] || [ ! -d cross ]; then die "run from the repository root"; fi

CARGO=${CARGO:-cargo}
SUDO=${SUDO-}
CROSS_ROUTE=${CROSS_ROUTE:-auto}
# -Zbuild-std is unstable: a dated nightly keeps it from changing under us.
# Bump it on purpose (and run `make cross-test-all`).
NIGHTLY=${NIGHTLY:-nightly-2026-05-19}
# Versions of the tools the native route installs. Pinned so a build today and
# a build next month use the same linker: zig 0.15.2 is the zig that
# cargo-zigbuild 0.24.1's own argument handling refers to.
ZIG_VERSION=${ZIG_VERSION:-0.15.2}
ZIGBUILD_VERSION=${ZIGBUILD_VERSION:-0.24.1}
# cross 0.2.5: the newest release published on crates.io (this project installs
# tools only from registries, so not a git revision); its images are tagged
# 0.2.5 too, and cross/Cross.toml pins them to that tag, so tool and images
# always match.
CROSS_RS_VERSION=${CROSS_RS_VERSION:-0.2.5}
CROSS_TOOLS=${CROSS_TOOLS:-$HOME/.cache/smolproxy-cross}
SMOLPROXY_TLS=${SMOLPROXY_TLS:-0}
TLS_DIR=${CARGO_TARGET_DIR:-target}/tls
ZIG_VENV=$CROSS_TOOLS/zig-$ZIG_VERSION

prebuilt_std() {   # targets built with rustup's prebuilt std, linked by rust-lld
    case $1 in x86_64-unknown-linux-musl) return 0 ;; esac
    return 1
}
# std's features for -Zbuild-std: unwinding kept (a panic ends one connection,
# not the daemon; Cargo.toml's panic = "unwind"), `backtrace` left out. That
# feature only symbolizes RUST_BACKTRACE output (gimli, addr2line, miniz_oxide,
# rustc-demangle: ~80 KB on aarch64), and the shipped binary is stripped, so it
# had no symbols to read: panics still print their message and location.
STD_FEATURES=panic-unwind
known_target() {
    case $1 in
        aarch64-unknown-linux-musl|x86_64-unknown-linux-musl|armv7-unknown-linux-musleabihf|\
        arm-unknown-linux-musleabihf|mipsel-unknown-linux-musl|mips-unknown-linux-musl) return 0 ;;
    esac
    return 1
}
# MIPS: a static executable, not a static PIE. In a MIPS static PIE the
# linker puts each weak undefined symbol (std's optional libc functions, such
# as getrandom, which a static link leaves out) in the GOT's local part with
# value 0, and musl's start-up code (rcrt1) adds the load address to every
# local GOT entry: std's "is it there?" test then sees the load address, calls
# it, and the process dies with SIGSEGV at start-up (cross/README.md, MIPS).
extra_rustflags() {
    case $1 in mips*) echo " -C relocation-model=static" ;; esac
}
env_name() { echo "$1" | tr 'a-z.-' 'A-Z__'; }   # CARGO_TARGET_<TRIPLE>_*

# ---------- route ----------
if [ "$CROSS_ROUTE" = auto ]; then
    if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
        CROSS_ROUTE=docker
    else
        CROSS_ROUTE=native
    fi
    say "route: $CROSS_ROUTE (auto: docker engine $( [ $CROSS_ROUTE = docker ] && echo answers || echo 'not reachable'); set CROSS_ROUTE=docker|native to choose)"
else
    say "route: $CROSS_ROUTE (CROSS_ROUTE)"
fi
case $CROSS_ROUTE in docker|native) ;; *) die "CROSS_ROUTE must be auto, docker or native";; esac

# ---------- installers (idempotent, loud) ----------
ensure_rustup_target() {
    local tc=$1 t=$2
    if rustup target list --toolchain "$tc" --installed | grep -qx "$t"; then return; fi
    say "installing rust-std for $t ($tc): rustup target add"
    rustup target add --toolchain "$tc" "$t" \
        || die "rustup could not install the prebuilt std for $t; no network to the Rust dist server?"
}
ensure_nightly() {
    if ! rustup run "$NIGHTLY" rustc --version >/dev/null 2>&1; then
        say "installing toolchain $NIGHTLY (for -Zbuild-std)"
        rustup toolchain install "$NIGHTLY" --profile minimal --component rust-src \
            || die "rustup could not install $NIGHTLY"
    fi
    if ! rustup component list --toolchain "$NIGHTLY" --installed | grep -q '^rust-src'; then
        say "installing rust-src for $NIGHTLY (std sources for -Zbuild-std)"
        rustup component add --toolchain "$NIGHTLY" rust-src || die "rustup could not install rust-src"
    fi
}
ensure_zig() {
    if [ -x "$ZIG_VENV/bin/python3" ] && [ "$("$ZIG_VENV/bin/python3" -m ziglang version 2>/dev/null)" = "$ZIG_VERSION" ]; then
        return
    fi
    say "installing zig $ZIG_VERSION (PyPI ziglang) into $ZIG_VENV"
    command -v python3 >/dev/null || die "python3 is needed for the ziglang package"
    if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
        say "installing python3-venv (apt)"
        { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq python3-venv; } \
            || die "apt could not install python3-venv"
    fi
    rm -rf "$ZIG_VENV"
    python3 -m venv "$ZIG_VENV" || die "python3 -m venv failed"
    "$ZIG_VENV/bin/python3" -m pip install -q --disable-pip-version-check "ziglang==$ZIG_VERSION" \
        || die "pip could not install ziglang==$ZIG_VERSION; no network to PyPI?"
    [ "$("$ZIG_VENV/bin/python3" -m ziglang version)" = "$ZIG_VERSION" ] || die "zig from ziglang does not run"
}
ensure_zigbuild() {
    if command -v cargo-zigbuild >/dev/null 2>&1 && cargo-zigbuild --version 2>/dev/null | grep -q " $ZIGBUILD_VERSION\$"; then
        return
    fi
    say "installing cargo-zigbuild $ZIGBUILD_VERSION (crates.io; compiles for ~2 min)"
    "$CARGO" install --locked --quiet cargo-zigbuild --version "$ZIGBUILD_VERSION" \
        || die "cargo could not install cargo-zigbuild $ZIGBUILD_VERSION; no network to crates.io?"
}
ensure_cross() {
    if command -v cross >/dev/null 2>&1 && cross --version 2>/dev/null | grep -q "cross $CROSS_RS_VERSION"; then
        return
    fi
    say "installing cross $CROSS_RS_VERSION (crates.io)"
    "$CARGO" install --locked --quiet cross --version "$CROSS_RS_VERSION" \
        || die "cargo could not install cross $CROSS_RS_VERSION"
}

# ---------- build ----------
build_native() {
    local t=$1 E; E=$(env_name "$t")
    if prebuilt_std "$t"; then
        ensure_rustup_target "$(rustup show active-toolchain | cut -d' ' -f1)" "$t"
        say "building $t: stable, prebuilt std, linker rust-lld"
        env "CARGO_TARGET_${E}_LINKER=rust-lld" \
            "$CARGO" build --locked --release --target "$t"
    else
        ensure_nightly
        ensure_zig
        ensure_zigbuild
        say "building $t: $NIGHTLY -Zbuild-std=std,panic_abort, linker zig $ZIG_VERSION (cargo-zigbuild)"
        # The "unable to open library directory .../rustlib/$t/lib" linker
        # warning is expected: that directory only exists with a prebuilt std.
        env "CARGO_ZIGBUILD_PYTHON_PATH=$ZIG_VENV/bin/python3" \
            "CARGO_TARGET_${E}_RUSTFLAGS=-C link-self-contained=no$(extra_rustflags "$t")" \
            cargo "+$NIGHTLY" zigbuild --locked --release --target "$t" \
            -Zbuild-std=std,panic_abort "-Zbuild-std-features=$STD_FEATURES"
    fi
}
build_native_tls() {
    local t=$1 E; E=$(env_name "$t")
    ensure_zig
    ensure_zigbuild
    if prebuilt_std "$t"; then
        ensure_rustup_target "$(rustup show active-toolchain | cut -d' ' -f1)" "$t"
        say "building $t --features tls: stable, prebuilt std, zig $ZIG_VERSION as C compiler and linker (cargo-zigbuild)"
        env "CARGO_ZIGBUILD_PYTHON_PATH=$ZIG_VENV/bin/python3" "CARGO_TARGET_DIR=$TLS_DIR" \
            "$CARGO" zigbuild --locked --release --target "$t" --features tls
    else
        ensure_nightly
        say "building $t --features tls: $NIGHTLY -Zbuild-std=std,panic_abort, zig $ZIG_VERSION (cargo-zigbuild)"
        env "CARGO_ZIGBUILD_PYTHON_PATH=$ZIG_VENV/bin/python3" "CARGO_TARGET_DIR=$TLS_DIR" \
            "CARGO_TARGET_${E}_RUSTFLAGS=-C link-self-contained=no$(extra_rustflags "$t")" \
            cargo "+$NIGHTLY" zigbuild --locked --release --target "$t" --features tls \
            -Zbuild-std=std,panic_abort "-Zbuild-std-features=$STD_FEATURES"
    fi
}
build_docker_tls() {
    local t=$1
    ensure_cross
    say "building $t --features tls: cross $CROSS_RS_VERSION (docker) into $TLS_DIR"
    if [ "${t#mips}" = "$t" ]; then
        CROSS_CONFIG=cross/Cross.toml cross build --locked --release --target "$t" \
            --features tls --target-dir "$TLS_DIR"
    else
        ensure_nightly
        env "CARGO_TARGET_$(env_name "$t")_RUSTFLAGS=$(extra_rustflags "$t")" CROSS_CONFIG=cross/Cross.toml \
            cross "+$NIGHTLY" build --locked --release --target "$t" --features tls --target-dir "$TLS_DIR"
    fi
}
build_docker() {
    local t=$1
    ensure_cross
    if prebuilt_std "$t"; then
        say "building $t: cross $CROSS_RS_VERSION (docker), CROSS_CONFIG=cross/Cross.toml"
        CROSS_CONFIG=cross/Cross.toml cross build --locked --release --target "$t"
    else
        ensure_nightly
        say "building $t: cross $CROSS_RS_VERSION (docker) +$NIGHTLY build-std, CROSS_CONFIG=cross/Cross.toml"
        # cross passes CARGO_* variables into the container.
        env "CARGO_TARGET_$(env_name "$t")_RUSTFLAGS=$(extra_rustflags "$t")" CROSS_CONFIG=cross/Cross.toml \
            cross "+$NIGHTLY" build --locked --release --target "$t" "-Zbuild-std-features=$STD_FEATURES"
    fi
}

for t in "$@"; do
    known_target "$t" || die "unknown target $t (see cross/README.md)"
    case $t in mips*) say "NOTE: $t is tier 3 in Rust: best effort, not part of cross-test";; esac
    "build_$CROSS_ROUTE" "$t"
    bin=${CARGO_TARGET_DIR:-target}/$t/release/smolproxy
    [ -x "$bin" ] || die "build of $t produced no $bin"
    say "built $bin ($(stat -c %s "$bin") bytes)"
    if [ "$SMOLPROXY_TLS" = 1 ]; then
        "build_${CROSS_ROUTE}_tls" "$t"
        bin=$TLS_DIR/$t/release/smolproxy
        [ -x "$bin" ] || die "the tls build of $t produced no $bin"
        say "built $bin, smolproxy-tls ($(stat -c %s "$bin") bytes)"
    fi
done
