"""Settings of the load-test server: the project's, with collected static
files in the run's temporary directory (so the run never writes into the
source tree)."""

import os

from ivigtrial.settings import *  # noqa: F401,F403

STATIC_ROOT = os.environ["LOADTEST_STATIC_ROOT"]
