#!/usr/bin/env bash
# Setup for keelwatch-vuln end-to-end tests (sourced by .ci/run as root on Debian 12).
# Idempotent: installs only what is missing, starts a registry only if none answers.
#  - skopeo            build OCI layouts/archives and push images (crates/keelwatch/tests/vuln_cli.rs)
#  - docker-registry   a real registry on 127.0.0.1:${KEELWATCH_TEST_REGISTRY_PORT:-5077}
#  - rpm (rpmbuild)    build rpm packages and install them into an rpm database
#  - age               a Go binary shipped by a Debian package
#  - Python wheels at known-vulnerable versions, downloaded from PyPI into a cache dir
#  - cargo-auditable   build a real Rust binary with a .dep-v0 section (crates.io install,
#                      build dir removed afterwards)
# Env exported for the tests: KEELWATCH_TEST_REGISTRY, KEELWATCH_TEST_WHEELS.

_kw_vuln_setup() {
  local need=()
  command -v skopeo >/dev/null || need+=(skopeo)
  command -v docker-registry >/dev/null || need+=(docker-registry)
  command -v rpmbuild >/dev/null || need+=(rpm)
  [ -x /usr/bin/age ] || need+=(age)
  if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" >/dev/null
  fi

  local port="${KEELWATCH_TEST_REGISTRY_PORT:-5077}"
  local state=/var/tmp/keelwatch-vuln-ci
  mkdir -p "$state/registry"
  export KEELWATCH_TEST_REGISTRY="127.0.0.1:${port}"
  if ! (exec 3<>"/dev/tcp/127.0.0.1/${port}") 2>/dev/null; then
    cat > "$state/registry.yml" <<YML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $state/registry
  delete:
    enabled: true
http:
  addr: 127.0.0.1:${port}
YML
    nohup docker-registry serve "$state/registry.yml" > "$state/registry.log" 2>&1 &
    local i
    for i in $(seq 1 50); do
      if curl -fsS "http://127.0.0.1:${port}/v2/" >/dev/null 2>&1 || (exec 3<>"/dev/tcp/127.0.0.1/${port}") 2>/dev/null; then
        break
      fi
      sleep 0.2
    done
  fi

  # cargo-auditable, from crates.io (no Debian package in bookworm).
  if ! command -v cargo-auditable >/dev/null && [ ! -x "$HOME/.cargo/bin/cargo-auditable" ]; then
    CARGO_TARGET_DIR="$state/cargo-auditable-build" cargo install --quiet --locked cargo-auditable@0.7.7
    rm -rf "$state/cargo-auditable-build"
  fi

  # Known-vulnerable Python packages (pure-python wheels), downloaded once.
  export KEELWATCH_TEST_WHEELS="$state/wheels"
  if [ ! -f "$KEELWATCH_TEST_WHEELS/.done" ]; then
    mkdir -p "$KEELWATCH_TEST_WHEELS"
    python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$KEELWATCH_TEST_WHEELS" \
      jinja2==2.11.2 urllib3==1.24.1 requests==2.19.1
    ls "$KEELWATCH_TEST_WHEELS"/*.whl >/dev/null 2>&1 && touch "$KEELWATCH_TEST_WHEELS/.done"
  fi
}
_kw_vuln_setup
unset -f _kw_vuln_setup
