"""Model registry: a name -> a module with random weights on a device, in a dtype, and an input maker.

Why random weights: latency does not depend on weight values, and a calibration run must not download anything.
Names come from four sources, tried only when their package is importable: the project's built-in models
(always), torchvision, timm and transformers (a BERT-base encoder built from its config). Asking for a name that
is unknown, or whose package is missing, is an InputError listing what is available and what needs which package.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any, Callable

from majula_model.errors import InputError

DTYPES = ("fp32", "fp16", "bf16")


@dataclass(frozen=True)
class ModelSpec:
    """Where a model comes from and what one sample of its input looks like."""

    name: str
    package: str          # "builtin", "torchvision", "timm" or "transformers"
    input_kind: str       # "image" (float C,H,W), "vector" (float N) or "tokens" (int64 sequence length)
    sample_shape: tuple[int, ...]


_IMG = (3, 224, 224)
_IMG299 = (3, 299, 299)
SPECS: dict[str, ModelSpec] = {s.name: s for s in [
    ModelSpec("cnn", "builtin", "image", _IMG),
    ModelSpec("mlp", "builtin", "vector", (1024,)),
    ModelSpec("tiny_encoder", "builtin", "tokens", (128,)),
    *(ModelSpec(n, "torchvision", "image", _IMG) for n in (
        "resnet50", "mobilenet_v2", "mobilenet_v3_large", "densenet121", "efficientnet_b0", "vgg16", "vit_b_16")),
    ModelSpec("inception_v3", "torchvision", "image", _IMG299),
    ModelSpec("xception", "timm", "image", _IMG299),
    ModelSpec("inception_v4", "timm", "image", _IMG299),
    ModelSpec("nasnetalarge", "timm", "image", (3, 331, 331)),
    ModelSpec("bert_base", "transformers", "tokens", (128,)),
]}


def package_available(package: str) -> bool:
    """True when the package a model comes from can be imported (built-ins need torch only)."""
    return package == "builtin" or importlib.util.find_spec(package) is not None


def available_models() -> list[str]:
    """Names that can be built here, in registry order."""
    return [n for n, s in SPECS.items() if package_available(s.package)]


def check_names(names: list[str]) -> None:
    """InputError for the first name that is unknown or whose package is missing, saying what is available."""
    for name in names:
        spec = SPECS.get(name)
        if spec is not None and package_available(spec.package):
            continue
        missing = {}
        for s in SPECS.values():
            if not package_available(s.package):
                missing.setdefault(s.package, []).append(s.name)
        need = "; ".join(f"{pkg}: {', '.join(ns)}" for pkg, ns in missing.items()) or "none"
        why = f"unknown model '{name}'" if spec is None else f"model '{name}' needs the '{spec.package}' package"
        raise InputError(f"{why} (available: {', '.join(available_models())}; "
                         f"need a package: {need})", field="--models")


def torch_dtype(name: str) -> Any:
    """The torch dtype for 'fp32' / 'fp16' / 'bf16'."""
    import torch

    table = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
    if name not in table:
        raise InputError(f"unknown dtype '{name}' (choose from {', '.join(DTYPES)})", field="--dtype")
    return table[name]


def _construct(spec: ModelSpec, shape: tuple[int, ...]) -> Any:
    """A freshly initialised module (random weights, nothing downloaded); the MLP's width follows its input."""
    if spec.package == "builtin":
        from . import builtin

        if spec.name == "mlp":
            return builtin.MLP(in_features=shape[-1])
        return {"cnn": builtin.SmallCNN, "tiny_encoder": builtin.TinyEncoder}[spec.name]()
    if spec.package == "torchvision":
        import torchvision

        extra = {"init_weights": False} if spec.name == "inception_v3" else {}
        return torchvision.models.get_model(spec.name, weights=None, **extra)
    if spec.package == "timm":
        import timm

        return timm.create_model(spec.name, pretrained=False)
    import transformers

    return transformers.BertModel(transformers.BertConfig())


@dataclass
class LoadedModel:
    """A module ready to run, and a function making a batch of inputs for it."""

    name: str
    module: Any
    make_input: Callable[[int], Any]


def load(name: str, *, device: str = "cpu", dtype: str = "fp32",
         sample_shape: tuple[int, ...] | None = None) -> LoadedModel:
    """Build ``name`` in eval mode on ``device`` in ``dtype``; ``sample_shape`` overrides one sample's shape."""
    import torch

    check_names([name])
    spec = SPECS[name]
    shape = tuple(sample_shape) if sample_shape else spec.sample_shape
    tdt = torch_dtype(dtype)
    module = _construct(spec, shape).eval().to(device=device, dtype=tdt)

    def make_input(batch: int) -> Any:
        if spec.input_kind == "tokens":
            return torch.randint(0, 1000, (batch, *shape), device=device, dtype=torch.long)
        return torch.randn((batch, *shape), device=device, dtype=tdt)

    return LoadedModel(name, module, make_input)
