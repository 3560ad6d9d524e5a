#!/usr/bin/python
# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: docker_bridge_net
short_description: Manage a Docker network on a named Linux bridge with fixed gateways
version_added: 0.1.0
description:
  - Creates, checks and removes a Docker C(bridge) network the way
    C(docker network create --driver bridge --subnet 10.199.45.0/24 --gateway 10.199.45.200
    -o com.docker.network.bridge.name=br-oak --aux-address DefaultGatewayIPv4=10.199.45.1 oak-net) does.
  - Docker assigns O(gateway) to the bridge device on the host, so O(gateway) is the host's own address
    on the bridge. The containers' default route is O(default_gateway) (the auxiliary address
    C(DefaultGatewayIPv4)), the router of the segment. The two must differ.
  - Docker cannot change a network in place. When the network exists with different settings the module
    refuses, and lists the attached containers, unless O(force=true); then it disconnects them, removes
    the network and creates it again from the task. Containers are not reconnected.
  - Only the settings the task gives are compared; O(labels) and O(driver_options) are compared as subsets
    (keys the task does not name are left alone).
author:
  - pptv.dcos maintainers (@pptv)
extends_documentation_fragment:
  - pptv.dcos._attributes
  - pptv.dcos._docker
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  name:
    description:
      - Name of the Docker network (matched exactly, never as an ID prefix), letters, digits, C(_), C(.)
        and C(-), starting with a letter or a digit; the whole value must match (a newline or a C(/) is refused).
    type: str
    required: true
  state:
    description:
      - V(present) creates the network, or checks it and recreates it (with O(force=true)) when it differs.
      - V(absent) removes it; with containers attached only when O(force=true).
    type: str
    choices: [present, absent]
    default: present
  subnet:
    description: The IPv4 segment of the network in CIDR form. Required with O(state=present).
    type: str
  gateway:
    description:
      - The host's own address on the bridge (Docker's C(--gateway)); inside O(subnet).
      - When the bridge already exists with another address in the subnet, Docker replaces it with this one.
    type: str
  ip_range:
    description:
      - Sub-range of O(subnet) (CIDR) from which Docker picks addresses for containers started without a fixed IP.
    type: str
  bridge_name:
    description:
      - Name of the Linux bridge device (driver option C(com.docker.network.bridge.name)), 1 to 15 letters,
        digits, C(_), C(.) and C(-) (the kernel refuses C(/), C(:) and whitespace).
      - An existing bridge of that name is reused; Docker creates it otherwise.
    type: str
  default_gateway:
    description:
      - The containers' default gateway (the router), written as the auxiliary address C(DefaultGatewayIPv4).
      - Must be inside O(subnet) and differ from O(gateway), which it needs.
    type: str
  aux_addresses:
    description:
      - Other auxiliary addresses (name to IP), reserved so that Docker never gives them to a container.
      - Each must lie inside O(subnet) or O(ipv6_subnet).
      - When this or O(default_gateway) is given, the network's auxiliary addresses must be exactly these.
    type: dict
  driver_options:
    description:
      - Other options of the bridge driver (C(-o key=value)); booleans are sent as C(true)/C(false).
      - Values are strings, numbers or booleans; a nested value (a list, a dictionary) or a null is refused.
    type: dict
  internal:
    description: Restrict external access to the network (no default gateway possible then).
    type: bool
  enable_ipv6:
    description: Enable IPv6 on the network; needs O(ipv6_subnet). Implied by O(ipv6_subnet).
    type: bool
  ipv6_subnet:
    description: The IPv6 segment of the network in CIDR form.
    type: str
  ipv6_gateway:
    description: The host's IPv6 address on the bridge, inside O(ipv6_subnet).
    type: str
  labels:
    description:
      - Labels of the network (compared as a subset).
      - Values are strings, numbers or booleans (sent as Docker spells them); a nested value (a list, a
        dictionary) or a null is refused naming the label, never stored as Python text.
    type: dict
  force:
    description:
      - Recreate a network whose settings differ, and remove a network with containers attached,
        disconnecting them.
    type: bool
    default: false
notes:
  - Docker keeps no cross-host record of fixed IPs on local bridge networks; use M(pptv.dcos.ip_pool) to hand
    them out.
seealso:
  - module: pptv.dcos.ip_pool
"""

EXAMPLES = r"""
- name: The seed's network (br-oak, host 10.199.45.200, router 10.199.45.1)
  pptv.dcos.docker_bridge_net:
    name: oak-net
    subnet: 10.199.45.0/24
    gateway: 10.199.45.200
    bridge_name: br-oak
    default_gateway: 10.199.45.1

