# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Docker bridge networks on a named Linux bridge, with a fixed gateway and the containers' router.

The shape is the seed's command::

    docker network create --driver bridge --subnet 10.199.45.0/24 --gateway 10.199.45.200 \\
        -o com.docker.network.bridge.name=br-oak --aux-address DefaultGatewayIPv4=10.199.45.1 oak-net

Docker assigns ``--gateway`` to the bridge device on the host (it is the host's own address on the
bridge); the containers' default route is the auxiliary address ``DefaultGatewayIPv4``. So the two
must differ, and both must sit inside the subnet.

:func:`wanted_network` validates and normalises the user's settings, :func:`network_view` turns a
``docker network inspect`` into the same shape, and :class:`BridgeNetworkManager` finds the
differences, notes them and the steps in a ``ChangeRecord``, and applies them through a Docker SDK
``APIClient``. Nothing here imports Ansible.
"""

from __future__ import annotations

import ipaddress
import re

from ansible_collections.pptv.dcos.plugins.module_utils import _validate
from ansible_collections.pptv.dcos.plugins.module_utils._diff import ChangeRecord
from ansible_collections.pptv.dcos.plugins.module_utils._docker_connection import ENGINE_ERRORS, api_error_text
from ansible_collections.pptv.dcos.plugins.module_utils._errors import DcosError

BRIDGE_NAME_OPTION = "com.docker.network.bridge.name"
DEFAULT_GATEWAY_AUX = "DefaultGatewayIPv4"
BRIDGE_NAME_MAX = 15  # IFNAMSIZ - 1
# The kernel refuses '/', ':' and whitespace in an interface name (dev_valid_name), and '.'/'..'.
BRIDGE_NAME_RE = re.compile(r"(?!\.\.?$)[A-Za-z0-9_.-]+")
BRIDGE_NAME_RULE = f"1 to {BRIDGE_NAME_MAX} characters among letters, digits, '_', '.' and '-' (not '.' or '..')"
# Docker's rule for object names (containers, and here networks): no '/', no whitespace.
NETWORK_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
NETWORK_NAME_RULE = "letters, digits, '_', '.' and '-', starting with a letter or digit"

# The settings compared between the task and the network, in diff order.
COMPARED_KEYS = (
    "subnet",
    "gateway",
    "ip_range",
    "aux_addresses",
    "ipv6_subnet",
    "ipv6_gateway",
    "bridge_name",
    "driver_options",
    "internal",
    "enable_ipv6",
    "labels",
)
# Dicts compared as a subset: keys the task does not name are left alone.
SUBSET_KEYS = ("driver_options", "labels")


def _network(option, value, version):
    try:
        net = ipaddress.ip_network(str(value), strict=True)
    except ValueError as exc:
        raise DcosError(f'{option}: "{value}" is not a valid CIDR ({exc})') from exc
    if net.version != version:
        raise DcosError(f'{option}: "{value}" is not an IPv{version} CIDR')
    return net


def _address(option, value, subnet, subnet_option):
    try:
        addr = ipaddress.ip_address(str(value))
    except ValueError as exc:
        raise DcosError(f'{option}: "{value}" is not a valid IP address') from exc
    if subnet is None or addr not in subnet:
        raise DcosError(f"{option}: {addr} is outside {subnet_option} {subnet}")
    if subnet.version == 4 and subnet.prefixlen < 31 and addr in (subnet.network_address, subnet.broadcast_address):
        raise DcosError(f"{option}: {addr} is the network or broadcast address of {subnet_option} {subnet}")
    return addr


def docker_string(value):
    """Docker's spelling of an option value (Go wants ``true``/``false``, not Python's)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def check_network_name(name):
    """The network's name, matched in full (a newline or a '/' is refused)."""
    return _validate.name(name, "name", NETWORK_NAME_RE, NETWORK_NAME_RULE)


def string_map(option, mapping):
    """Labels or driver options as Docker keeps them: string keys, and each value a string (numbers
    and booleans are spelled as Docker spells them). A nested value (a dict, a list) or a null is
    refused naming its key: it would otherwise be stored as Python text (``{'a': 1}``, ``None``)."""
    if not isinstance(mapping, dict):
        raise DcosError(f"{option}: must be a mapping of names to strings, got {type(mapping).__name__}")
    result = {}
    for raw_key, value in mapping.items():
        if isinstance(raw_key, bool) or not isinstance(raw_key, (str, int)):
            raise DcosError(f"{option}: keys must be strings, got {raw_key!r}")
        key = _validate.printable(str(raw_key), f"{option} key")
        if value is None or not isinstance(value, (str, int, float, bool)):
            kind = "null" if value is None else type(value).__name__
            raise DcosError(f"{option}.{key}: must be a string, a number or a boolean, got a {kind}")
        result[key] = docker_string(value)
    return result


