"""The Visma simulator and in-process wake-ups of tests/integrations, for the operations tests."""

from tests.integrations.conftest import (  # noqa: F401  (fixtures, registered by importing)
    _simulator_server,
    fast_visma,
    simulator,
    wakeups,
)
