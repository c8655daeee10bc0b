"""The public network model: egress rules, security groups, container-to-container policy."""

import hashlib
import ipaddress
import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from stockade.errors import InvalidSpec
from stockade.spec.container import HANDLE_PATTERN
from stockade.spec.ports import MAX_PORT, Interval, format_ports, parse_ports
from stockade.spec.validation import first_error

GROUP_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}$"
MAX_RULES = 100_000


def _address(text: str) -> int:
    try:
        return int(ipaddress.IPv4Address(text.strip()))
    except ValueError as exc:
        raise InvalidSpec(f"{text.strip()!r} is not an IPv4 address") from exc


def parse_destination(text: str) -> Interval:
    """A CIDR (10.0.0.0/8), a range (10.0.0.1-10.0.0.9) or one address, as integers."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidSpec("a destination must be a CIDR, an A-B range or an address")
    text = text.strip()
    if "-" in text:
        first, _, last = text.partition("-")
        low, high = _address(first), _address(last)
        if low > high:
            raise InvalidSpec(f"destination range {text!r} ends before it starts")
        return low, high
    if "/" in text:
        try:
            net = ipaddress.IPv4Network(text, strict=True)
        except ValueError as exc:
            raise InvalidSpec(f"malformed CIDR {text!r}: {exc}") from exc
        return int(net.network_address), int(net.broadcast_address)
    value = _address(text)
    return value, value


def format_destination(interval: Interval) -> str:
    low, high = interval
    if low == high:
        return str(ipaddress.IPv4Address(low))
    nets = list(ipaddress.summarize_address_range(ipaddress.IPv4Address(low),
                                                  ipaddress.IPv4Address(high)))
    if len(nets) == 1:
        return str(nets[0])
    return f"{ipaddress.IPv4Address(low)}-{ipaddress.IPv4Address(high)}"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EgressRule(_Model):
    """One allowance: protocol, destinations, and ports or ICMP type/code."""

    protocol: Literal["tcp", "udp", "icmp", "all"]
    destinations: list[str] = Field(min_length=1)
    ports: str | None = None
    icmp_type: int | None = Field(default=None, ge=0, le=255)
    icmp_code: int | None = Field(default=None, ge=0, le=255)
    log: bool = False
    description: str = Field(default="", max_length=200)

    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, data: Any) -> Any:
        """Accept `destination: "a,b"` (the platform we learn from) as well as a list."""
        if isinstance(data, dict) and "destination" in data:
            data = dict(data)
            if "destinations" in data:
                raise ValueError("give destination or destinations, not both")
            data["destinations"] = data.pop("destination")
        if isinstance(data, dict) and isinstance(data.get("destinations"), str):
            data = {**data, "destinations": data["destinations"].split(",")}
        return data

    @field_validator("destinations")
    @classmethod
    def _destinations(cls, value: list[str]) -> list[str]:
        return [format_destination(parse_destination(item)) for item in value]

    @field_validator("ports")
    @classmethod
    def _ports(cls, value: str | None) -> str | None:
        return None if value is None else format_ports(parse_ports(value))

    @model_validator(mode="after")
    def _fields_fit_protocol(self) -> "EgressRule":
        if self.ports is not None and self.protocol not in ("tcp", "udp"):
            raise ValueError(f"ports apply only to tcp and udp, not {self.protocol}")
        icmp = self.icmp_type is not None or self.icmp_code is not None
        if icmp and self.protocol != "icmp":
            raise ValueError(f"ICMP type and code apply only to icmp, not {self.protocol}")
        if self.icmp_code is not None and self.icmp_type is None:
            raise ValueError("an ICMP code needs an ICMP type")
        return self

    def destination_intervals(self) -> tuple[Interval, ...]:
        return tuple(parse_destination(d) for d in self.destinations)

    def port_intervals(self) -> tuple[Interval, ...]:
        """Every port when none are given."""
        return parse_ports(self.ports) if self.ports else ((1, MAX_PORT),)

    def icmp_intervals(self) -> tuple[Interval, Interval]:
        """(type range, code range); absent means any."""
        types = (self.icmp_type, self.icmp_type) if self.icmp_type is not None else (0, 255)
        codes = (self.icmp_code, self.icmp_code) if self.icmp_code is not None else (0, 255)
        return types, codes


GroupName = Annotated[str, Field(pattern=GROUP_NAME_PATTERN)]


class SecurityGroup(_Model):
    """A named list of egress allowances, bound to every container or to some."""

    name: GroupName
    rules: list[EgressRule] = Field(default=[], max_length=MAX_RULES)

    @property
    def digest(self) -> str:
        """Changes whenever the rules do; lets the network layer skip re-installs."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]


class NetworkPolicy(_Model):
    """Allows `source` to open connections to `destination` on one port, one way."""

    source: Annotated[str, Field(pattern=HANDLE_PATTERN)]
    destination: Annotated[str, Field(pattern=HANDLE_PATTERN)]
    protocol: Literal["tcp", "udp"] = "tcp"
    port: int = Field(ge=1, le=MAX_PORT)


def parse_rules(text: str) -> list[EgressRule]:
    """A rules file: a JSON list of rules, or an object with a `rules` list."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InvalidSpec(f"rules file is not valid JSON: {exc}") from exc
    if isinstance(data, dict) and set(data) == {"rules"}:
        data = data["rules"]
    if not isinstance(data, list):
        raise InvalidSpec("rules file must hold a JSON list of rules (or {\"rules\": [...]})")
    if len(data) > MAX_RULES:
        raise InvalidSpec(f"rules file holds {len(data)} rules; the limit is {MAX_RULES}")
    rules = []
    for index, item in enumerate(data):
        try:
            rules.append(EgressRule.model_validate(item))
        except (ValidationError, InvalidSpec) as exc:
            raise InvalidSpec(f"rule {index + 1}: {_first_error(exc)}") from exc
    return rules


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return first_error(exc.errors())
    return str(exc)
