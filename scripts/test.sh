#!/usr/bin/env bash
# Runs the whole test suite on SQLite, PostgreSQL and MariaDB.
# Starts (and if needed installs) the database servers first (scripts/test-services.sh)
# and the Python tools the tests drive, such as uv (scripts/test-tools.sh), and Chromium,
# node and playwright-core for the browser tests (scripts/browser-tools.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/test-services.sh)"
eval "$(scripts/test-tools.sh)"
eval "$(scripts/browser-tools.sh)"
if ! command -v cargo-nextest >/dev/null; then
    cargo install --locked cargo-nextest
fi
cargo nextest run --workspace --no-fail-fast "$@"
