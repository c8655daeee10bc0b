"""Security groups and container-to-container policies: each change is audited as a
security event, because it opens or closes paths out of containers."""

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from stockade.api.routes.deps import ActorDep, AdminOnly, DaemonDep
from stockade.errors import InvalidSpec
from stockade.spec import NetworkPolicy, SecurityGroup
from stockade.wire.models import BindingRequest, GroupRequest, GroupRules, GroupSummary

router = APIRouter(prefix="/v1", tags=["network"])
Name = Annotated[str, Path(min_length=1, max_length=63)]


def _target(request: BindingRequest) -> str | None:
    if request.default == (request.container is not None):
        raise InvalidSpec("give exactly one of container or default")
    return request.container


@router.get("/security-groups")
def list_groups(daemon: DaemonDep) -> list[GroupSummary]:
    return [GroupSummary.model_validate(item) for item in daemon.engine.net.list_groups()]


@router.post("/security-groups", status_code=status.HTTP_201_CREATED,
              dependencies=[AdminOnly])
def create_group(request: GroupRequest, daemon: DaemonDep, who: ActorDep) -> SecurityGroup:
    group = daemon.engine.net.create_group(request.name, request.rules)
    daemon.security("security group created", request.name, {"rules": len(request.rules)}, who)
    return group


@router.get("/security-groups/{name}")
def show_group(name: Name, daemon: DaemonDep) -> SecurityGroup:
    return daemon.engine.net.show_group(name)


@router.put("/security-groups/{name}", dependencies=[AdminOnly])
def update_group(name: Name, request: GroupRules, daemon: DaemonDep,
                 who: ActorDep) -> SecurityGroup:
    group = daemon.engine.net.update_group(name, request.rules)
    daemon.security("security group updated", name, {"rules": len(request.rules)}, who)
    return group


@router.delete("/security-groups/{name}", status_code=status.HTTP_204_NO_CONTENT,
              dependencies=[AdminOnly])
def remove_group(name: Name, daemon: DaemonDep, who: ActorDep) -> Response:
    daemon.engine.net.remove_group(name)
    daemon.security("security group removed", name, None, who)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/security-groups/{name}/bind", status_code=status.HTTP_204_NO_CONTENT,
              dependencies=[AdminOnly])
def bind(name: Name, request: BindingRequest, daemon: DaemonDep, who: ActorDep) -> Response:
    daemon.engine.net.bind(name, _target(request))
    daemon.security("security group bound", name, request.model_dump(), who)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/security-groups/{name}/unbind", status_code=status.HTTP_204_NO_CONTENT,
              dependencies=[AdminOnly])
def unbind(name: Name, request: BindingRequest, daemon: DaemonDep, who: ActorDep) -> Response:
    daemon.engine.net.unbind(name, _target(request))
    daemon.security("security group unbound", name, request.model_dump(), who)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/network-policies")
def list_policies(daemon: DaemonDep) -> list[NetworkPolicy]:
    return daemon.engine.net.policies()


@router.post("/network-policies", status_code=status.HTTP_204_NO_CONTENT,
              dependencies=[AdminOnly])
def allow(policy: NetworkPolicy, daemon: DaemonDep, who: ActorDep) -> Response:
    daemon.engine.net.allow(policy)
    daemon.security("network policy allowed", policy.source, policy.model_dump(), who)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/network-policies/deny", status_code=status.HTTP_204_NO_CONTENT,
              dependencies=[AdminOnly])
def deny(policy: NetworkPolicy, daemon: DaemonDep, who: ActorDep) -> Response:
    daemon.engine.net.deny(policy)
    daemon.security("network policy removed", policy.source, policy.model_dump(), who)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
