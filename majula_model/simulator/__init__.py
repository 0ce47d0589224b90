"""The simulator: replay a plan under load and check its SLO promise, request by request.

Arrivals per model (Poisson at ``load x served_rps`` of the plan, or a trace) are routed to the model's runs in
proportion to their planned ``rate_rps`` (or join-the-shortest-queue); each run is a batch queue (``queue.py``)
with the plan's batch cap, ``processes`` parallel servers and service times from the measurements
(``service.py``). See docs/simulator.md.
"""

from .queue import QueueResult, simulate_queue
from .run import SimOptions, simulate, verify
from .stats import InstanceStats, ModelStats, SimResult

__all__ = ["SimOptions", "simulate", "verify", "SimResult", "ModelStats", "InstanceStats", "simulate_queue",
           "QueueResult"]
