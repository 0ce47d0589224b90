"""Issue 5, GPU path with the device layer faked at the NVML boundary: discovery, MIG instances measured in
subprocesses pinned by MIG UUID, emulated slices (green contexts or MPS), and the worker protocol."""

from __future__ import annotations

import pytest

pytest.importorskip("torch", reason="calibration extras not installed: pip install -e \'.[calibrate]\'")

import contextlib
import json
import os
import subprocess
import types
from pathlib import Path

import pytest

from majula_model.errors import InputError
from majula_model.problem.loading import load_calibration

from calibration import devices, emulation, runner
from calibration.plan import Point, Settings, Target
from calibration.sweep import sweep
from calibration.timing import Timing
from calibration.worker import decode_job, encode_job


class FakeNVML(types.SimpleNamespace):
    """The slice of pynvml the tool uses. gpus: (name, uuid, mig) with mig None (unsupported), False or a list
    of (MIG device name, MIG UUID) of existing instances; ``None`` entries are empty MIG slots."""

    class NVMLError(Exception):
        pass

    def __init__(self, gpus, fail_init=False):
        super().__init__(gpus=gpus, fail_init=fail_init, calls=[])

    def nvmlInit(self):
        if self.fail_init:
            raise self.NVMLError("NVML Shared Library Not Found")
        self.calls.append("init")

    def nvmlShutdown(self):
        self.calls.append("shutdown")

    def nvmlDeviceGetCount(self):
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, i):
        return ("gpu", i)

    def nvmlDeviceGetName(self, h):
        return self.gpus[h[1]][0].encode() if h[0] == "gpu" else self.gpus[h[1]][2][h[2]][0]

    def nvmlDeviceGetUUID(self, h):
        return self.gpus[h[1]][1] if h[0] == "gpu" else self.gpus[h[1]][2][h[2]][1]

    def nvmlDeviceGetMigMode(self, h):
        mig = self.gpus[h[1]][2]
        if mig is None:
            raise self.NVMLError("Not Supported")
        return (1 if mig is not False else 0, 0)

    def nvmlDeviceGetMaxMigDeviceCount(self, h):
        return 7

    def nvmlDeviceGetMigDeviceHandleByIndex(self, h, j):
        slots = self.gpus[h[1]][2]
        if j >= len(slots) or slots[j] is None:
            raise self.NVMLError("Not Found")
        return ("mig", h[1], j)

    def nvmlSystemGetDriverVersion(self):
        return b"550.54.15"

    def nvmlSystemGetCudaDriverVersion(self):
        return 12040

    # Anything that would change the GPU must never be called.
    def __getattr__(self, name):
        if name.startswith("nvmlDeviceSet") or "Create" in name or "Destroy" in name or "Reset" in name:
            pytest.fail(f"calibration called {name}: it must never change the GPU")
        raise AttributeError(name)


H100_MIG = ("NVIDIA H100 80GB HBM3", "GPU-h100-0", [
    ("NVIDIA H100 80GB HBM3 MIG 3g.40gb", "MIG-aaaa-3g"), None, ("NVIDIA H100 80GB HBM3 MIG 2g.20gb", "MIG-bbbb-2g"),
    ("NVIDIA H100 80GB HBM3 MIG 2g.20gb", "MIG-cccc-2g"), ("NVIDIA H100 80GB HBM3 MIG 1g.10gb", "MIG-dddd-1g")])
A100_OFF = ("NVIDIA A100-SXM4-40GB", "GPU-a100-0", False)
RTX = ("NVIDIA GeForce RTX 4090", "GPU-rtx-0", None)


def test_discover_reads_types_mig_mode_profiles_and_uuids():
    nvml = FakeNVML([H100_MIG, A100_OFF, RTX])
    inv = devices.discover(nvml)
    assert (inv.driver, inv.cuda_driver) == ("550.54.15", "12.4")
    h100, a100, rtx = inv.gpus
    assert (h100.gpu_type, h100.mig_enabled) == ("H100-SXM5-80GB", True)
    assert [(i.profile, i.uuid) for i in h100.instances] == [
        ("3g.40gb", "MIG-aaaa-3g"), ("2g.20gb", "MIG-bbbb-2g"), ("2g.20gb", "MIG-cccc-2g"), ("1g.10gb", "MIG-dddd-1g")]
    assert (a100.gpu_type, a100.mig_enabled, a100.instances) == ("A100-SXM4-40GB", False, ())
    assert (rtx.gpu_type, rtx.mig_enabled) == (None, False)
    assert nvml.calls == ["init", "shutdown"]


def test_discover_without_a_driver_is_an_input_error():
    with pytest.raises(InputError, match="no NVIDIA GPU found"):
        devices.discover(FakeNVML([], fail_init=True))


