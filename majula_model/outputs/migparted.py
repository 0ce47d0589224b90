"""Export a plan as an NVIDIA mig-parted config (``api/spec/v1``), docs/ecosystem.md (ecosystem rules).

mig-parted rejects any key it does not know, so the file holds only ``version: v1`` and ``mig-configs``; each
named config is a list of entries with ``devices`` (NVML indices on that node), ``mig-enabled`` and, for MIG
GPUs, ``mig-devices`` (profile -> positive count). Provenance goes in ``#`` comments. GPUs are grouped into
nodes by type (a node holds one GPU type), ``gpus_per_node`` at a time in plan id order; a GPU's NVML index is
its position in its node, and a comment maps every node to its plan ids. One config per node,
named ``<instance>-node<k>``, to apply with ``nvidia-mig-parted apply -c NAME`` or the node label
``nvidia.com/mig.config``. mig-parted holds counts, not placements, and tries creation orders itself; every
exported multiset comes from a decoded plan, so it has a valid placement. Devices used whole by a type without
MIG (e.g. ``cpu``) are not GPUs mig-parted knows and are only listed in a comment.

The YAML is written by hand (not by a YAML library) so that the output is byte-for-byte deterministic and
comments sit where a reader expects them.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict

from ..hardware.catalog import FULL, Catalog
from ..schema import Plan


def config_name(instance: str, node: int) -> str:
    """A config name safe for a Kubernetes label value (``nvidia.com/mig.config``)."""
    base = re.sub(r"[^A-Za-z0-9_.-]", "-", instance).strip("-_.") or "plan"
    return f"{base[:50]}-node{node}"


def _entries(devices: list[tuple[int, tuple[str, ...]]]) -> list[str]:
    """YAML lines of one node's entries: one per distinct geometry, devices in index order."""
    groups: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for index, geometry in devices:
        groups[geometry].append(index)
    lines = []
    for geometry, idx in sorted(groups.items(), key=lambda kv: kv[1][0]):
        lines.append(f"    - devices: [{', '.join(map(str, idx))}]")
        if geometry == (FULL,):
            lines.append("      mig-enabled: false")
            continue
        lines.append("      mig-enabled: true")
        counts = Counter(geometry)
        lines.append("      mig-devices:")
        lines += [f'        "{p}": {counts[p]}' for p in sorted(counts)]
    return lines


def nodes_of(plan: Plan, gpus_per_node: int, catalog: Catalog) -> list[tuple[str, list]]:
    """(GPU type, the node's PlanGpus) per node: one type per node (a real node holds one kind of GPU),
    ``gpus_per_node`` GPUs at most, in plan id order. Devices without MIG (e.g. ``cpu``) are left out."""
    by_type: dict[str, list] = defaultdict(list)
    for g in plan.gpus:
        if catalog.get(g.type).mig:
            by_type[g.type].append(g)
    return [(t, gs[i:i + gpus_per_node]) for t, gs in by_type.items() for i in range(0, len(gs), gpus_per_node)]


def replan_nodes(plan: Plan, previous: Plan, gpus_per_node: int, catalog: Catalog) -> list[tuple[int, str, list]]:
    """Every node of a re-plan (``solve --from``, docs/replan.md): (node number, type, the new plan's GPUs there
    with their NVML index). The previous plan's nodes stay what they were (same GPUs, same indices, released GPUs
    left out, a node all released dropped); added GPUs fill new nodes numbered after them."""
    new = {g.id: g for g in plan.gpus}
    old_nodes = nodes_of(previous, gpus_per_node, catalog)
    out = [(k, gtype, [(i, new[g.id]) for i, g in enumerate(gpus) if g.id in new])
           for k, (gtype, gpus) in enumerate(old_nodes)]
    old_ids = {g.id for g in previous.gpus}
    extra = plan.model_copy(update={"gpus": tuple(g for g in plan.gpus if g.id not in old_ids)})
    out += [(len(old_nodes) + j, gtype, list(enumerate(gpus)))
            for j, (gtype, gpus) in enumerate(nodes_of(extra, gpus_per_node, catalog))]
    return [n for n in out if n[2]]


def changed_nodes(plan: Plan, previous: Plan, gpus_per_node: int, catalog: Catalog) -> list[tuple[int, str, list]]:
    """The nodes of ``replan_nodes`` that change: one of their GPUs is reconfigured or added."""
    changes = plan.changes
    redo = set(changes.reconfigured) | set(changes.added) if changes else {g.id for g in plan.gpus}
    return [n for n in replan_nodes(plan, previous, gpus_per_node, catalog) if any(g.id in redo for _, g in n[2])]


def to_mig_parted(plan: Plan, gpus_per_node: int, catalog: Catalog, previous: Plan | None = None,
                  only_changed: bool = True) -> str:
    """The mig-parted YAML for ``plan`` (a string ending in a newline). With ``previous`` (the plan it re-plans),
    its nodes: only those that change (``changed_nodes``), or all of them (``only_changed=False``: the GPU
    operator's ConfigMap must name every node's config)."""
    if previous is not None:
        numbered = (changed_nodes if only_changed else replan_nodes)(plan, previous, gpus_per_node, catalog)
    else:
        numbered = [(k, t, list(enumerate(gs))) for k, (t, gs) in enumerate(nodes_of(plan, gpus_per_node, catalog))]
    skipped = [g.id for g in plan.gpus if not catalog.get(g.type).mig]
    lines = [
        f"# mig-parted config written by majula solve for instance {json.dumps(plan.instance)}",
        f"# objective {plan.objective.kind} = {plan.objective.value}, status {plan.status}, solver {plan.solver}",
        f"# one GPU type per node, up to {gpus_per_node} GPUs; NVML index = position in the node",
    ]
    if skipped:
        lines.append(f"# devices without MIG left out (plan ids): {', '.join(map(str, skipped))}")
    if previous is not None:
        lines.append("# re-plan: only the nodes with a reconfigured or added GPU; the others stay as they are"
                     if only_changed else "# re-plan: every node, numbered as in the running plan")
    lines += ["version: v1", "mig-configs:" + ("" if numbered else " {}")]
    for k, gtype, gpus in numbered:
        lines.append(f"  # node {k}: {len(gpus)} x {gtype}, plan GPU ids {', '.join(str(g.id) for _, g in gpus)}")
        lines.append(f"  {config_name(plan.instance, k)}:")
        lines += _entries([(i, tuple(g.geometry)) for i, g in gpus])
    return "\n".join(lines) + "\n"
