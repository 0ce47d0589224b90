"""The resolved planning problem: an instance with its file, catalog and every measurement with its origin.

Why its own module: reading (``loading``), checking (``validation``) and every later stage take a ``Problem``;
keeping the type apart from the code that builds it lets them all import it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..hardware.catalog import Catalog
from ..schema import Instance, MeasurementRecord


@dataclass(frozen=True)
class SourcedRecord:
    """A measurement with where it came from, so later errors can name the file and field."""

    record: MeasurementRecord
    file: str
    field: str


@dataclass(frozen=True)
class Problem:
    """An instance with everything resolved: its file, its measurements from all sources, the catalog."""

    instance: Instance
    file: str | None
    catalog: Catalog
    records: tuple[SourcedRecord, ...] = field(default=())
    prior_files: tuple[str, ...] = ()
    """Calibration files whose ``meta.kind`` says they hold analytic-prior predictions, not measurements: every
    figure built on them is a model's guess, and the commands say so (``notes``)."""

    @property
    def measurements(self) -> tuple[MeasurementRecord, ...]:
        return tuple(s.record for s in self.records)