def _cfg(tmp_path, **kw):
    base = dict(settings=Settings("cuda", "fp16", 1, 3), models=["cnn"], batches=[1, 8], out=tmp_path / "g.json")
    return runner.RunConfig(**{**base, **kw})


def _fake_launcher(calls):
    """Stands in for the worker subprocess: decodes the job as the worker would, sweeps with fake timings."""
    def launch(target, job):
        t, points, settings, done, ooms = decode_job(job)
        calls.append((target, t, settings))
        lat = 1.0 if t.profile == "full" else 8.0 / int(t.profile[0])
        fake = lambda jobs: [Timing(lat, lat * 1.1, lat * 1.2, 100.0, 0.5) for _ in jobs]  # noqa: E731
        yield from sweep(t, points, settings, done=done, ooms=ooms, measure=fake)
    return launch


def test_mig_instances_each_run_in_a_worker_pinned_to_their_uuid(tmp_path):
    calls: list = []
    doc = runner.run(_cfg(tmp_path, processes=[1, 2]), nvml=FakeNVML([H100_MIG, RTX]),
                     launcher=_fake_launcher(calls), show_progress=False)
    envs = {t.profile: t.env["CUDA_VISIBLE_DEVICES"] for t, _, _ in calls}
    assert envs == {"3g.40gb": "MIG-aaaa-3g", "2g.20gb": "MIG-bbbb-2g", "1g.10gb": "MIG-dddd-1g"}
    assert all(s.device == "cuda" and s.dtype == "fp16" and t.green_sms is None for t, _, s in calls)
    recs = load_calibration(tmp_path / "g.json").measurements
    assert {(r.gpu, r.profile, r.emulated) for r in recs} == {
        ("H100-SXM5-80GB", p, False) for p in ("3g.40gb", "2g.20gb", "1g.10gb")}
    two = [r for r in recs if r.processes == 2]
    assert len(two) == 6 and all(r.throughput_rps == 200.0 and r.memory_gb == 1.0 for r in two)
    meta = json.loads((tmp_path / "g.json").read_text())["meta"]
    assert meta["mig_mode"] == "mixed" and meta["driver"] == "550.54.15" and meta["emulation"] is None
    assert any("MIG-cccc-2g" in s for s in meta["skipped"]) and any("RTX 4090" in s for s in meta["skipped"])


class _GreenTorch:
    """A torch stand-in whose cuda.green_contexts has GreenContext (2.12+ keyword signature)."""

    def __init__(self):
        log = self.log = []

        class GreenContext:
            @staticmethod
            def create(*, num_sms=None, workqueue_scope=None, workqueue_concurrency_limit=None, device_id=None):
                log.append(("create", num_sms, device_id))
                return Ctx()

        class Ctx:
            def set_context(self):
                log.append("set")

            def pop_context(self):
                log.append("pop")

            def Stream(self):
                return "green-stream"

        @contextlib.contextmanager
        def stream(s):
            log.append(("stream", s))
            yield

        self.cuda = types.SimpleNamespace(green_contexts=types.SimpleNamespace(GreenContext=GreenContext,
                                                                               SUPPORTED=True), stream=stream)


def test_emulated_slices_with_green_contexts_are_labelled(tmp_path):
    calls: list = []
    cfg = _cfg(tmp_path, emulate=["1g", "3g", "7g.40gb"])
    doc = runner.run(cfg, nvml=FakeNVML([A100_OFF]), launcher=_fake_launcher(calls), torch_module=_GreenTorch(),
                     show_progress=False)
    sms = {t.profile: (t.emulated, t.green_sms, t.env["CUDA_VISIBLE_DEVICES"]) for t, _, _ in calls}
    assert sms == {"full": (False, None, "GPU-a100-0"), "1g.5gb": (True, 14, "GPU-a100-0"),
                   "3g.20gb": (True, 42, "GPU-a100-0"), "7g.40gb": (True, 98, "GPU-a100-0")}
    assert {(r.profile, r.emulated) for r in doc.measurements} == {
        ("full", False), ("1g.5gb", True), ("3g.20gb", True), ("7g.40gb", True)}
    emu = doc.meta["emulation"]
    assert emu["method"] == "green_context" and emu["profiles"]["3g.20gb"]["sms"] == 42 and "L2" in emu["caveat"]
    assert doc.meta["mig_mode"] == "disabled"


class _FakeDaemon:
    def __init__(self, log):
        self.log = log

    def client_env(self, pct):
        return {"CUDA_MPS_PIPE_DIRECTORY": "/tmp/p", "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE": str(pct)}

    def __enter__(self):
        self.log.append("start")
        return self

    def __exit__(self, *a):
        self.log.append("stop")


