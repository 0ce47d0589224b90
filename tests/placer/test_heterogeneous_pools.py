"""Mixed GPU pools (review regressions): mig-parted nodes hold one GPU type; every baseline uses every pool."""

from __future__ import annotations

import yaml

from majula_model import load_instance, solve
from majula_model.outputs.migparted import nodes_of, to_mig_parted

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


def test_baselines_use_every_pool_of_a_mixed_instance():
    """Review regression: on vision-nlp (demand needs both A100 and H100 pools) every baseline used to be
    'infeasible'; now each answers, none beats the ILP, and homogeneous keeps one geometry per type."""
    from collections import Counter, defaultdict

    from majula_model import place

    from majula_model import baseline
    from majula_model.placer import count_gpus

    problem = load_instance(ROOT / "instances" / "vision-nlp.json")
    ilp = count_gpus(problem, solve(problem, "min_gpus")).cost
    for name in ("whole_gpu", "homogeneous", "greedy"):
        plan = baseline(problem, name)
        count = count_gpus(problem, plan)
        assert count.cost >= ilp - 1e-9, name
        assert all(count[g.type] <= g.count for g in problem.instance.gpus if g.type in count), name
        served = {m.name: m.served_rps for m in plan.models}
        assert all(served[m.name] >= m.demand_rps * (1 - 1e-9) for m in problem.instance.models), name
        if name == "homogeneous":
            # decode drops idle instances, so the GPUs of a type must all fit inside ONE geometry: the largest
            # count of each profile over them must still be placeable on a single GPU
            most: dict[str, Counter] = defaultdict(Counter)
            for g in plan.gpus:
                most[g.type] |= Counter(i.profile for i in g.instances)
            for t, c in most.items():
                if "full" in c:
                    assert set(c) == {"full"}, (t, c)
                else:
                    assert place(problem.catalog.get(t), list(c.elements())) is not None, (t, c)
