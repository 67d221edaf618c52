"""The local backends of devstack (scripts/services.sh): start, seed, stop, report.

One module per backend; ``common`` (output, files, probes) and ``procs`` (processes,
readiness, the lock) are what they share; ``settings`` is every path, port and credential.
"""