def test_emulation_falls_back_to_mps_with_a_private_daemon(tmp_path, monkeypatch):
    monkeypatch.setattr(emulation.shutil, "which", lambda name: "/usr/bin/" + name)
    calls, log = [], []
    no_green = types.SimpleNamespace(cuda=types.SimpleNamespace())
    doc = runner.run(_cfg(tmp_path, emulate=["3g", "1g"]), nvml=FakeNVML([A100_OFF]), launcher=_fake_launcher(calls),
                     torch_module=no_green, mps=lambda uuid: log.append(uuid) or _FakeDaemon(log), show_progress=False)
    pct = {t.profile: t.env.get("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE") for t, _, _ in calls}
    assert pct == {"full": None, "3g.20gb": "39", "1g.5gb": "13"}   # ceil(100 * 42/108), ceil(100 * 14/108)
    assert log == ["GPU-a100-0", "start", "stop"] and doc.meta["emulation"]["method"] == "mps"


def test_emulation_choice(monkeypatch):
    assert emulation.choose_method(_GreenTorch()) == emulation.GREEN
    unsupported = _GreenTorch()
    unsupported.cuda.green_contexts.SUPPORTED = False
    assert emulation.choose_method(unsupported, mps_binary="/opt/mps") == emulation.MPS
    monkeypatch.setattr(emulation.shutil, "which", lambda name: None)
    with pytest.raises(InputError, match="cannot emulate"):
        emulation.choose_method(unsupported)


def test_green_context_uses_the_installed_signature():
    new = _GreenTorch()
    with emulation.green_context(48, new):
        new.log.append("body")
    assert new.log == [("create", 48, 0), "set", ("stream", "green-stream"), "body", "pop"]

    log = []

    class OldGreen:            # 2.10-2.11: create(num_sms, device_id), no Stream()
        @staticmethod
        def create(num_sms, device_id):
            log.append(("create", num_sms, device_id))
            return types.SimpleNamespace(set_context=lambda: log.append("set"), pop_context=lambda: log.append("pop"))

    old = types.SimpleNamespace(cuda=types.SimpleNamespace(green_contexts=types.SimpleNamespace(GreenContext=OldGreen)))
    with emulation.green_context(16, old):
        log.append("body")
    assert log == [("create", 16, 0), "set", "body", "pop"]


def test_emulating_on_a_mig_gpu_or_an_unknown_slice_is_refused(tmp_path):
    with pytest.raises(InputError, match="MIG enabled"):
        runner.make_plan(_cfg(tmp_path, emulate=["3g"]), nvml=FakeNVML([H100_MIG]), torch_module=_GreenTorch())
    with pytest.raises(InputError, match="no profile '5g'"):
        runner.make_plan(_cfg(tmp_path, emulate=["5g"]), nvml=FakeNVML([A100_OFF]), torch_module=_GreenTorch())
    with pytest.raises(InputError, match="nothing to measure"):
        runner.make_plan(_cfg(tmp_path), nvml=FakeNVML([RTX]))


def test_mps_daemon_uses_a_private_pipe_dir_and_quits():
    seen = []
    run = lambda cmd, **kw: seen.append((cmd, kw.get("input"), kw["env"]["CUDA_MPS_PIPE_DIRECTORY"]))  # noqa: E731
    with emulation.MpsDaemon("GPU-a100-0", run=run) as d:
        env = d.client_env(39)
        assert Path(env["CUDA_MPS_PIPE_DIRECTORY"]).is_dir()
        assert env["CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"] == "39" and env["CUDA_VISIBLE_DEVICES"] == "GPU-a100-0"
    assert [c[:2] for c in seen] == [(["nvidia-cuda-mps-control", "-d"], None), (["nvidia-cuda-mps-control"], "quit\n")]
    assert seen[0][2] == env["CUDA_MPS_PIPE_DIRECTORY"] != "/tmp/nvidia-mps"
    assert not Path(env["CUDA_MPS_PIPE_DIRECTORY"]).exists()


def test_worker_subprocess_gets_the_instance_env_and_streams_events(monkeypatch):
    """The real worker, run as a subprocess on the CPU, with the env a MIG target would have."""
    seen_env = {}
    real_popen = subprocess.Popen

    def popen(cmd, **kw):
        seen_env.update(kw["env"])
        return real_popen(cmd, **kw)

    monkeypatch.setattr(runner.subprocess, "Popen", popen)
    target = Target("cpu", "full", env=devices.instance_env("MIG-aaaa-3g"))
    points = [Point("mlp", 1), Point("mlp", 2)]
    settings = Settings("cpu", "fp32", 1, 3, {"mlp": [32]})
    events = list(runner.subprocess_launcher(target, encode_job(target, points, settings, {points[0].key(target)}, [])))
    assert seen_env["CUDA_VISIBLE_DEVICES"] == "MIG-aaaa-3g" and seen_env.get("PATH") == os.environ.get("PATH")
    assert [e["kind"] for e in events] == ["point"] and events[0]["records"][0]["batch"] == 2
