#!/usr/bin/env bash
# Installs everything Ferry needs to build, run and test on Debian 12 / Ubuntu 22.04+:
# the WebKitGTK stack Tauri builds against, Xvfb and WebKitWebDriver for the end-to-end
# tests, libdbus and a Secret Service (gnome-keyring, secret-tool) for the keyring and its
# tests, Node modules (npm ci), and tauri-driver (cargo install, major version 2).
# Safe to run again: each step is skipped when its result is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

SYSTEM_PACKAGES=(
  build-essential pkg-config curl file
  libwebkit2gtk-4.1-dev libgtk-3-dev libayatana-appindicator3-dev librsvg2-dev libssl-dev libxdo-dev
  xvfb xauth webkit2gtk-driver dbus dbus-x11
  rpm cpio desktop-file-utils x11-utils
  libdbus-1-dev gnome-keyring libsecret-tools
)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

missing=()
for package in "${SYSTEM_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ! command -v node >/dev/null 2>&1; then
  # Some Node.js packages bundle npm and conflict with Debian's npm package: ask for
  # nodejs alone, and npm below only if it did not come with it.
  missing+=(nodejs)
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing system packages: ${missing[*]}"
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: Rust is missing. Install it with rustup (https://rustup.rs), then run this again." >&2
  exit 1
fi

if ! command -v npm >/dev/null 2>&1; then
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends npm
fi
# Vite 7 needs Node.js 20.19 or newer.
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
  echo "setup: Node.js 20.19 or newer is needed (found $(node --version)); install it from your distribution's" \
    "backports or the NodeSource packages, then run this again." >&2
  exit 1
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  # Install scripts stay off: none is needed, and some would try to download browser drivers.
  npm ci --no-audit --no-fund --ignore-scripts
fi

export PATH="$HOME/.cargo/bin:$PATH"
if ! tauri-driver --help >/dev/null 2>&1 || ! cargo install --list | grep -q '^tauri-driver v2\.'; then
  echo "setup: cargo install tauri-driver (major version 2)"
  cargo install tauri-driver --locked --version '^2'
fi
