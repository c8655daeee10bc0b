"""Evidence for the verify unit tests: real probe output captured from this platform's
containers (tests/unit/data), plus the host's side as a healthy container shows it."""

from pathlib import Path
from typing import Any

from stockade.spec import ContainerSpec
from stockade.verify.checks import NAMESPACES
from stockade.verify.evaluate import evaluate
from stockade.verify.expect import Expectations, expectations
from stockade.verify.facts import CgroupFacts, HostFacts, ProbeFacts, parse_probe
from stockade.verify.model import Check, Evidence, Status
from tests.hostkit import make_host

DATA = Path(__file__).parent / "data"
DEFAULT_CAPS = "00000000000005fb"
ZERO = "0000000000000000"



def expect(**spec: Any) -> Expectations:
    return expectations(ContainerSpec(handle="fx", **spec), make_host(), 1_000_000)


def probe(name: str = "default") -> ProbeFacts:
    return parse_probe((DATA / f"probe-{name}.tsv").read_text())


def host_facts(facts: ProbeFacts, **changes: Any) -> HostFacts:
    """What the host sees of a healthy default container whose probe printed `facts`."""
    base: dict[str, Any] = dict(
        host_namespaces={k: f"{k}:[4026531800]" for k in NAMESPACES},
        container_namespaces={k: v for k in NAMESPACES if (v := facts.fact(f"ns.{k}"))},
        init_status={"CapInh": ZERO, "CapPrm": ZERO, "CapEff": ZERO, "CapBnd": DEFAULT_CAPS,
                     "CapAmb": ZERO, "NoNewPrivs": "1", "Seccomp": "2",
                     "Seccomp_filters": "1"},
        init_fds=(),
        cgroup=CgroupFacts(version=1, files={
            "memory.limit_in_bytes": "268435456\n",
            "memory.memsw.limit_in_bytes": "268435456\n",
            "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
            "cpu.shares": "32\n", "pids.max": "1024\n"},
            devices_list=tuple(expect().device_rules)),
    )
    return HostFacts(**{**base, **changes})


def evidence(name: str = "default", facts: ProbeFacts | None = None, host: HostFacts | None = None,
             expected: Expectations | None = None) -> Evidence:
    facts = facts or probe(name)
    return Evidence(probe=facts, host=host or host_facts(facts), expect=expected or expect())


def statuses(ev: Evidence) -> dict[str, Status]:
    return {c.id: c.status for c in evaluate(ev)}


def failing(ev: Evidence) -> set[str]:
    return {c.id for c in evaluate(ev) if c.status == Status.FAIL}


def by_id(ev: Evidence, check_id: str) -> Check:
    return next(c for c in evaluate(ev) if c.id == check_id)


def with_attempt(facts: ProbeFacts, name: str, errno: int) -> ProbeFacts:
    """The same probe output with every try of `name` answered by `errno`."""
    changed = tuple(a.model_copy(update={"errno": errno}) if a.name == name else a
                    for a in facts.attempts)
    return facts.model_copy(update={"attempts": changed})


def without(facts: ProbeFacts, name: str) -> ProbeFacts:
    return facts.model_copy(update={"attempts": tuple(a for a in facts.attempts
                                                      if a.name != name)})
