"""`majula simulate` refuses plans its instance cannot hold (issue 11: a fuzzing run found 242 of 490 corrupted
plans simulated with exit 0). One test per reproducer: a plan from `majula solve` on instances/default.json
with exactly one defect, through the CLI; exit 2 and `plan.json: JSON path: reason`, never the catch-all."""

from __future__ import annotations

import contextlib
import copy
import io
import json
from pathlib import Path

import pytest

from majula_model.cli import main

from conftest import ROOT

DEFAULT = ROOT / "instances" / "default.json"
GAP = "gap in majula's input checks"


@pytest.fixture(scope="module")
def plan_doc():
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(io.StringIO()):
        assert main(["solve", str(DEFAULT), "--json"]) == 0
    return json.loads(buf.getvalue())


def retotal(doc: dict) -> dict:
    """Per-model served and capacity totals summed again from the runs (so a test's one defect is its only one)."""
    served = {m["name"]: 0.0 for m in doc["models"]}
    cap = dict(served)
    for g in doc["gpus"]:
        for ins in g["instances"]:
            for r in ins["models"]:
                served[r["name"]] += r["rate_rps"]
                cap[r["name"]] += r["capacity_rps"]
    for m in doc["models"]:
        m["served_rps"], m["capacity_rps"] = served[m["name"]], cap[m["name"]]
    return doc


def simulate(tmp_path: Path, capsys, doc: dict, *flags: str, instance: Path = DEFAULT) -> tuple[int, str]:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(doc))
    code = main(["simulate", str(instance), "--plan", str(path), "--duration", "2", *flags])
    err = capsys.readouterr().err
    assert "Traceback" not in err and GAP not in err, err
    return code, err


def refused(tmp_path, capsys, doc, field: str, *words: str, **kw) -> str:
    """Exit 2 with one `plan.json: FIELD: reason` line whose reason holds ``words``."""
    code, err = simulate(tmp_path, capsys, doc, **kw)
    line = next((ln for ln in err.splitlines() if ln.startswith("majula: error:")), "")
    assert code == 2, err
    assert f"plan.json: {field}: " in line, line
    for w in words:
        assert w in line, (w, line)
    return line


def instance_copy(tmp_path: Path, **changes) -> Path:
    """instances/default.json with top-level changes (``policy`` merged), its calibration path made absolute."""
    doc = json.loads(DEFAULT.read_text())
    doc["calibration"] = [str((DEFAULT.parent / c).resolve()) for c in doc["calibration"]]
    for k, v in changes.items():
        doc[k] = {**doc[k], **v} if k == "policy" else v
    path = tmp_path / "instance.json"
    path.write_text(json.dumps(doc))
    return path


def test_the_unchanged_plan_simulates(tmp_path, capsys, plan_doc):
    assert simulate(tmp_path, capsys, plan_doc)[0] == 0


def test_fifteen_gpus_in_an_eight_gpu_pool(tmp_path, capsys, plan_doc):
    doc = copy.deepcopy(plan_doc)
    while len(doc["gpus"]) < 15:
        doc["gpus"].append({**copy.deepcopy(doc["gpus"][2]), "id": len(doc["gpus"])})
    refused(tmp_path, capsys, retotal(doc), "gpus[8]", "GPU 9 of type A100-SXM4-80GB", "the pool has 8")


@pytest.mark.parametrize("gpu_type", ["H100-SXM5-80GB", "cpu"])
def test_a_gpu_type_not_in_the_pool(tmp_path, capsys, plan_doc, gpu_type):
    doc = copy.deepcopy(plan_doc)
    doc["gpus"][2]["type"] = gpu_type
    refused(tmp_path, capsys, doc, "gpus[2].type", f"'{gpu_type}' is not in the instance's pools")


def test_an_unknown_gpu_type(tmp_path, capsys, plan_doc):
    doc = copy.deepcopy(plan_doc)
    doc["gpus"][0]["type"] = "Z9000"
    refused(tmp_path, capsys, doc, "gpus[0].type", "unknown GPU type 'Z9000'")


