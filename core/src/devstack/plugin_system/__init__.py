"""The plugin system: hook specifications, discovery, isolated hook calls through pluggy,
failure reasons and the Host that plugins receive.
"""
