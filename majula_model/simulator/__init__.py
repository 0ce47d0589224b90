"""The simulator: replay a plan under load and check its SLO promise, request by request.

Arrivals per model (Poisson at ``load x served_rps`` of the plan, or a trace) are routed to the model's runs in
proportion to their planned ``rate_rps`` (or join-the-shortest-queue); each run is a batch queue (``queue.py``)
with the plan's batch cap, ``processes`` parallel servers and service times from the measurements
(``service.py``), except the runs of a time-shared instance, which take turns on one server in a round-robin
duty cycle (``duty_cycle.py``). A plan is first checked against its instance (``plan_validation.py``).
See docs/simulator.md.
"""

from .duty_cycle import CycleResult, simulate_duty_cycle
from .plan_validation import validate_plan
from .queue import QueueResult, simulate_queue
from .run import SimOptions, simulate, verify
from .stats import InstanceStats, ModelStats, SimResult

__all__ = ["SimOptions", "simulate", "verify", "SimResult", "ModelStats", "InstanceStats", "simulate_queue",
           "QueueResult", "simulate_duty_cycle", "CycleResult", "validate_plan"]
