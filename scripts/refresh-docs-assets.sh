#!/usr/bin/env bash
# Refreshes the Swagger UI and ReDoc bundles core serves under /docs/assets/ (vendored in
# core/src/devstack/docs_assets/) from the npm registry, with `npm pack`, and records their
# versions in VERSIONS.txt. ReDoc 2's side menu always shows a logo loaded from Redocly's
# CDN (no option turns it off): the bundle's URL is replaced by an empty data: URL, so the
# image fails to load without leaving the machine and ReDoc hides it (its onError handler).
#   scripts/refresh-docs-assets.sh                      the versions below
#   SWAGGER_UI_VERSION=5.35.0 REDOC_VERSION=2.5.4 scripts/refresh-docs-assets.sh
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
DEST=$ROOT/core/src/devstack/docs_assets
SWAGGER_UI_VERSION=${SWAGGER_UI_VERSION:-5.35.0}
REDOC_VERSION=${REDOC_VERSION:-2.5.4}
REDOC_LOGO='"https://cdn.redoc.ly/redoc/logo-mini.svg"'

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent "swagger-ui-dist@$SWAGGER_UI_VERSION" "redoc@$REDOC_VERSION" >/dev/null
mkdir swagger redoc
tar xzf "swagger-ui-dist-$SWAGGER_UI_VERSION.tgz" -C swagger --strip-components=1
tar xzf "redoc-$REDOC_VERSION.tgz" -C redoc --strip-components=1

mkdir -p "$DEST"
for name in swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt swagger-ui-standalone-preset.js \
  swagger-ui-standalone-preset.js.LICENSE.txt swagger-ui.css favicon-32x32.png; do
  cp "swagger/$name" "$DEST/$name"
done
cp swagger/LICENSE "$DEST/LICENSE.swagger-ui-dist"
cp redoc/LICENSE "$DEST/LICENSE.redoc"
cp redoc/bundles/redoc.standalone.js.LICENSE.txt "$DEST/redoc.standalone.js.LICENSE.txt"

count=$(grep -o -F "$REDOC_LOGO" redoc/bundles/redoc.standalone.js | wc -l)
if [[ $count -ne 1 ]]; then
  printf 'ERROR: redoc@%s bundles/redoc.standalone.js holds %s copies of %s (expected 1): check its side menu logo\n' \
    "$REDOC_VERSION" "$count" "$REDOC_LOGO" >&2
  exit 1
fi
sed "s|$REDOC_LOGO|\"data:,\"|" redoc/bundles/redoc.standalone.js >"$DEST/redoc.standalone.js"

swagger_licence=$(node -p "require('./swagger/package.json').license")
redoc_licence=$(node -p "require('./redoc/package.json').license")
cat >"$DEST/VERSIONS.txt" <<TXT
Vendored from the npm registry by scripts/refresh-docs-assets.sh; served under /docs/assets/.
swagger-ui-dist $SWAGGER_UI_VERSION ($swagger_licence, LICENSE.swagger-ui-dist)
redoc $REDOC_VERSION ($redoc_licence, LICENSE.redoc): bundles/redoc.standalone.js, its CDN logo URL replaced by "data:,"
TXT
printf 'docs assets: swagger-ui-dist %s, redoc %s -> %s\n' "$SWAGGER_UI_VERSION" "$REDOC_VERSION" "$DEST"
