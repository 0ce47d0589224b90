"""Which number wins: the one rule for every latency the performance model gives, whoever asks.

Why one place: ``majula predict`` (``prediction.predict``) and the planner's ``use_predictions``
(``prediction.add_predictions``) used to decide on their own, and disagreed: for a model measured only on
emulated slices, the planner dropped the emulated points and offered the analytic prior at the very batches
that were measured (11.5 ms where 21.4 ms was measured, so the capacity came from the prior), while ``predict``
fitted the emulated points. A plan must rest on the numbers ``majula predict`` shows, so both call ``answer``.

At one point (model, GPU type, profile, batch, processes) the first of these that answers wins, and the value
keeps its label:

1. a real MIG measurement: ``measured``;
2. a measurement on an emulated slice (record field ``emulated``): ``measured``, flagged emulated;
3. the model's fitted curve on that GPU type (``curves``, ``peers``): ``interpolated`` between measured batches
   of the same profile and process count, ``predicted`` elsewhere;
4. the prior: ``prior``. Records of prior calibration files (``loading.is_prior``: their records are the
   analytic prior's predictions, not measurements) and, where the model has no record at all on the GPU type,
   the analytic prior itself (``prior.py``), scaled by the model's measured/prior ratio on other GPU types.

How mixes are resolved (the cases the order alone does not settle):

- **Real and emulated are kept apart.** On a profile where the model has real points, its emulated points there
  are ignored entirely (``points.points_from_records``). The curve is fitted on the model's real points on the
  GPU type when it has any, on its emulated points otherwise, never on both; it is bent only through the points
  it was fitted on, and corrected by other models' points (``peers``) only when it was fitted on real points,
  and then only by their real points. Why: an emulated slice limits SMs but shares L2 and memory bandwidth with
  the whole GPU, so it runs bandwidth-bound models faster than the real slice, by an amount that varies with
  model and batch; a real curve bent toward emulated points would carry that bias into real predictions, and
  an emulated curve bent by real residuals would be neither. So with real points on 1g and 7g and emulated ones
  on 3g only, the emulated points answer where they were measured and the rest of 3g comes from the real curve
  (``predicted``, not emulated).
- **A value is flagged emulated** when it is an emulated measurement or comes from a curve fitted on emulated
  points: it describes an emulated slice, whatever its label.
- **The prior speaks only for a (model, GPU type) with no measurement**, real or emulated. Once the model ran
  there, its curve (about 6% held-out error per profile, docs/performance-model.md) beats the prior (30%) at
  every point, and a prior point kept beside measured ones could set the capacity on a guess, as in the case
  above. Where only prior records exist, the curve fitted through them answers between and beyond them, still
  labelled ``prior`` (a smoothed prior is a prior), with no peer correction.
- Colocated records are interference data, not solo latency, and never answer here.

What differs between the two callers is only which points they ask about: ``predict`` answers any batch size
it is given; the planner asks only within measured ranges (``prediction.add_predictions``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np

from ..errors import InputError
from ..hardware.catalog import Catalog, GpuType
from ..problem.loading import is_prior
from ..problem.problem import Problem
from ..schema import CalibrationFile, MeasurementRecord

if TYPE_CHECKING:
    from .peers import Residuals


@dataclass(frozen=True)
class Evidence:
    """One model's solo records on one GPU type, by what they are and what they may answer (module docstring)."""

    real: tuple[MeasurementRecord, ...]
    emulated: tuple[MeasurementRecord, ...]
    """Emulated measurements on profiles where the model has no real one."""
    prior: tuple[MeasurementRecord, ...]
    """Prior-file records, kept only where the model has no measurement on the GPU type."""

    @property
    def fitted_on(self) -> tuple[MeasurementRecord, ...]:
        """The records the curve is fitted on: real ones, else emulated ones, else prior ones."""
        return self.real or self.emulated or self.prior

    @property
    def curve_emulated(self) -> bool:
        """True when the curve is fitted on emulated points (its values describe emulated slices)."""
        return not self.real and bool(self.emulated)

    @property
    def label(self) -> str:
        """Label of the records that answer exactly: ``prior`` for prior-file records, else ``measured``."""
        return "prior" if self.prior else "measured"

    def on(self, profile: str) -> list[MeasurementRecord]:
        """The records that answer exactly on ``profile``: never more than one kind, by construction."""
        return [r for r in self.real + self.emulated + self.prior if r.profile == profile]


