"""The documentation pages: Swagger UI and ReDoc over ``/openapi.json``, from vendored bundles."""

from __future__ import annotations

from pathlib import Path

# The Swagger UI 5 and ReDoc bundles, vendored from the npm registry with their licences
# (docs_assets/VERSIONS.txt; refreshed by scripts/refresh-docs-assets.sh). Only these are served.
DOC_ASSETS_DIR = Path(__file__).parents[1] / "docs_assets"
DOC_ASSETS = frozenset(
    {
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
        "swagger-ui.css",
        "favicon-32x32.png",
        "redoc.standalone.js",
    }
)

SWAGGER_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>devstack API</title>
<link rel="icon" href="/docs/assets/favicon-32x32.png">
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/swagger-ui-standalone-preset.js"></script>
<script>window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui",
presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset], layout: "BaseLayout",
validatorUrl: null});</script>
</body></html>
"""

REDOC_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>devstack API - ReDoc</title>
<link rel="icon" href="/docs/assets/favicon-32x32.png"></head>
<body><redoc spec-url="/openapi.json"></redoc>
<script src="/docs/assets/redoc.standalone.js"></script></body></html>
"""
