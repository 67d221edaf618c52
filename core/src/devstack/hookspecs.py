"""The hooks a devstack plugin may implement: ``devstack.plugin_system.hookspecs``.

This module is where the documentation points plugin authors; the specifications live in
the plugin system (which registers them with pluggy) and are the same objects here.
"""

from devstack.plugin_system.hookspecs import *  # noqa: F403
from devstack.plugin_system.hookspecs import __doc__ as __doc__