def test_duplicate_gpu_ids(tmp_path, capsys, plan_doc):
    doc = copy.deepcopy(plan_doc)
    doc["gpus"][3]["id"] = doc["gpus"][1]["id"]
    refused(tmp_path, capsys, doc, "gpus[3].id", f"GPU id {doc['gpus'][1]['id']} is also gpus[1]'s")


def test_geometry_disagreeing_with_instances(tmp_path, capsys, plan_doc):
    doc = copy.deepcopy(plan_doc)
    gi = next(i for i, g in enumerate(doc["gpus"]) if len(g["instances"]) > 1)
    doc["gpus"][gi]["geometry"] = ["7g.80gb"]
    refused(tmp_path, capsys, doc, f"gpus[{gi}].geometry", "does not list the GPU's instances")


def test_full_at_start_5(tmp_path, capsys, plan_doc):
    doc = copy.deepcopy(plan_doc)
    gi = next(i for i, g in enumerate(doc["gpus"]) if g["geometry"] == ["full"])
    doc["gpus"][gi]["instances"][0]["start"] = 5
    refused(tmp_path, capsys, doc, f"gpus[{gi}].instances[0].start", "'full'", "starts at 0, got 5")


def test_a_profile_at_a_start_the_catalog_does_not_allow(tmp_path, capsys, plan_doc):
    """A100 80GB: 3g.40gb starts at 0 or 4 only (catalog placement table)."""
    doc = copy.deepcopy(plan_doc)
    gi, ii = next((gi, ii) for gi, g in enumerate(doc["gpus"]) for ii, i in enumerate(g["instances"])
                  if i["profile"] == "3g.40gb")
    doc["gpus"][gi]["instances"][ii]["start"] = 1
    refused(tmp_path, capsys, doc, f"gpus[{gi}].instances[{ii}].start", "cannot start at memory slice 1",
            "allowed: 0, 4")


def test_a_profile_the_gpu_type_does_not_have(tmp_path, capsys, plan_doc):
    doc = copy.deepcopy(plan_doc)
    gi = next(i for i, g in enumerate(doc["gpus"]) if g["geometry"] == ["full"])
    doc["gpus"][gi]["geometry"] = ["5g.50gb"]
    doc["gpus"][gi]["instances"][0]["profile"] = "5g.50gb"
    refused(tmp_path, capsys, doc, f"gpus[{gi}].instances[0].profile", "has no profile '5g.50gb'")


def test_negative_served_rps(tmp_path, capsys, plan_doc):
    doc = copy.deepcopy(plan_doc)
    doc["models"][1]["served_rps"] = -5.0
    refused(tmp_path, capsys, doc, "models[1].served_rps", "must be a finite number >= 0", "-5.0")


def test_served_rps_that_the_runs_do_not_add_up_to(tmp_path, capsys, plan_doc):
    doc = copy.deepcopy(plan_doc)
    doc["models"][0]["served_rps"] = 2 * doc["models"][0]["served_rps"]
    refused(tmp_path, capsys, doc, "models[0].served_rps", f"the runs of '{doc['models'][0]['name']}' add up to")


@pytest.mark.parametrize("status", ["infeasible", "no_solution", "error"])
def test_a_plan_without_a_solution(tmp_path, capsys, plan_doc, status):
    doc = copy.deepcopy(plan_doc)
    doc["status"] = status
    refused(tmp_path, capsys, doc, "status", f"status '{status}'", "no solution")


def test_seven_processes_under_max_processes_3(tmp_path, capsys, plan_doc):
    doc = copy.deepcopy(plan_doc)
    doc["gpus"][0]["instances"][0]["models"][0]["processes"] = 7
    refused(tmp_path, capsys, doc, "gpus[0].instances[0].models[0].processes", "7 processes",
            "policy.max_processes is 3")


