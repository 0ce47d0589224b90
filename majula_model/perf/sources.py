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
4. where the model has no record at all on the GPU type: its curve on a GPU type it was measured on, carried
   over by the catalog's specifications (``transferred``; ``Known.transfer_source``, ``transferred_latency``): a
   profile of the unmeasured type is asked of the measured type's curve as a profile with its SMs times the
   per-SM FP32 ratio and its memory-slice share times the bandwidth ratio, and the curve is bent through the
   measured profiles nearest to it (``curves.corrected_latency``);
5. the prior: ``prior``. Records of prior calibration files (``loading.is_prior``: their records are the
   analytic prior's predictions, not measurements) and, where the model has no record at all on the GPU type
   and nothing to transfer (no measured GPU type with spec figures), the analytic prior itself (``prior.py``),
   scaled by the model's measured/prior ratio on other GPU types.

Why the transfer ranks above the analytic prior: on the ParvaGPU A100 data, a curve fitted on half of the profile
sizes predicts the other half (1.5-7x the SMs, 2-8x the bandwidth share) within 9.0% MAPE (points >= 10 ms),
where the prior scaled on the same points is off by 29.2%, and the curve is better for every one of the 11 models
(``fit_report.across_sizes``; docs/performance-model.md, section 8). Between GPU architectures neither is
checked: no public data covers two GPU types.

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
- **A transfer speaks only for a (model, GPU type) with no record** (measured or prior-file), and only from
  measurements: from the GPU type with the most real records of the model (else emulated ones; the value is
  then flagged emulated), both types having the spec figures (``prior.has_specs``). It uses no peers: no other
  model was measured on the unmeasured type either.
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

    def transfer_source(self, model: str, gpu: GpuType) -> str | None:
        """The GPU type whose measurements of ``model`` are transferred to ``gpu`` (rule 4), or None: none when the
        model has any record on ``gpu``, or no measured (real or emulated) GPU type with spec figures, or ``gpu``
        lacks them. The type with the most real records wins (then emulated ones, then the name)."""
        from .prior import has_specs

        if ("transfer", model, gpu.type) not in self._memo:
            found = None
            if not self.evidence(model, gpu.type).fitted_on and has_specs(gpu):
                cands = []
                for m, other in self._solo():
                    if m != model or other == gpu.type or not has_specs(self.catalog.gpus[other]):
                        continue
                    ev = self.evidence(m, other)
                    if ev.real or ev.emulated:
                        cands.append((-len(ev.real), -len(ev.emulated), other))
                found = min(cands)[2] if cands else None
            self._memo[("transfer", model, gpu.type)] = found
        return self._memo[("transfer", model, gpu.type)]

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
    if source := known.transfer_source(model, gpu):
        src = known.evidence(model, source)
        lat = transferred_latency(list(src.fitted_on), known.catalog.gpus[source], gpu, profile, batches, processes)
        return lat, [TRANSFERRED] * len(batches), src.curve_emulated
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


TRANSFERRED = "transferred"
"""Label of a value carried over from another GPU type's measurements by the catalog's specifications."""


def spec_ratios(source: GpuType, target: GpuType) -> tuple[float, float]:
    """(per-SM FP32 speed, memory bandwidth) of ``target`` relative to ``source``, from the catalog's spec
    figures (both must have them: ``prior.has_specs``)."""
    speed = (target.fp32_tflops / target.sms) / (source.fp32_tflops / source.sms)
    return speed, target.memory_bandwidth_gbps / source.memory_bandwidth_gbps


def transferred_latency(records: list[MeasurementRecord], source: GpuType, target: GpuType, profile: str,
                        batches: list[int], processes: int) -> np.ndarray:
    """Latency on ``profile`` of ``target`` from the curve fitted on ``records`` (one model on ``source``).

    The target profile is asked of the source curve as a profile of ``source`` with SMs = its SMs x the per-SM
    FP32 ratio and memory share = its share x the bandwidth ratio (``spec_ratios``); the curve is then bent by the
    residuals of the source's measured profiles at the same batch and processes, nearest in SMs
    (``curves.corrected_latency``), so what the model showed on its nearest measured profile carries over. Why
    SMs x speed rather than the work divided by the speed: the fitted SM exponent is below 1 (bigger slices are
    used less efficiently), so counting a faster SM as more SMs gains less than its FP32 ratio; of the two
    readings it is the slower one, the safe side for an SLO. Neither is checked against a second GPU type.
    """
    from .curves import Grid, corrected_latency, fit_curve, profile_memory_share, profile_sms

    speed, bandwidth = spec_ratios(source, target)
    n = len(batches)
    query = Grid(np.array(batches, float), np.full(n, float(processes)),
                 np.full(n, profile_sms(target, profile) * speed),
                 np.full(n, profile_memory_share(target, profile) * bandwidth), np.full(n, np.nan))
    lat, _ = corrected_latency(fit_curve(records, source), Grid.of(records, source), query)
    return lat


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
        raise InputError(f"model '{model}' has no measurements on {gpu.type} and cannot be predicted there: a "
                         "transfer needs its measurements on a GPU type with the spec figures sms, fp32_tflops and "
                         "memory_bandwidth_gbps, and those figures for this type; the analytic prior needs the model "
                         "in majula_model/perf/model_costs.json and the same figures", field="model")
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
