"""The security defaults: a pure compiler from a request to a hardened OCI config."""

from stockade.policy.capabilities import DEFAULT_BOUNDING
from stockade.policy.compile import build_config
from stockade.policy.context import BundleContext, IdMap
from stockade.policy.resources import cpu_quota, cpu_shares_for_memory, effective_cpu_shares

__all__ = [
    "DEFAULT_BOUNDING",
    "BundleContext",
    "IdMap",
    "build_config",
    "cpu_quota",
    "cpu_shares_for_memory",
    "effective_cpu_shares",
]
