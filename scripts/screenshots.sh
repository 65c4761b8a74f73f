#!/usr/bin/env bash
# Renders the touch window headless and writes the screenshots README.md shows:
#   docs/screenshots/first_window.png     800×600, Russian
#   docs/screenshots/first_window_en.png  800×600, English
# plus docs/screenshots/first_window_1280x800.tmp.png (git-ignored) to check the large size,
# and the checkout screens over a demo till, docs/screenshots/session_*.png: every screen at
# 800×600 in Russian; the login and the customer card also in English (`_en`), at
# 1280×800 (`_1280x800`) and on a 720×1280 portrait terminal (`_720x1280`, as are find,
# registration, the manager's menu and the keyboard); the installer's setup, docs/screenshots/setup_*.png (the whole
# page at 800×2000 as well); and the other checkout flows (spend code, «Без кода», offline,
# cancel), docs/screenshots/flows_*.png; the on-screen keyboard, session_keyboard_*.png and
# setup_keyboard*.png.
#
# The pictures come from the UI tests in tests/ui/ (window.rs, session.rs, setup.rs, flows.rs and keyboard.rs, the `ui` test binary; Slint's testing backend with
# the software renderer), so no display is needed. Where the machine has DejaVu Serif,
# fontconfig is shown that one font only, a family the window never asks for: every glyph
# in the pictures then comes from the DejaVu Sans embedded in the binary. (Fontconfig is
# not left with no font at all: fontique 0.11, Slint 1.18's font library, panics on that.)
set -euo pipefail
cd "$(dirname "$0")/.."

out="$PWD/docs/screenshots"
mkdir -p "$out"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
for f in /usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf /usr/share/fonts/*/*/DejaVuSerif.ttf; do
    if [ -f "$f" ]; then
        ln -s "$f" "$scratch/"
        cat > "$scratch/fonts.conf" <<CONF
<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "fonts.dtd">
<fontconfig><dir>$scratch</dir><cachedir>$scratch/cache</cachedir></fontconfig>
CONF
        export FONTCONFIG_FILE="$scratch/fonts.conf"
        break
    fi
done

BONUSKASSA_SCREENSHOTS="$out" \
    cargo test --test ui window::the_window_is_drawn_with_text_in_both_languages
BONUSKASSA_SCREENSHOTS="$out" cargo test --test ui -- session:: setup:: flows:: keyboard::

ls -l "$out"