@dataclass(frozen=True)
class Known:
    """Every record a question may draw on, each flagged when it is a prior prediction (from a prior file)."""

    records: tuple[MeasurementRecord, ...]
    prior: tuple[bool, ...]
    catalog: Catalog
    _memo: dict = field(default_factory=dict, compare=False, repr=False)

    @staticmethod
    def of(source: CalibrationFile | Iterable[MeasurementRecord], catalog: Catalog) -> "Known":
        """A calibration file (all prior when ``is_prior`` says so) or plain records (all measurements)."""
        flag = isinstance(source, CalibrationFile) and is_prior(source)
        recs = tuple(source.measurements if isinstance(source, CalibrationFile) else source)
        return Known(recs, (flag,) * len(recs), catalog)

    @staticmethod
    def of_problem(problem: Problem) -> "Known":
        """A problem's records; those from its prior files (``Problem.prior_files``) flagged prior."""
        priors = set(problem.prior_files)
        return Known(problem.measurements, tuple(s.file in priors for s in problem.records), problem.catalog)

    @property
    def measured(self) -> list[MeasurementRecord]:
        """Records that are measurements (real or emulated), not prior predictions: peers and prior ratios."""
        if "measured" not in self._memo:
            self._memo["measured"] = [r for r, p in zip(self.records, self.prior) if not p]
        return self._memo["measured"]

    def evidence(self, model: str, gpu: str) -> Evidence:
        """``model``'s evidence on canonical GPU type ``gpu`` (remembered: the planner asks per profile)."""
        if (model, gpu) not in self._memo:
            mine = self._solo().get((model, gpu), [])
            real = tuple(r for r, p in mine if not p and not r.emulated)
            profiles = {r.profile for r in real}
            emulated = tuple(r for r, p in mine if not p and r.emulated and r.profile not in profiles)
            prior = () if real or emulated else tuple(r for r, p in mine if p)
            self._memo[(model, gpu)] = Evidence(real, emulated, prior)
        return self._memo[(model, gpu)]

    def _solo(self) -> dict[tuple[str, str], list[tuple[MeasurementRecord, bool]]]:
        """Solo records with their prior flag by (model, canonical GPU type), in record order; built once."""
        if "solo" not in self._memo:
            groups: dict[tuple[str, str], list[tuple[MeasurementRecord, bool]]] = {}
            for r, p in zip(self.records, self.prior):
                gpu = None if r.colocated else self.catalog.resolve(r.gpu)
                if gpu is not None:
                    groups.setdefault((r.model, gpu), []).append((r, p))
            self._memo["solo"] = groups
        return self._memo["solo"]


@dataclass(frozen=True)
class Answer:
    """Values at the asked batch sizes, in order, each with its label and emulated flag."""

    batch: tuple[int, ...]
    latency_ms: np.ndarray
    throughput_rps: np.ndarray
    source: tuple[str, ...]
    emulated: tuple[bool, ...]


def answer(known: Known, model: str, gpu: GpuType, profile: str, batches: list[int], processes: int) -> Answer:
    """Latency and throughput of ``model`` on ``profile`` of ``gpu`` at each batch size, by the rule of this
    module. Exact points give their recorded values (repeats: geometric-mean latency, mean throughput); the
    others ``processes * batch * 1000 / latency``. InputError where only the analytic prior could answer and it
    cannot (``prior_transfer``)."""
    ev = known.evidence(model, gpu.type)
    exact = _exact(ev, profile, processes)
    rest = [b for b in batches if b not in exact]
    if rest:
        lat, labels, emulated = _estimate(known, ev, model, gpu, profile, rest, processes)
        for b, lt, lb in zip(rest, lat, labels):
            exact.setdefault(b, (float(lt), processes * b * 1000.0 / float(lt), lb, emulated))
    rows = [exact[b] for b in batches]
    return Answer(tuple(int(b) for b in batches), np.array([r[0] for r in rows], float),
                  np.array([r[1] for r in rows], float), tuple(r[2] for r in rows), tuple(r[3] for r in rows))


