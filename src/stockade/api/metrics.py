"""Prometheus metrics: one registry per daemon, container gauges read at scrape time."""

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from stockade.engine import Engine

_LATENCY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30)


class _Containers(Collector):
    """Reads cgroups, quotas and veth counters when Prometheus asks, not in between."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        infos = self.engine.list()
        count = GaugeMetricFamily("stockade_containers", "Containers by state",
                                  labels=["state"])
        for state in ("creating", "created", "running", "stopped"):
            count.add_metric([state], sum(1 for i in infos if i.state == state))
        yield count
        families = {
            "memory_bytes": GaugeMetricFamily(
                "stockade_container_memory_bytes", "Memory in use", labels=["handle"]),
            "memory_limit_bytes": GaugeMetricFamily(
                "stockade_container_memory_limit_bytes", "Memory limit", labels=["handle"]),
            "cpu_seconds": GaugeMetricFamily(
                "stockade_container_cpu_seconds", "CPU time used", labels=["handle"]),
            "disk_used_bytes": GaugeMetricFamily(
                "stockade_container_disk_used_bytes", "Writable layer in use",
                labels=["handle"]),
            "disk_limit_bytes": GaugeMetricFamily(
                "stockade_container_disk_limit_bytes", "Writable layer quota",
                labels=["handle"]),
            "network_tx_bytes": GaugeMetricFamily(
                "stockade_container_network_tx_bytes", "Bytes sent", labels=["handle"]),
            "network_rx_bytes": GaugeMetricFamily(
                "stockade_container_network_rx_bytes", "Bytes received", labels=["handle"]),
        }
        for info in infos:
            try:
                reading = self.engine.metrics(info.handle).model_dump()
            except Exception:  # destroyed between list and read: skip it
                continue
            for field, family in families.items():
                if reading[field] is not None:
                    family.add_metric([info.handle], float(reading[field]))
        yield from families.values()


class Metrics:
    def __init__(self, engine: Engine) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(_Containers(engine))
        self.create_seconds = Histogram(
            "stockade_create_seconds", "Container create latency", registry=self.registry,
            buckets=_LATENCY_BUCKETS)
        self.destroy_seconds = Histogram(
            "stockade_destroy_seconds", "Container destroy latency", registry=self.registry,
            buckets=_LATENCY_BUCKETS)

    def render(self) -> bytes:
        return generate_latest(self.registry)
