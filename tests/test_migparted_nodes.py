"""mig-parted export on a mixed pool (review regression): a node holds one GPU type, indices restart per node."""

from __future__ import annotations

import yaml

from majula_model import load_instance, solve
from majula_model.placer.migparted import nodes_of, to_mig_parted

from conftest import ROOT


def test_each_node_holds_one_gpu_type_and_every_used_gpu_once():
    problem = load_instance(ROOT / "instances" / "vision-nlp.json")
    plan = solve(problem, "min_gpus")
    assert len({g.type for g in plan.gpus}) > 1, "the instance should use both GPU types"
    for per_node in (1, 3, 8):
        nodes = nodes_of(plan, per_node, problem.catalog)
        assert all(len({g.type for g in gs}) == 1 == len({t}) and len(gs) <= per_node for t, gs in nodes)
        assert sorted(g.id for _, gs in nodes for g in gs) == sorted(g.id for g in plan.gpus)
        doc = yaml.safe_load(to_mig_parted(plan, per_node, problem.catalog))
        assert len(doc["mig-configs"]) == len(nodes)
        for (_, gs), entries in zip(nodes, doc["mig-configs"].values()):
            indices = sorted(i for e in entries for i in e["devices"])
            assert indices == list(range(len(gs)))
