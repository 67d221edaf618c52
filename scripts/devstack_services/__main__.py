"""``python -m devstack_services``: what scripts/services.sh execs."""

from devstack_services.cli import main

raise SystemExit(main())
