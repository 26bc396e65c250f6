"""Model registry: ``@register_model(name)`` factories ``fn(spec: ModelSpec, info: DatasetInfo) -> SpikingNet``."""

from __future__ import annotations

from snnbench.registry import Registry

MODELS: Registry = Registry("model")


def register_model(name: str, **meta):
    return MODELS.register(name, **meta)


def create_model(spec, info):
    """Build the network named by ``spec.name`` for dataset ``info``."""
    return MODELS.get(spec.name)(spec, info)
