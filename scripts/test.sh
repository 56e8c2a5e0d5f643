#!/usr/bin/env bash
# Installs what the tests need and runs every test: Rust (engine and WebSocket server,
# the OS keyring through a real Secret Service),
# formatting and lints, the UI's type checks, linter and unit tests, a build of the app
# and its .deb and .rpm bundles (inspected, and the .deb installed, run and removed), and
# the end-to-end specs driving the built app through tauri-driver and WebKitWebDriver
# under Xvfb.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"

step() { printf '\n== %s\n' "$*"; }

step "Rust: format"
cargo fmt --all --check
step "Rust: clippy (engine, server, folder sync and command-line crates)"
cargo clippy -p ferry-core -p ferry-ws -p ferry-sync -p ferry-cli --all-targets -- -D warnings
step "Rust: tests"
cargo test --workspace --exclude ferry-desktop
step "Rust: keyring tests (a real Secret Service in a private D-Bus session)"
bash scripts/test-keyring.sh

step "UI: type check"
npm run --silent ui:check
step "UI: lint"
npm run --silent ui:lint
step "UI: unit tests"
npm run --silent ui:test
step "UI: the window's client against ferry serve"
target_dir="$(cargo metadata --format-version 1 --no-deps | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).target_directory))')"
# Built by the Rust tests above.
FERRY_CLI="$target_dir/debug/ferry" npm run --silent ui:test:serve

step "Icons: every size the bundles hold is generated from src-tauri/icons/ferry.svg"
bash scripts/icons.sh --check

step "App: build, .deb and .rpm bundles"
npx tauri build --bundles deb,rpm
step "App: clippy and unit tests (desktop shell)"
# With the end-to-end build's test-only commands too: they only add code.
cargo clippy -p ferry-desktop --release --features custom-protocol,e2e -- -D warnings
# The release profile and features of the build above, so its compiled crates are reused.
cargo test -p ferry-desktop --release --features custom-protocol --lib

step "Bundles: contents; the .deb installed, started under Xvfb, removed"
bash scripts/check-bundles.sh

step "App: the end-to-end build (the bundles above never hold its test-only commands)"
cargo build -p ferry-desktop --release --features custom-protocol,e2e

step "End to end (tauri-driver, WebKitWebDriver, Xvfb)"
export FERRY_APP="$target_dir/release/ferry-desktop"
# A session bus of its own: a second launch hands its files to the running app over it.
xvfb-run --auto-servernum --server-args="-screen 0 1280x800x24" dbus-run-session -- npm run --silent e2e
