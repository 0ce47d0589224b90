"""Helpers for tests that write instance files: a minimal valid instance (``BASE``), a writer, and a mutator that
changes one field by its dotted path (not a test module of its own)."""

from __future__ import annotations

import json


def _write(tmp_path, doc, name="inst.json"):
    p = tmp_path / name
    p.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return p


BASE = {"name": "t", "gpus": [{"type": "A100-SXM4-80GB", "count": 2}],
        "models": [{"name": "m", "slo_ms": 100.0, "demand_rps": 50.0}],
        "measurements": [{"model": "m", "gpu": "A100-SXM4-80GB", "profile": "1g.10gb", "batch": 4,
                          "latency_ms": 20.0}]}


def _mutate(path: str, value):
    doc = json.loads(json.dumps(BASE))
    *parents, last = path.split(".")
    node = doc
    for p in parents:
        node = node[int(p)] if p.isdigit() else node[p]
    if value is KeyError:
        del node[int(last) if last.isdigit() else last]
    else:
        node[int(last) if last.isdigit() else last] = value
    return doc
