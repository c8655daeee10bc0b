"""`GET /v1/info`'s model (wire/system.py) against what the engine and the daemon put in
it: the wire cannot import the server, so its copy of the host's and the quota's fields is
checked here, field for field, and a real answer must come back whole through it."""

from pathlib import Path
from types import SimpleNamespace

from pydantic import BaseModel

from stockade.engine.engine import Engine
from stockade.host import HostFeatures, probe
from stockade.host.features import Mechanism as HostMechanism
from stockade.volumes.manager import Volumes
from stockade.volumes.probe import Candidate, QuotaChoice, choose
from stockade.wire import system
from stockade.wire.models import EventOut


def _fields(model: type[BaseModel]) -> dict[str, str]:
    return {name: str(field.annotation).replace("stockade.host.features.", "")
            .replace("stockade.wire.system.", "") for name, field in model.model_fields.items()}


def test_the_wire_copies_match_the_server_models() -> None:
    assert _fields(system.HostFacts) == _fields(HostFeatures)
    assert _fields(system.Mechanism) == _fields(HostMechanism)
    assert set(system.QuotaCandidate.model_fields) == set(Candidate.model_fields)
    assert set(system.Quota.model_fields) == set(QuotaChoice.model_fields) | {"store_bytes"}
    assert system.Event is EventOut


def test_a_real_answer_comes_back_whole(tmp_path: Path) -> None:
    host = probe()
    volumes = SimpleNamespace(choice=choose(tmp_path),
                              config=SimpleNamespace(store_bytes=1 << 30))
    engine = SimpleNamespace(host=host, config=SimpleNamespace(root=tmp_path, id_base=1 << 20),
                             volumes=SimpleNamespace(
                                 describe=lambda: Volumes.describe(volumes)))  # type: ignore[arg-type]
    answer = Engine.info(engine) | {  # type: ignore[arg-type]
        "network_log": "recording", "audit_log": "/var/lib/stockade/audit.log",
        "landlock_events": HostMechanism(available=False, detail="not started").model_dump(),
        "host_baseline": "host baseline 10/12 passed"}  # what the route adds
    typed = system.SystemInfo.model_validate(answer)
    assert typed.model_dump(mode="json") == answer  # nothing dropped, nothing changed
    assert typed.host.kernel == host.kernel and typed.quota.store_bytes == 1 << 30
