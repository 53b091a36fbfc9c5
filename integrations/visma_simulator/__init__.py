"""A local stand-in for Visma's `fakturering_ws`: same contract, real business rules, fault
injection. For development (`manage.py run_visma_simulator`), tests and benchmarks
(`start_simulator()`); never part of a production request path. Needs no database.
"""

from .config import SimulatorConfig
from .faults import Faults
from .server import SimulatorHandle, make_server, start_simulator

__all__ = ["Faults", "SimulatorConfig", "SimulatorHandle", "make_server", "start_simulator"]
