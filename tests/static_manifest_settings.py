"""The project's settings with STATIC_ROOT in a directory a test chooses
(tests/core/test_static_manifest.py)."""

import os

from ivigtrial.settings import *  # noqa: F401,F403

STATIC_ROOT = os.environ["TEST_STATIC_ROOT"]
