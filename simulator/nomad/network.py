"""Group network ports of an allocation, the environment they give tasks, and Nomad services.

Ports: a group's `network { port "x" { static = N } }` reserves N on the node; `port "x" {}` gets
a dynamic port from the client's range (`min_dynamic_port` 20000 to `max_dynamic_port` 32000), as
the scheduler's NetworkIndex picks them (nomad/structs/network.go). `to` is kept, as Nomad keeps it.
Services: group `service` blocks with `provider = "nomad"` are registered for a live allocation
on its port's host address (nomad/structs/service_registration.go), and gone once it stops.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# Client defaults (client/config: MinDynamicPort, MaxDynamicPort).
DYNAMIC_PORTS = range(20000, 32001)
# Tries before giving up on a dynamic port, as NetworkIndex's getDynamicPortsStochastic (20).
_TRIES = 20


class PortCollision(Exception):
    """The group's ports cannot be had on the node now; the message is the scheduler's."""


@dataclass(frozen=True)
class AllocatedPort:
    """`structs.AllocatedPortMapping`: one label's host port (and the `to` a driver maps to)."""

    label: str
    value: int
    to: int
    host_ip: str

    def to_json(self) -> dict[str, Any]:
        """As in `AllocatedResources.Shared.Ports`."""
        return {"Label": self.label, "Value": self.value, "To": self.to, "HostIP": self.host_ip}


def can_bind(port: int) -> bool:
    """True when `port` is free on this machine, whose interfaces the node shares with others.

    Probed on every interface, so a listener on any address counts: a task may listen on
    0.0.0.0 (rod serve does).
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def allocate_ports(
    networks: Iterable[Mapping[str, Any]],
    used: set[int],
    host_ip: str,
    *,
    bindable: Callable[[int], bool] = can_bind,
    rng: random.Random | None = None,
) -> list[AllocatedPort]:
    """The group's ports on this node, or PortCollision (the placement must wait)."""
    rng = rng or random.Random()
    taken = set(used)
    ports: list[AllocatedPort] = []
    networks = list(networks)
    for network in networks:
        for port in network.get("ReservedPorts") or []:
            value = int(port["Value"])
            if value in taken:
                raise PortCollision(f"reserved port collision {port['Label']}={value}")
            taken.add(value)
            ports.append(AllocatedPort(port["Label"], value, int(port.get("To") or 0), host_ip))
    for network in networks:
        for port in network.get("DynamicPorts") or []:
            for _ in range(_TRIES):
                value = rng.choice(DYNAMIC_PORTS)
                if value not in taken and bindable(value):
                    break
            else:
                raise PortCollision("dynamic port selection failed")
            taken.add(value)
            ports.append(AllocatedPort(port["Label"], value, int(port.get("To") or 0), host_ip))
    return ports


def reserved_ports(networks: Iterable[Mapping[str, Any]]) -> set[int]:
    """The static ports a group asks for."""
    return {int(p["Value"]) for n in networks for p in n.get("ReservedPorts") or []}


def port_env(ports: Iterable[AllocatedPort]) -> dict[str, str]:
    """client/taskenv/env.go `addPorts`: a port with `to` tells the task its `to` port."""
    env: dict[str, str] = {}
    for port in ports:
        address = f"{port.host_ip}:{port.value}"
        inside = str(port.to if port.to > 0 else port.value)
        env.update({
            f"NOMAD_ADDR_{port.label}": address,
            f"NOMAD_HOST_ADDR_{port.label}": address,
            f"NOMAD_IP_{port.label}": port.host_ip,
            f"NOMAD_HOST_IP_{port.label}": port.host_ip,
            f"NOMAD_PORT_{port.label}": inside,
            f"NOMAD_ALLOC_PORT_{port.label}": inside,
            f"NOMAD_HOST_PORT_{port.label}": str(port.value),
        })  # fmt: skip
    return env


@dataclass(frozen=True)
class ServiceOwner:
    """What a registration says about the allocation behind it."""

    alloc_id: str
    namespace: str
    job_id: str
    group: str
    node_id: str
    datacenter: str
    index: int
    ports: tuple[AllocatedPort, ...]


def registrations(
    owner: ServiceOwner, services: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """`structs.ServiceRegistration` for each group service of the `nomad` provider."""
    by_label = {port.label: port for port in owner.ports}
    out = []
    for service in services:
        if service.get("Provider") != "nomad":
            continue  # consul services are Consul's business
        label = str(service.get("PortLabel") or "")
        port = by_label.get(label)
        out.append({
            # structs.MakeAllocServiceID: _nomad-task-<alloc>-group-<group>-<service>-<port>
            "ID": f"_nomad-task-{owner.alloc_id}-group-{owner.group}-{service['Name']}-{label}",
            "ServiceName": service["Name"],
            "Namespace": owner.namespace,
            "NodeID": owner.node_id,
            "Datacenter": owner.datacenter,
            "JobID": owner.job_id,
            "AllocID": owner.alloc_id,
            "Tags": list(service.get("Tags") or []),
            "Address": port.host_ip if port else "",
            "Port": port.value if port else 0,
            "CreateIndex": owner.index,
            "ModifyIndex": owner.index,
        })  # fmt: skip
    return out