def test_a_batch_that_was_never_measured(tmp_path, capsys, plan_doc):
    """The prior calibration of instances/default.json holds batches 1, 2, 4, ..., 128: batch 3 is not one."""
    doc = copy.deepcopy(plan_doc)
    run = doc["gpus"][0]["instances"][0]["models"][0]
    run["batch"] = 3
    refused(tmp_path, capsys, doc, "gpus[0].instances[0].models[0]", f"'{run['name']}'", "batch 3",
            "is not measured (and policy.use_predictions is off)")


def test_a_process_count_that_was_never_measured(tmp_path, capsys, plan_doc, ):
    """Processes 1 to 3 are recorded; with max_processes raised to 5, 4 processes is within the policy but
    unmeasured."""
    doc = copy.deepcopy(plan_doc)
    doc["gpus"][0]["instances"][0]["models"][0]["processes"] = 4
    inst = instance_copy(tmp_path, policy={"max_processes": 5})
    refused(tmp_path, capsys, doc, "gpus[0].instances[0].models[0]", "with 4 process(es) is not measured",
            instance=inst)


def _predictions_instance(tmp_path: Path, use_predictions: bool) -> Path:
    """Model a measured on 1g.10gb and 7g.80gb only (batches 1-8): 3g.40gb is predicted when allowed."""
    recs = [{"model": "a", "gpu": "A100-SXM4-80GB", "profile": p, "batch": b, "latency_ms": lat * b ** 0.5}
            for p, lat in (("1g.10gb", 20.0), ("7g.80gb", 5.0)) for b in (1, 2, 4, 8)]
    doc = {"name": "pred", "gpus": [{"type": "A100-SXM4-80GB", "count": 2}],
           "models": [{"name": "a", "slo_ms": 200.0, "demand_rps": 100.0}], "measurements": recs,
           "policy": {"use_predictions": use_predictions}}
    path = tmp_path / f"pred-{use_predictions}.json"
    path.write_text(json.dumps(doc))
    return path


def _predicted_plan(batch: int) -> dict:
    run = {"name": "a", "batch": batch, "processes": 1, "latency_ms": 15.0, "rate_rps": 100.0,
           "capacity_rps": 200.0}
    return {"instance": "pred", "objective": {"kind": "max_throughput", "value": 100.0, "bound": 100.0},
            "status": "optimal", "gap": 0.0, "solver": "hand", "solve_seconds": 0.0,
            "gpus": [{"id": 0, "type": "A100-SXM4-80GB", "geometry": ["3g.40gb"],
                      "instances": [{"profile": "3g.40gb", "start": 0, "models": [run]}]}],
            "models": [{"name": "a", "demand_rps": 100.0, "served_rps": 100.0, "capacity_rps": 200.0}]}


def test_a_predicted_point_needs_use_predictions(tmp_path, capsys):
    """3g.40gb at batch 4 is predicted, not measured: simulated when the policy allows predictions, refused
    otherwise; batch 4096 lies outside what is predicted (batches span the measured 1-8) and is refused either
    way."""
    on, off = _predictions_instance(tmp_path, True), _predictions_instance(tmp_path, False)
    assert simulate(tmp_path, capsys, _predicted_plan(4), instance=on)[0] == 0
    refused(tmp_path, capsys, _predicted_plan(4), "gpus[0].instances[0].models[0]",
            "has no point on A100-SXM4-80GB 3g.40gb", "policy.use_predictions is off", instance=off)
    refused(tmp_path, capsys, _predicted_plan(4096), "gpus[0].instances[0].models[0]",
            "batch 4096 with 1 process(es) is not measured or predicted", instance=on)


