"""On the simulated board's PYTHONPATH: every Python started there registers the simulated device
with pynq (importing the module defines the ``pynq.Device`` subclass) when ``BNNTOOL_SIMBOARD``
names its configuration."""

import os

if os.environ.get("BNNTOOL_SIMBOARD"):
    import simboard  # noqa: F401
