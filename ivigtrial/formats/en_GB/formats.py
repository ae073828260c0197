from ..en.formats import *  # noqa: F401,F403 - the same ISO formats (see en/formats.py)