def wanted_network(params):
    """Validate the task's settings and return them normalised, keyed like :func:`network_view`.

    Only the settings the task gives are in the result (unset means "leave as it is"), except
    ``aux_addresses``, which holds ``default_gateway`` and ``aux_addresses`` merged.
    Raises :class:`DcosError` naming the option at fault; nothing has been sent to Docker then.
    """
    check_network_name(params.get("name"))
    wanted = {}
    subnet, ipv6_subnet = _wanted_segments(params, wanted)
    gateway = _wanted_gateways(params, wanted, subnet, ipv6_subnet)
    _wanted_aux(params, wanted, subnet, ipv6_subnet, gateway)
    _wanted_driver(params, wanted)
    if params.get("labels") is not None:
        wanted["labels"] = string_map("labels", params["labels"])
    return wanted


def _wanted_segments(params, wanted):
    subnet = ipv6_subnet = None
    if params.get("subnet") is not None:
        subnet = _network("subnet", params["subnet"], 4)
        wanted["subnet"] = str(subnet)
    enable_ipv6 = params.get("enable_ipv6")
    if params.get("ipv6_subnet") is not None:
        if enable_ipv6 is False:
            raise DcosError("ipv6_subnet: given while enable_ipv6 is false")
        ipv6_subnet = _network("ipv6_subnet", params["ipv6_subnet"], 6)
        wanted["ipv6_subnet"] = str(ipv6_subnet)
        enable_ipv6 = True
    elif enable_ipv6:
        raise DcosError("enable_ipv6: needs ipv6_subnet (the IPv6 segment of the network)")
    if enable_ipv6 is not None:
        wanted["enable_ipv6"] = bool(enable_ipv6)
    if params.get("ip_range") is not None:
        ip_range = _network("ip_range", params["ip_range"], 4)
        if subnet is None or not ip_range.subnet_of(subnet):
            raise DcosError(f"ip_range: {ip_range} is not inside subnet {subnet}")
        wanted["ip_range"] = str(ip_range)
    return subnet, ipv6_subnet


def _wanted_gateways(params, wanted, subnet, ipv6_subnet):
    gateway = None
    if params.get("gateway") is not None:
        gateway = _address("gateway", params["gateway"], subnet, "subnet")
        wanted["gateway"] = str(gateway)
    if params.get("ipv6_gateway") is not None:
        wanted["ipv6_gateway"] = str(_address("ipv6_gateway", params["ipv6_gateway"], ipv6_subnet, "ipv6_subnet"))
    return gateway


def _wanted_aux(params, wanted, subnet, ipv6_subnet, gateway):
    aux = {}
    for raw_key, value in (params.get("aux_addresses") or {}).items():
        key = _validate.printable(str(raw_key), "aux_addresses key")
        if not isinstance(value, str):
            raise DcosError(f"aux_addresses.{key}: must be an IP address, got {value!r}")
        text = value
        if ":" in text:
            aux[str(key)] = str(_address(f"aux_addresses.{key}", text, ipv6_subnet, "ipv6_subnet"))
        else:
            aux[str(key)] = str(_address(f"aux_addresses.{key}", text, subnet, "subnet"))
    default_gateway = params.get("default_gateway")
    if default_gateway is not None:
        aux[DEFAULT_GATEWAY_AUX] = _wanted_router(default_gateway, subnet, gateway, aux)
    for key, value in aux.items():
        if gateway is not None and value == str(gateway):
            raise DcosError(f"aux_addresses.{key}: {value} is the gateway (the bridge's own address)")
    if aux or params.get("aux_addresses") is not None:
        wanted["aux_addresses"] = aux
    if params.get("internal") is not None:
        wanted["internal"] = bool(params["internal"])
        if wanted["internal"] and DEFAULT_GATEWAY_AUX in aux:
            raise DcosError("default_gateway: Docker refuses a default gateway on an internal network")