- name: Reserve the other hosts of the segment and keep Docker's own picks in the upper half
  pptv.dcos.docker_bridge_net:
    name: oak-net
    subnet: 10.199.45.0/24
    gateway: 10.199.45.200
    bridge_name: br-oak
    default_gateway: 10.199.45.1
    ip_range: 10.199.45.128/26
    aux_addresses:
      host-b: 10.199.45.201
    labels:
      pptv.dcos/env: integration

- name: Recreate it with a new subnet, disconnecting what is attached
  pptv.dcos.docker_bridge_net:
    name: oak-net
    subnet: 10.199.46.0/24
    gateway: 10.199.46.200
    bridge_name: br-oak
    default_gateway: 10.199.46.1
    force: true

- name: Remove it
  pptv.dcos.docker_bridge_net:
    name: oak-net
    state: absent
"""

RETURN = r"""
network:
  description: C(docker network inspect) of the network after the task (before it in check mode); empty when absent.
  returned: always
  type: dict
  sample: {"Name": "oak-net", "Driver": "bridge", "IPAM": {"Config": [{"Subnet": "10.199.45.0/24"}]}}
containers:
  description: Names of the containers attached to the network before the task.
  returned: always
  type: list
  elements: str
  sample: [mesos-4f1c0a]
disconnected:
  description: Containers the task disconnected (or would disconnect in check mode).
  returned: always
  type: list
  elements: str
  sample: []
restored:
  description:
    - When a forced recreate failed after the old network was removed, whether the old network was created again
      from its former settings (the task then fails with C(changed=true)).
  returned: failed after removing the network
  type: bool
  sample: true
overlapping:
  description: Networks whose subnets overlap the task's, when a forced recreate is refused before anything changed.
  returned: failed for an overlapping subnet
  type: list
  elements: str
  sample: [elm-net]
differences:
  description: Settings that differ, when the module refuses to recreate the network.
  returned: failed
  type: list
  elements: str
  sample: [subnet, gateway]
actions:
  description: Steps taken (or that would be taken in check mode), in order.
  returned: always
  type: list
  elements: str
  sample: ["create network oak-net"]
diff:
  description: Before and after of the settings that changed.
  returned: when the task runs in diff mode (C(--diff))
  type: dict
  sample: {"before": {"subnet": "10.199.45.0/24"}, "after": {"subnet": "10.199.46.0/24"}}
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib  # noqa: E402

from ansible_collections.pptv.dcos.plugins.module_utils._diff import ChangeRecord  # noqa: E402
from ansible_collections.pptv.dcos.plugins.module_utils._docker_connection import (  # noqa: E402
    DOCKER_CONNECTION_ARGS,
    DOCKER_IMPORT_ERROR,
    HAS_DOCKER,
    docker_client,
)
from ansible_collections.pptv.dcos.plugins.module_utils._docker_net import BridgeNetworkManager  # noqa: E402
from ansible_collections.pptv.dcos.plugins.module_utils._errors import DcosError, fail_from  # noqa: E402


def argument_spec():
    spec = {
        "name": {"type": "str", "required": True},
        "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
        "subnet": {"type": "str"},
        "gateway": {"type": "str"},
        "ip_range": {"type": "str"},
        "bridge_name": {"type": "str"},
        "default_gateway": {"type": "str"},
        "aux_addresses": {"type": "dict"},
        "driver_options": {"type": "dict"},
        "internal": {"type": "bool"},
        "enable_ipv6": {"type": "bool"},
        "ipv6_subnet": {"type": "str"},
        "ipv6_gateway": {"type": "str"},
        "labels": {"type": "dict"},
        "force": {"type": "bool", "default": False},
    }
    spec.update(DOCKER_CONNECTION_ARGS)
    return spec


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        required_if=[("state", "present", ["subnet"])],
        required_by={"default_gateway": "gateway", "ipv6_gateway": "ipv6_subnet"},
        supports_check_mode=True,
    )
    if not HAS_DOCKER:
        module.fail_json(msg=missing_required_lib("docker"), exception=DOCKER_IMPORT_ERROR)
    record = ChangeRecord(check_mode=module.check_mode, diff_mode=module._diff)
    try:
        manager = BridgeNetworkManager(module.params, record)
        result = manager.run(docker_client(module.params))
    except DcosError as e:
        fail_from(module, e, record)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
