#!/usr/bin/env bash
# Checks the Linux bundles of a release build (`npx tauri build --bundles deb,rpm`):
#  1. the .deb and the .rpm hold the program, the desktop file (opening files, with the
#     file types listed) and the icons, and declare the WebKitGTK and GTK libraries;
#  2. the .deb installs, the installed program starts under Xvfb with a file to open,
#     its window appears, its progress server answers a WebSocket handshake with the
#     token from its connection file, and the file it was given arrives in the
#     destination folder;
#  3. the package is removed again, leaving no program behind.
# Needs root or sudo for steps 2 and 3, and the tools scripts/setup.sh installs.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "check-bundles: $*" >&2; exit 1; }
log() { echo "check-bundles: $*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# Runs the installed program with a file to open, inside Xvfb (this script calls itself
# through xvfb-run with --run-installed WORK_DIR): the window must appear, the progress
# server must answer, and the file must arrive in the destination folder.
run_installed() {
  local work="$1" deadline
  mkdir -p "$work/dest"
  printf 'opened with Ferry\n' >"$work/opened.txt"
  FERRY_DATA_DIR="$work/data" FERRY_DESTINATION_DIR="$work/dest" FERRY_LOG_DIR="$work/logs" \
    FERRY_CONNECTION_FILE="$work/connection.json" WEBKIT_DISABLE_DMABUF_RENDERER=1 \
    /usr/bin/ferry-desktop "$work/opened.txt" >"$work/app.log" 2>&1 &
  local app=$!
  trap 'kill $app 2>/dev/null || true' RETURN
  # Polling with a deadline: a shell has no event to wait on for another program's window.
  deadline=$((SECONDS + 60))
  until [ -s "$work/connection.json" ] && xwininfo -root -tree 2>/dev/null | grep -q '"Ferry"'; do
    kill -0 "$app" 2>/dev/null || { cat "$work/app.log" >&2; fail "the installed program exited early"; }
    [ "$SECONDS" -lt "$deadline" ] || { cat "$work/app.log" >&2; fail "no Ferry window and connection file within 60 s"; }
    sleep 0.2
  done
  echo "check-bundles: the installed program's window is open"
  local url token answer
  url="$(node -e 'const c=require(process.argv[1]);console.log(c.url)' "$work/connection.json")"
  token="$(node -e 'const c=require(process.argv[1]);console.log(c.token)' "$work/connection.json")"
  answer="$(curl -sS -i --max-time 5 "${url/ws:/http:}" -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
    -H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' \
    -H "Sec-WebSocket-Protocol: ferry.v1, ferry.token.$token" 2>/dev/null | head -n 1 || true)"
  grep -q ' 101 ' <<<"$answer" || fail "the progress server did not accept the handshake: $answer"
  echo "check-bundles: the progress server answers ($answer)"
  deadline=$((SECONDS + 60))
  until cmp -s "$work/opened.txt" "$work/dest/opened.txt"; do
    [ "$SECONDS" -lt "$deadline" ] || { cat "$work/app.log" >&2; fail "the file given on the command line was not uploaded within 60 s"; }
    sleep 0.2
  done
  echo "check-bundles: the file given on the command line was uploaded"
}

if [ "${1:-}" = "--run-installed" ]; then
  run_installed "$2"
  exit 0
fi

target_dir="$(cargo metadata --format-version 1 --no-deps | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).target_directory))')"
bundle="$target_dir/release/bundle"
deb="$(find "$bundle/deb" -maxdepth 1 -name '*.deb' | head -n 1)"
rpm="$(find "$bundle/rpm" -maxdepth 1 -name '*.rpm' | head -n 1)"
[ -n "$deb" ] || fail "no .deb under $bundle/deb: build it with 'npx tauri build --bundles deb,rpm'"
[ -n "$rpm" ] || fail "no .rpm under $bundle/rpm: build it with 'npx tauri build --bundles deb,rpm'"

program=usr/bin/ferry-desktop
desktop=usr/share/applications/Ferry.desktop
icons=(usr/share/icons/hicolor/32x32/apps/ferry-desktop.png usr/share/icons/hicolor/128x128/apps/ferry-desktop.png)

check_desktop_file() {
  local text="$1" from="$2"
  grep -qx 'Exec=ferry-desktop %F' <<<"$text" || fail "$from: the desktop file does not pass files to Ferry (Exec=ferry-desktop %F)"
  grep -q '^MimeType=.*application/octet-stream;' <<<"$text" || fail "$from: the desktop file lists no file types (MimeType=)"
  grep -qx 'Icon=ferry-desktop' <<<"$text" || fail "$from: the desktop file names no icon"
}

# --- 1. contents --------------------------------------------------------------------------
log "inspecting $(basename "$deb")"
deb_files="$(dpkg-deb -c "$deb" | awk '{ print $NF }' | sed 's|^\./||')"
for path in "$program" "$desktop" "${icons[@]}"; do
  grep -qx "$path" <<<"$deb_files" || fail ".deb: $path is missing"
done
deb_depends="$(dpkg-deb -f "$deb" Depends)"
for library in libwebkit2gtk-4.1-0 libgtk-3-0; do
  grep -q "$library" <<<"$deb_depends" || fail ".deb: Depends lacks $library (it has: $deb_depends)"
done
deb_desktop="$(dpkg-deb --fsys-tarfile "$deb" | tar -xO --wildcards "*$desktop")"
check_desktop_file "$deb_desktop" .deb
if command -v desktop-file-validate >/dev/null; then
  validate_dir="$(mktemp -d)"
  printf '%s\n' "$deb_desktop" >"$validate_dir/Ferry.desktop"
  desktop-file-validate "$validate_dir/Ferry.desktop" || fail ".deb: the desktop file is not valid"
  rm -rf "$validate_dir"
fi
# The end-to-end build's test-only commands never ship.
shipped="$(mktemp)"
dpkg-deb --fsys-tarfile "$deb" | tar -xO "$program" >"$shipped"
[ -s "$shipped" ] || fail ".deb: $program could not be read back"
grep -q -a e2e_stop_server "$shipped" && fail ".deb: the program holds the end-to-end build's test-only commands"
rm -f "$shipped"
log ".deb: program, desktop file, ${#icons[@]} icons; Depends: $deb_depends"

log "inspecting $(basename "$rpm")"
rpm_files="$(rpm -qpl "$rpm" 2>/dev/null | sed 's|^/||')"
for path in "$program" "$desktop" "${icons[@]}"; do
  grep -qx "$path" <<<"$rpm_files" || fail ".rpm: $path is missing"
done
rpm_requires="$(rpm -qpR "$rpm" 2>/dev/null | tr '\n' ' ')"
for library in libwebkit2gtk-4.1.so.0 libgtk-3.so.0; do
  grep -q "$library" <<<"$rpm_requires" || fail ".rpm: Requires lacks $library (it has: $rpm_requires)"
done
rpm_root="$(mktemp -d)"
# Debian's rpm2cpio exits 1 even when it wrote the whole payload: cpio's result decides.
rpm2cpio "$rpm" >"$rpm_root/payload.cpio" || true
(cd "$rpm_root" && cpio -idm --quiet "*$desktop" <payload.cpio) || fail ".rpm: could not unpack $desktop"
rpm_desktop="$(cat "$rpm_root/$desktop")"
rm -rf "$rpm_root"
check_desktop_file "$rpm_desktop" .rpm
log ".rpm: program, desktop file, ${#icons[@]} icons; Requires: $rpm_requires"

# --- 2. install and run -------------------------------------------------------------------
package="$(dpkg-deb -f "$deb" Package)"
work="$(mktemp -d)"
app_pid=""
cleanup() {
  [ -n "$app_pid" ] && kill "$app_pid" 2>/dev/null || true
  if dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get remove -y -q "$package" >/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

log "installing $(basename "$deb")"
cp "$deb" "$work/ferry.deb"
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$work/ferry.deb" >/dev/null
[ -x "/$program" ] || fail "after installing, /$program is not there"

log "starting the installed program under Xvfb"
xvfb-run --auto-servernum --server-args="-screen 0 1280x800x24" bash "$0" --run-installed "$work"

# --- 3. remove ----------------------------------------------------------------------------
as_root env DEBIAN_FRONTEND=noninteractive apt-get remove -y -q "$package" >/dev/null
[ ! -e "/$program" ] || fail "after removing the package, /$program is still there"
dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" && fail "dpkg still lists $package as installed"
log "removed $package cleanly"