def _wanted_router(default_gateway, subnet, gateway, aux):
    router = _address("default_gateway", default_gateway, subnet, "subnet")
    if gateway is None:
        raise DcosError(
            "default_gateway: needs gateway (the host's own address on the bridge; "
            "without it Docker takes the first address of the subnet for the bridge)"
        )
    if router == gateway:
        raise DcosError(
            f"gateway and default_gateway are both {router}: gateway is the host's own address on "
            "the bridge (Docker assigns it to the bridge device), default_gateway is the router the "
            "containers route through; they must differ"
        )
    if DEFAULT_GATEWAY_AUX in aux and aux[DEFAULT_GATEWAY_AUX] != str(router):
        raise DcosError(
            f"aux_addresses.{DEFAULT_GATEWAY_AUX} ({aux[DEFAULT_GATEWAY_AUX]}) differs from "
            f"default_gateway ({router}); give one of them"
        )
    return str(router)


def _wanted_driver(params, wanted):
    driver_options = string_map("driver_options", params.get("driver_options") or {})
    bridge_name, option = params.get("bridge_name"), "bridge_name"
    if bridge_name is None and BRIDGE_NAME_OPTION in driver_options:
        bridge_name, option = driver_options[BRIDGE_NAME_OPTION], f"driver_options.{BRIDGE_NAME_OPTION}"
    elif bridge_name is not None and driver_options.get(BRIDGE_NAME_OPTION, bridge_name) != bridge_name:
        raise DcosError(f"driver_options.{BRIDGE_NAME_OPTION} differs from bridge_name; give one of them")
    if bridge_name is not None:
        wanted["bridge_name"] = _validate.name(bridge_name, option, BRIDGE_NAME_RE, BRIDGE_NAME_RULE, BRIDGE_NAME_MAX)
    driver_options.pop(BRIDGE_NAME_OPTION, None)
    if params.get("driver_options") is not None:
        wanted["driver_options"] = driver_options


def _normal_ip(value):
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return str(ipaddress.ip_network(value, strict=False))


def network_view(inspect):
    """``docker network inspect`` of a network, in the shape of :func:`wanted_network` (or None)."""
    if not inspect:
        return None
    view = {
        "subnet": None,
        "gateway": None,
        "ip_range": None,
        "aux_addresses": {},
        "ipv6_subnet": None,
        "ipv6_gateway": None,
        "internal": bool(inspect.get("Internal")),
        "enable_ipv6": bool(inspect.get("EnableIPv6")),
        "labels": dict(inspect.get("Labels") or {}),
    }
    for config in (inspect.get("IPAM") or {}).get("Config") or []:
        subnet = _normal_ip(config.get("Subnet"))
        if subnet is None:
            continue
        v6 = ":" in subnet
        prefix = "ipv6_" if v6 else ""
        view[prefix + "subnet"] = subnet
        view[prefix + "gateway"] = _normal_ip(config.get("Gateway"))
        if not v6:
            view["ip_range"] = _normal_ip(config.get("IPRange"))
        for key, value in (config.get("AuxiliaryAddresses") or {}).items():
            view["aux_addresses"][key] = _normal_ip(value)
    options = dict(inspect.get("Options") or {})
    view["bridge_name"] = options.pop(BRIDGE_NAME_OPTION, None) or "br-" + inspect.get("Id", "")[:12]
    view["driver_options"] = options
    return view


def differences(wanted, current):
    """``[(key, before, after)]`` for each wanted setting the network does not have."""
    found = []
    for key in COMPARED_KEYS:
        if key not in wanted:
            continue
        after = wanted[key]
        before = current.get(key)
        if key in SUBSET_KEYS:
            before = {k: before[k] for k in after if k in (before or {})}
        if before != after:
            found.append((key, before, after))
    return found


