#!/usr/bin/env bash
# Refreshes the vendored conda-store UI (npm @conda-store/conda-store-ui, BSD-3-Clause)
# that conda-store-server embeds and serves at {prefix}/ui/ and
# {prefix}/static/conda-store-ui/: downloads the pinned tarball from the npm registry,
# checks it against the pinned checksum, and copies the files the server serves, as they
# come, into crates/conda_store_server/ui/ (with the package's LICENSE and a VERSION file).
#
# To move to another version: set VERSION, set SHA512 to the hex form of the
# `dist.integrity` that `npm view @conda-store/conda-store-ui@VERSION dist` prints
# (sha512-BASE64: `echo BASE64 | base64 -d | xxd -p -c 64`), run this script, rebuild.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION="2024.11.1"
# dist.integrity sha512-E78O3ezyrzAyMPkydTvZJdpKj63kKtCKF6bSZ1R+x8olre8vTo/4LyZdlf6VAPebeNYqGos5ENcEJF6JYr9aRA==
SHA512="13bf0eddecf2af303230f932753bd925da4a8fade42ad08a17a6d267547ec7ca25adef2f4e8ff82f265d95fe9500f79b78d62a1a8b3910d704245e8962bf5a44"
URL="https://registry.npmjs.org/@conda-store/conda-store-ui/-/conda-store-ui-${VERSION}.tgz"
# What the server serves, from the package's dist/: the bundle, its stylesheet, the
# stylesheet's source map and the licences of the bundled libraries (main.js names
# main.js.LICENSE.txt). main.js.map (8 MB) is left out: only developer tools fetch it.
FILES=(main.js main.css main.css.map main.js.LICENSE.txt)
DESTINATION="crates/conda_store_server/ui"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "downloading $URL" >&2
curl --fail --silent --show-error --location --output "$work/ui.tgz" "$URL"
echo "$SHA512  $work/ui.tgz" | sha512sum --check --quiet -
tar -xzf "$work/ui.tgz" -C "$work"

rm -rf "$DESTINATION"
mkdir -p "$DESTINATION"
for file in "${FILES[@]}"; do
    cp "$work/package/dist/$file" "$DESTINATION/$file"
done
cp "$work/package/LICENSE" "$DESTINATION/LICENSE"
printf '%s\n' "$VERSION" >"$DESTINATION/VERSION"
echo "vendored @conda-store/conda-store-ui@$VERSION into $DESTINATION:" >&2
ls -l "$DESTINATION" >&2
