#!/usr/bin/env bash
# Installs what the browser tests (crates/conda_store_cli/tests/browser.rs) need:
# Debian's `chromium` (and `nodejs` and `npm`) with apt-get when missing, and the pinned
# npm packages of crates/conda_store_cli/tests/browser/ (playwright-core, no browser
# download) with `npm ci` into target/browser-tools, once per change of the lockfile.
# Prints the `export ...` line naming that node_modules folder.
# Use: eval "$(scripts/browser-tools.sh)".
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ "${#missing[@]}" -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "browser-tools: installing ${missing[*]} with apt-get" >&2
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >&2
fi
source="crates/conda_store_cli/tests/browser"
tools="$PWD/target/browser-tools"
stamp="$tools/package-lock.sha256"
wanted="$(cat "$source/package.json" "$source/package-lock.json" | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ] || [ ! -d "$tools/node_modules" ]; then
    rm -rf "$tools"
    mkdir -p "$tools"
    cp "$source/package.json" "$source/package-lock.json" "$tools/"
    (cd "$tools" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --ignore-scripts --no-audit --no-fund \
        --loglevel=error >&2)
    echo "$wanted" >"$stamp"
fi
echo "export CONDA_STORE_BROWSER_MODULES=\"$tools/node_modules\""