def create_arguments(name, wanted):
    """Keyword arguments of ``APIClient.create_network`` for the wanted network."""
    pool = {"Subnet": wanted["subnet"]}
    if wanted.get("ip_range"):
        pool["IPRange"] = wanted["ip_range"]
    if wanted.get("gateway"):
        pool["Gateway"] = wanted["gateway"]
    pools = [pool]
    if wanted.get("ipv6_subnet"):
        pool6 = {"Subnet": wanted["ipv6_subnet"]}
        if wanted.get("ipv6_gateway"):
            pool6["Gateway"] = wanted["ipv6_gateway"]
        pools.append(pool6)
    for key, value in (wanted.get("aux_addresses") or {}).items():
        target = pools[1] if ":" in value else pools[0]
        target.setdefault("AuxiliaryAddresses", {})[key] = value
    options = dict(wanted.get("driver_options") or {})
    if wanted.get("bridge_name"):
        options[BRIDGE_NAME_OPTION] = wanted["bridge_name"]
    return {
        "name": name,
        "driver": "bridge",
        "options": options,
        # The CLI sends the IPAM driver and empty options explicitly; so do we, so that both
        # inspect the same.
        "ipam": {"Driver": "default", "Config": pools, "Options": {}},
        "check_duplicate": True,
        "internal": bool(wanted.get("internal")),
        "labels": dict(wanted.get("labels") or {}),
        "enable_ipv6": bool(wanted.get("enable_ipv6")),
    }


def restore_arguments(inspect):
    """Keyword arguments of ``APIClient.create_network`` rebuilding an inspected network."""
    ipam = inspect.get("IPAM") or {}
    return {
        "name": inspect.get("Name"),
        "driver": inspect.get("Driver") or "bridge",
        "options": dict(inspect.get("Options") or {}),
        "ipam": {
            "Driver": ipam.get("Driver") or "default",
            "Config": list(ipam.get("Config") or []),
            "Options": dict(ipam.get("Options") or {}),
        },
        "check_duplicate": True,
        "internal": bool(inspect.get("Internal")),
        "labels": dict(inspect.get("Labels") or {}),
        "enable_ipv6": bool(inspect.get("EnableIPv6")),
    }


def _subnets(inspect):
    found = []
    for config in (inspect.get("IPAM") or {}).get("Config") or []:
        try:
            found.append(ipaddress.ip_network(str(config.get("Subnet")), strict=False))
        except ValueError:
            continue
    return found


def overlapping_networks(networks, wanted, own_id=None):
    """``[(name, subnet)]`` of the listed networks (but ``own_id``) overlapping a wanted subnet."""
    mine = [ipaddress.ip_network(wanted[key]) for key in ("subnet", "ipv6_subnet") if wanted.get(key)]
    found = []
    for net in networks or []:
        if own_id and net.get("Id") == own_id:
            continue
        for subnet in _subnets(net):
            if any(subnet.version == want.version and subnet.overlaps(want) for want in mine):
                found.append((net.get("Name") or net.get("Id", "")[:12], str(subnet)))
    return found


def attached_containers(inspect):
    """Names of the containers attached to the network, sorted."""
    containers = (inspect or {}).get("Containers") or {}
    return sorted(info.get("Name") or cid[:12] for cid, info in containers.items())