def _exact(ev: Evidence, profile: str, processes: int) -> dict[int, tuple[float, float, str, bool]]:
    """(latency, throughput, label, emulated) per batch size recorded on ``profile`` with ``processes``."""
    by_batch: dict[int, list[MeasurementRecord]] = {}
    for r in ev.on(profile):
        if r.processes == processes:
            by_batch.setdefault(r.batch, []).append(r)
    return {b: (float(np.exp(np.mean(np.log([r.latency_ms for r in rs])))), float(np.mean([r.rate_rps for r in rs])),
                ev.label, rs[0].emulated and not ev.prior)
            for b, rs in by_batch.items()}


def _estimate(known: Known, ev: Evidence, model: str, gpu: GpuType, profile: str, batches: list[int],
              processes: int) -> tuple[np.ndarray, list[str], bool]:
    """Latencies, labels and the emulated flag of points no record answers: the curve, else the analytic prior."""
    from .peers import peers_on

    if ev.fitted_on:
        peers = peers_on(known.measured, model, gpu, known.catalog) if ev.real else []
        lat, labels = curve_points(list(ev.fitted_on), gpu, profile, batches, processes, peers)
        return lat, (["prior"] * len(batches) if ev.prior else labels), ev.curve_emulated
    lat = prior_transfer(known.measured, model, gpu, profile, batches, processes, known.catalog)
    return lat, ["prior"] * len(batches), False


def curve_points(records: list[MeasurementRecord], gpu: GpuType, profile: str, batches: list[int],
                 processes: int, peers: Sequence[Residuals] = ()) -> tuple[np.ndarray, list[str]]:
    """Latencies and labels from the curve fitted on exactly ``records`` (one model on ``gpu``), bent through
    them and corrected by ``peers`` (``peers.Residuals`` of other models; see ``peers.py``)."""
    from .curves import Grid, corrected_latency, fit_curve, profile_memory_share, profile_sms
    from .peers import corrected_with_peers, residuals

    n = len(batches)
    query = Grid(np.array(batches, float), np.full(n, float(processes)), np.full(n, profile_sms(gpu, profile)),
                 np.full(n, profile_memory_share(gpu, profile)), np.full(n, np.nan))
    fit, grid = fit_curve(records, gpu), Grid.of(records, gpu)
    if not peers:
        return corrected_latency(fit, grid, query)
    return corrected_with_peers(fit, grid, query, list(peers), residuals(records, gpu))


def prior_answers(model: str, gpu: GpuType) -> bool:
    """True when the analytic prior can speak for ``model`` on ``gpu`` (published costs, fitted constants and
    the GPU type's spec figures)."""
    from .prior import has_specs, load_costs

    costs, constants = load_costs()
    return model in costs and bool(constants) and has_specs(gpu)


def prior_transfer(records: list[MeasurementRecord], model: str, gpu: GpuType, profile: str, batches: list[int],
                   processes: int, cat: Catalog) -> np.ndarray:
    """Prior latency on an unmeasured GPU type, scaled by the model's median measured/prior ratio elsewhere
    (real solo measurements in ``records`` only: a prior record's ratio says nothing).

    InputError if the model has no published cost figures (``perf/model_costs.json``) or the prior has no fitted
    constants: then there is nothing honest to say.
    """
    from .prior import has_specs, load_costs, prior_latency

    if not prior_answers(model, gpu):
        raise InputError(f"model '{model}' has no measurements on {gpu.type} and no analytic prior "
                         "(the prior needs the model in majula_model/perf/model_costs.json and the GPU type's spec "
                         "figures sms, fp32_tflops, memory_bandwidth_gbps)", field="model")
    costs, constants = load_costs()
    ratios = []
    for r in records:
        other = cat.resolve(r.gpu)
        if r.model == model and other is not None and not r.colocated and not r.emulated \
                and has_specs(cat.gpus[other]):
            ratios.append(r.latency_ms / float(prior_latency(costs[model], constants, cat.gpus[other], r.profile,
                                                              r.batch, r.processes)))
    scale = float(np.median(ratios)) if ratios else 1.0
    return scale * prior_latency(costs[model], constants, gpu, profile, np.array(batches, float), processes)
