"""What a suite reports: rows of medians with their reference, written as JSON."""

import json
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

Status = Literal["ok", "skipped", "failed"]


@dataclass
class Row:
    """One figure: the median of `samples` (in `unit`), and the reference it is set against."""

    metric: str
    unit: str
    value: float | None
    samples: list[float] = field(default_factory=list)
    reference: str = ""
    ref_value: float | None = None
    note: str = ""

    @classmethod
    def of(cls, metric: str, unit: str, samples: list[float], **extra: Any) -> "Row":
        value = statistics.median(samples) if samples else None
        return cls(metric=metric, unit=unit, value=value, samples=list(samples), **extra)

    def against(self, reference: str, ref_value: float | None) -> "Row":
        self.reference, self.ref_value = reference, ref_value
        return self

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.ref_value:
            return None
        return self.value / self.ref_value


@dataclass
class SuiteResult:
    """Everything one suite measured; `series` holds what the plots draw."""

    name: str
    title: str
    status: Status = "ok"
    reason: str = ""
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    series: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    elapsed_s: float = 0.0
    leftovers: list[str] = field(default_factory=list)
    plots: list[str] = field(default_factory=list)

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        return row

    def row(self, metric: str) -> Row | None:
        return next((r for r in self.rows if r.metric == metric), None)

    def to_json(self, machine: dict[str, Any], started_at: str) -> dict[str, Any]:
        data = asdict(self)
        for row, raw in zip(self.rows, data["rows"], strict=True):
            raw["ratio"] = row.ratio
        return {"machine": machine, "started_at": started_at, **data}

    def write(self, directory: Path, machine: dict[str, Any], started_at: str) -> Path:
        path = directory / f"{self.name}.json"
        path.write_text(json.dumps(self.to_json(machine, started_at), indent=1) + "\n")
        return path


def skipped(name: str, title: str, reason: str) -> SuiteResult:
    return SuiteResult(name=name, title=title, status="skipped", reason=reason)


@dataclass(frozen=True)
class Context:
    """What every suite is given: the mode, and which samples sizes it implies."""

    quick: bool

    def rounds(self, full: int, quick: int) -> int:
        return quick if self.quick else full
