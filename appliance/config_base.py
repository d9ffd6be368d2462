"""Shared building blocks of the configuration models: the base model and value types."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
)


def _check_cidr(value: str) -> str:
    try:
        return str(ipaddress.ip_network(str(value), strict=False))
    except ValueError:
        raise ValueError(f"{value!r} is not a network in CIDR form (e.g. 10.0.0.0/8)") from None


Cidr = Annotated[str, BeforeValidator(str), AfterValidator(_check_cidr)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)



def _check_ipv4(value: str) -> str:
    try:
        return str(ipaddress.IPv4Address(str(value)))
    except ValueError:
        raise ValueError(f"{value!r} is not an IPv4 address") from None


def _check_mac(value: str) -> str:
    mac = str(value).strip().lower().replace("-", ":")
    if not re.fullmatch(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}", mac):
        raise ValueError(f"{value!r} is not a MAC address (e.g. 00:25:b3:bf:91:ee)")
    return mac


def _check_ipv4_or_mac(value: str) -> str:
    return _check_mac(value) if ":" in str(value) or "-" in str(value) else _check_ipv4(value)


IPv4 = Annotated[str, BeforeValidator(str), AfterValidator(_check_ipv4)]
Mac = Annotated[str, AfterValidator(_check_mac)]