class BridgeNetworkManager:
    """Finds, notes (in ``record``, a ChangeRecord) and applies the changes of one bridge network.

    The parameters are validated when the manager is made, before anything talks to the engine;
    :meth:`run` then takes the Docker SDK ``APIClient``.
    """

    def __init__(self, params, record=None):
        self.params = params
        self.name = check_network_name(params.get("name"))
        self.state = params.get("state") or "present"
        if self.state not in ("present", "absent"):
            raise DcosError(f"state: {self.state!r} is not one of present, absent")
        self.wanted = wanted_network(params) if self.state == "present" else None
        if self.wanted is not None and "subnet" not in self.wanted:
            raise DcosError("subnet: required with state=present")
        self.force = bool(params.get("force"))
        self.record = record if record is not None else ChangeRecord()
        self.check_mode = self.record.check_mode
        self.client = None

    def run(self, client):
        """Bring the network to its state through ``client``; returns the module's result."""
        self.client = client
        return self.present() if self.state == "present" else self.absent()

    # -- engine access -------------------------------------------------------------------------
    def _call(self, what, func, *args, **kwargs):
        try:
            return func(*args, **kwargs)
        except Exception as exc:  # the SDK's errors, and requests' (timeouts, refused connections)
            if not isinstance(exc, ENGINE_ERRORS):
                raise
            raise DcosError(f"{what}: {api_error_text(exc)}") from exc

    def inspect(self):
        """The network named exactly ``name`` (the engine's name filter matches substrings)."""
        found = self._call(f"list networks named {self.name}", self.client.networks, names=[self.name])
        for net in found:
            if net.get("Name") == self.name:
                return self._call(f"inspect network {self.name}", self.client.inspect_network, net["Id"])
        return None

    def _remove(self, inspect):
        for cid, info in sorted(((inspect or {}).get("Containers") or {}).items()):
            step = f"disconnect {info.get('Name') or cid[:12]} from network {self.name}"
            self._call(step, self.client.disconnect_container_from_network, cid, inspect["Id"], force=True)
            self.record.done(step)
        step = f"remove network {self.name}"
        self._call(step, self.client.remove_network, inspect["Id"])
        self.record.done(step)

    def _create(self, wanted):
        step = f"create network {self.name}"
        self._call(step, self.client.create_network, **create_arguments(self.name, wanted))
        self.record.done(step)

    def _check_overlaps(self, wanted, own_id):
        """Refuse, before touching anything, a subnet another network already holds."""
        networks = self._call("list networks", self.client.networks)
        clashes = overlapping_networks(networks, wanted, own_id)
        if clashes:
            named = ", ".join(f"{name} ({subnet})" for name, subnet in clashes)
            raise DcosError(
                f"network {self.name} cannot be recreated: its subnet overlaps network {named}; nothing was changed",
                overlapping=[name for name, _subnet in clashes],
            )

    def _rebuild(self, before_inspect, containers, wanted):
        """Remove and create the network; on a failed create, put the old one back (best effort)."""
        self._check_overlaps(wanted, before_inspect.get("Id"))
        self._remove(before_inspect)
        try:
            self._create(wanted)
        except DcosError as exc:
            try:
                self._call(
                    f"restore network {self.name}", self.client.create_network, **restore_arguments(before_inspect)
                )
                self.record.done(f"restore network {self.name}")
                restored = f"the old network {self.name} was recreated with its former settings"
            except DcosError as again:
                restored = f"restoring the old network {self.name} failed too ({again}): it is gone"
            attached = ", ".join(containers) if containers else "none"
            raise DcosError(
                f"{exc}; {restored}; the containers disconnected from it stay disconnected: {attached}",
                disconnected=containers,
                restored=restored.startswith("the old"),
            ) from exc

    # -- states --------------------------------------------------------------------------------
    def _refuse(self, why, containers, extra):
        attached = ", ".join(containers) if containers else "none"
        raise DcosError(
            f"network {self.name} {why}; set force=true to do it (containers attached, to be disconnected: {attached})",
            containers=containers,
            **extra,
        )

    def present(self):
        wanted = self.wanted
        before_inspect = self.inspect()
        containers = attached_containers(before_inspect)
        if before_inspect is None:
            self.record.difference("exists", False, True)
            for key in COMPARED_KEYS:
                if key in wanted:
                    self.record.difference(key, None, wanted[key])
            self.record.step(f"create network {self.name}")
            if not self.check_mode:
                self._create(wanted)
        else:
            found = differences(wanted, network_view(before_inspect))
            if found:
                if not self.force:
                    changed = ", ".join(key for key, _before, _after in found)
                    extra = {"differences": [key for key, _b, _a in found]}
                    if self.record.diff_mode:
                        extra["diff"] = {"before": {k: b for k, b, _a in found}, "after": {k: a for k, _b, a in found}}
                    self._refuse(
                        f"differs from the task ({changed}) and Docker cannot change a network in place: "
                        "it must be recreated",
                        containers,
                        extra,
                    )
                for key, before, after in found:
                    self.record.difference(key, before, after)
                # The network is recreated from the task: settings the task leaves unset go back
                # to Docker's defaults, so build the new one from the task alone.
                for container in containers:
                    self.record.step(f"disconnect {container} from network {self.name}")
                self.record.step(f"remove network {self.name}")
                self.record.step(f"create network {self.name}")
                if not self.check_mode:
                    self._rebuild(before_inspect, containers, wanted)
        network = before_inspect if self.check_mode or not self.record.changed else self.inspect()
        return self.record.result(
            network=network or {},
            containers=containers,
            disconnected=containers if self.record.changed and before_inspect else [],
        )

    def absent(self):
        before_inspect = self.inspect()
        containers = attached_containers(before_inspect)
        if before_inspect is not None:
            if containers and not self.force:
                self._refuse("has containers attached and would lose them", containers, {})
            self.record.difference("exists", True, False)
            for container in containers:
                self.record.step(f"disconnect {container} from network {self.name}")
            self.record.step(f"remove network {self.name}")
            if not self.check_mode:
                self._remove(before_inspect)
        return self.record.result(network={}, containers=containers, disconnected=containers)
