#!/usr/bin/env bash
# The application icon in every size the bundles need, generated from one drawing,
# src-tauri/icons/ferry.svg, with the Tauri CLI. `scripts/icons.sh` rewrites them;
# `scripts/icons.sh --check` fails when a committed icon differs from what the drawing gives.
set -euo pipefail
cd "$(dirname "$0")/.."

source_svg=src-tauri/icons/ferry.svg
icons=src-tauri/icons
generated="$(mktemp -d)"
trap 'rm -rf "$generated"' EXIT
npx tauri icon "$source_svg" -o "$generated" >"$generated/tauri-icon.log" 2>&1 || {
  cat "$generated/tauri-icon.log" >&2
  exit 1
}

# The desktop sizes only: Ferry ships no mobile app. The .icns is left out of the check,
# as its encoder does not give the same bytes twice.
desktop=(32x32.png 64x64.png 128x128.png 128x128@2x.png icon.png icon.ico
  Square30x30Logo.png Square44x44Logo.png Square71x71Logo.png Square89x89Logo.png
  Square107x107Logo.png Square142x142Logo.png Square150x150Logo.png Square284x284Logo.png
  Square310x310Logo.png StoreLogo.png)

if [ "${1:-}" = "--check" ]; then
  stale=()
  for name in "${desktop[@]}"; do
    cmp -s "$generated/$name" "$icons/$name" || stale+=("$name")
  done
  if ((${#stale[@]} > 0)); then
    echo "icons not generated from $source_svg: ${stale[*]}; run scripts/icons.sh" >&2
    exit 1
  fi
  echo "icons: all ${#desktop[@]} match $source_svg"
else
  for name in "${desktop[@]}" icon.icns; do cp "$generated/$name" "$icons/$name"; done
  echo "icons: rewrote ${#desktop[@]} icons and icon.icns from $source_svg"
fi