def test_a_plan_made_for_another_demand(tmp_path, capsys, plan_doc):
    """The plan serves resnet50 for 6,000 requests/s; an instance asking 1 (or 6,000 asked of a plan made for 1)
    is another question."""
    doc = json.loads(DEFAULT.read_text())
    models = [{**m, "demand_rps": 1.0} if m["name"] == "resnet50" else m for m in doc["models"]]
    i = next(i for i, m in enumerate(plan_doc["models"]) if m["name"] == "resnet50")
    refused(tmp_path, capsys, plan_doc, f"models[{i}].demand_rps", "demand of 6000 requests/s of 'resnet50'",
            "the instance asks 1", instance=instance_copy(tmp_path, models=models))


def test_a_model_the_instance_does_not_have(tmp_path, capsys, plan_doc):
    doc = copy.deepcopy(plan_doc)
    doc["gpus"][2]["instances"][0]["models"][0]["name"] = "gpt"
    refused(tmp_path, capsys, doc, "gpus[2].instances[0].models[0].name", "model 'gpt' is not in the instance")


def test_served_rps_of_1e12_is_refused_before_allocating(tmp_path, capsys, plan_doc):
    """1e12 requests/s, consistent with its runs: one simulated second would draw 1e12 requests (14.6 TiB of
    arrival times); refused naming the field, whatever --duration says."""
    doc = copy.deepcopy(plan_doc)
    gi = next(i for i, g in enumerate(doc["gpus"]) if g["geometry"] == ["full"])
    run = doc["gpus"][gi]["instances"][0]["models"][0]
    run["rate_rps"] = 1e12
    retotal(doc)
    i = next(i for i, m in enumerate(doc["models"]) if m["name"] == run["name"])
    refused(tmp_path, capsys, doc, f"models[{i}].served_rps", "one simulated second", "requests the simulator holds")


def test_load_times_duration_is_bounded_by_the_rates_drawn(tmp_path, capsys, plan_doc):
    """16,100 requests/s served: 100 s at load 100 draws about 1.6e8 requests (within the 2e8 limit), 200 s
    about 3.2e8 (refused, naming the model with the largest rate)."""
    total = sum(m["served_rps"] for m in plan_doc["models"])
    top = max(range(len(plan_doc["models"])), key=lambda i: plan_doc["models"][i]["served_rps"])
    assert 100 * 100 * total < 2e8 < 200 * 100 * total
    code, err = simulate(tmp_path, capsys, plan_doc, "--duration", "200", "--load", "100")
    assert code == 2 and f"plan.json: models[{top}].served_rps: " in err and "--duration" in err, err


def test_a_shared_instance_the_policy_does_not_allow(tmp_path, capsys):
    """instances/lowrate.json allows time sharing only: its plan's time-shared instance turned to MPS is
    refused; and with max_models_per_instance lowered to 1, the time-shared instance itself."""
    lowrate = ROOT / "instances" / "lowrate.json"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(io.StringIO()):
        assert main(["solve", str(lowrate), "--json", "--time-limit", "10"]) == 0
    doc = json.loads(buf.getvalue())
    gi, ii = next((gi, ii) for gi, g in enumerate(doc["gpus"]) for ii, i in enumerate(g["instances"])
                  if i["sharing"] == "time")
    mps = copy.deepcopy(doc)
    ins = mps["gpus"][gi]["instances"][ii]
    ins["sharing"] = "mps"
    del ins["cycle_ms"]
    refused(tmp_path, capsys, mps, f"gpus[{gi}].instances[{ii}].sharing", "'mps' is not in policy.sharing_modes",
            instance=lowrate)
    inst = json.loads(lowrate.read_text())
    inst["calibration"] = [str((lowrate.parent / c).resolve()) for c in inst["calibration"]]
    inst["policy"]["max_models_per_instance"] = 1
    one = tmp_path / "lowrate-1.json"
    one.write_text(json.dumps(inst))
    n = len(doc["gpus"][gi]["instances"][ii]["models"])
    refused(tmp_path, capsys, doc, f"gpus[{gi}].instances[{ii}].models", f"{n} models in one instance",
            "policy.max_models_per_instance is 1", instance=one)
