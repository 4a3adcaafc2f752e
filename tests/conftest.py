"""Shared test set-up: hypothesis profiles.

``ci`` (selected when the CI environment variable is set): more examples, derandomized, and the
reproduction blob printed on failure. ``dev`` (default): quicker. Override with
``HYPOTHESIS_PROFILE=ci python -m pytest``.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=200,
    derandomize=True,
    print_blob=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=30, print_blob=True, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))
