#!/usr/bin/env bash
# Runs the tests that need the OS keyring against a real Secret Service: a private D-Bus
# session bus (dbus-run-session) with gnome-keyring-daemon, its login keyring created and
# unlocked with a throwaway password, in a temporary home so the user's own keyring is
# never touched. Fails loudly when the daemon cannot start.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

for tool in dbus-run-session gnome-keyring-daemon secret-tool; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "test-keyring: $tool is missing; run scripts/setup.sh (Debian packages dbus, gnome-keyring, libsecret-tools)" >&2
    exit 1
  fi
done

# Build the test binaries first, with the real home, so cargo's caches are used.
cargo test -p ferry-core --test keyring_secret_service --no-run
cargo test -p ferry-cli --test cli_destinations --no-run

keyring_home="$(mktemp -d)"
trap 'rm -rf "$keyring_home"' EXIT
mkdir -p "$keyring_home/run" "$keyring_home/.local/share" "$keyring_home/.config" "$keyring_home/.cache"
chmod 700 "$keyring_home/run"

# cargo and rustup keep finding their toolchain and caches through these.
export CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
export RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}"

HOME="$keyring_home" \
XDG_RUNTIME_DIR="$keyring_home/run" \
XDG_DATA_HOME="$keyring_home/.local/share" \
XDG_CONFIG_HOME="$keyring_home/.config" \
XDG_CACHE_HOME="$keyring_home/.cache" \
dbus-run-session -- bash -c '
  set -euo pipefail
  # The daemon must own org.freedesktop.secrets before anything asks for it: a daemon
  # started by D-Bus activation instead would have no unlocked login keyring.
  if ! printf "ferry-test-keyring" | gnome-keyring-daemon --unlock --components=secrets >/dev/null; then
    echo "test-keyring: gnome-keyring-daemon did not start" >&2
    exit 1
  fi
  # Prove the Secret Service answers before the tests run.
  if ! printf "probe" | secret-tool store --label "ferry keyring probe" service ferry-keyring-probe username probe \
     || [ "$(secret-tool lookup service ferry-keyring-probe username probe)" != "probe" ]; then
    echo "test-keyring: the Secret Service does not store secrets (is the login keyring unlocked?)" >&2
    exit 1
  fi
  secret-tool clear service ferry-keyring-probe username probe
  echo "test-keyring: Secret Service ready on $DBUS_SESSION_BUS_ADDRESS"
  cargo test -p ferry-core --test keyring_secret_service -- --ignored
  cargo test -p ferry-cli --test cli_destinations -- --ignored
'
