"""The validation pack: the requirements catalogue, the pytest marker that traces
each requirement to the tests that prove it, and the static trace of those markers.

Plain Python (no Django): ``catalogue`` reads ``requirements.yaml``, ``plugin`` is
the pytest plugin (``-p validation.plugin`` in ``pytest.ini``), ``trace`` scans
``tests/`` for markers without running anything.
"""
