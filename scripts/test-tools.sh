#!/usr/bin/env bash
# Installs the Python tools the tests need (scripts/test-requirements.txt, from PyPI)
# into target/test-venv, once per change of that file, and prints the `export PATH=...`
# line that puts them first on PATH. Use: eval "$(scripts/test-tools.sh)".
set -euo pipefail
cd "$(dirname "$0")/.."
venv="$PWD/target/test-venv"
requirements="scripts/test-requirements.txt"
stamp="$venv/requirements.sha256"
wanted="$(sha256sum "$requirements" | cut -d' ' -f1)"
# A venv whose scripts name another folder (a moved target/) is rebuilt too.
usable() {
    [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ] &&
        case "$(head -n 1 "$venv/bin/pip" 2>/dev/null)" in "#!$venv/bin/"*) true ;; *) false ;; esac &&
        "$venv/bin/python" -c "" 2>/dev/null
}
if ! usable; then
    rm -rf "$venv"
    python3 -m venv "$venv" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" >&2
    echo "$wanted" >"$stamp"
fi
echo "export PATH=\"$venv/bin:\$PATH\""
