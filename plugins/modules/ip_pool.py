#!/usr/bin/python
# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ip_pool
short_description: Give each Marathon app ID its fixed IP from a global pool
version_added: 0.1.0
description:
  - Keeps pools of addresses (one or more subnets, a gateway, reserved addresses and ranges, an optional
    allocation range) and hands out one fixed address per Marathon app ID.
  - A new app gets the lowest unused address (subnets in the order given); a known app gets its own address
    back. Several app IDs can be allocated in one task with O(app_ids); they are all given an address or none is.
  - Two backends with the same semantics. V(file) keeps one JSON file at O(path), safe across parallel
    processes on one machine (an exclusive lock held across read-allocate-write, then an atomic replace).
    V(zookeeper) keeps the pool under O(zk_root) in ZooKeeper; an allocation is an atomic create of the
    address's znode, so two controllers (several AWX nodes) can never hand out the same address.
  - With the V(file) backend the file lives on the host that runs the module; run the task with
    C(delegate_to) and C(run_once) so that every host of a play uses the same file.
author:
  - pptv.dcos maintainers (@pptv)
extends_documentation_fragment:
  - pptv.dcos._attributes
  - pptv.dcos._ip_pool_store
  - pptv.dcos._marathon
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  pool:
    description:
      - Name of the pool, letters, digits, C(_), C(.) and C(-), starting with a letter or a digit.
        The whole value must match (a trailing newline is refused, not read as V(oak)).
    type: str
    required: true
  state:
    description:
      - V(present) defines or updates the pool from O(subnets), O(gateway), O(reserved) and
        O(allocation_ranges). An update that would leave a live allocation outside the pool is refused,
        with the list of them.
      - V(absent) deletes the pool; with live allocations only when O(force=true).
      - V(allocated) gives O(app_id) (or each of O(app_ids)) its address and returns it.
      - V(released) frees the address of O(app_id) (or of each of O(app_ids)), or of every app under O(group).
      - V(synced) reconciles the pool with the apps Marathon runs (Marathon connection options O(url) and
        the others). It records the addresses apps actually use (Docker parameter C(ip), the label
        C(pptv.dcos/ip), or for apps on a container network, C(networks), the addresses their tasks
        report); releases the allocations of apps that have been gone from Marathon for O(grace_period)
        seconds (they are marked missing first; check mode lists them); and reports conflicts (two apps on one
        address, an app on an address outside every pool, an app on another address than the one it holds, on a
        reserved address) in RV(conflicts) without fixing them.
      - Defaults to V(allocated) when O(app_id) or O(app_ids) is given, to V(present) otherwise.
    type: str
    choices: [present, absent, allocated, released, synced]
  subnets:
    description:
      - Segments of the pool in CIDR form; new addresses come from the first one with room.
      - Required with O(state=present).
    type: list
    elements: str
  gateway:
    description:
      - The containers' gateway on the pool's segment (the router, C(DefaultGatewayIPv4) of the Docker network).
        Never handed out; returned with every address.
    type: str
  reserved:
    description:
      - Addresses never handed out, each an address (V(10.199.45.200)), a CIDR (V(10.199.45.192/27)) or a
        range (V(10.199.45.2-10.199.45.9)), for example the bridge's own address, routers, aux addresses
        and static hosts.
      - The network and broadcast addresses of each subnet are never handed out either.
    type: list
    elements: str
    default: []
  allocation_ranges:
    description:
      - When given, new addresses are picked only from these addresses, CIDRs or ranges (inside O(subnets)).
        An explicit O(ip) may lie anywhere in the subnets.
    type: list
    elements: str
    default: []
  app_id:
    description: Marathon app ID (V(/web) or V(web); the leading C(/) is added).
    type: str
  app_ids:
    description: Several Marathon app IDs at once (allocated or released together, all or none).
    type: list
    elements: str
  ip:
    description: Give O(app_id) this address; an error when another app holds it or when it is reserved.
    type: str
  group:
    description:
      - With O(state=released), also free the address of every app ID under this Marathon group
        (V(/func-shop) frees V(/func-shop/web), V(/func-shop/db/main), ...), whether or not the app
        still exists (how an environment's teardown gives its addresses back).
      - Only with O(state=released); may be combined with O(app_id) or O(app_ids).
    type: str
  grace_period:
    description:
      - With O(state=synced), seconds an app must have been missing from Marathon before its address is released.
      - V(0) releases at once.
    type: int
    default: 3600
  force:
    description: With O(state=absent), delete the pool even though apps still hold addresses in it.
    type: bool
    default: false
requirements:
  - netaddr
  - kazoo (for O(backend=zookeeper))
seealso:
  - module: pptv.dcos.docker_bridge_net
  - plugin: pptv.dcos.ip_pool
    plugin_type: lookup
"""

EXAMPLES = r"""
- name: Define the pool of the oak network (host 10.199.45.200 on the bridge, router 10.199.45.1)
  pptv.dcos.ip_pool:
    pool: oak
    subnets: [10.199.45.0/24]
    gateway: 10.199.45.1
    reserved: [10.199.45.200, 10.199.45.240-10.199.45.254]
  delegate_to: localhost
  run_once: true

- name: Give every app of the catalogue its address, in one call
  pptv.dcos.ip_pool:
    pool: oak
    app_ids: "{{ apps | map(attribute='id') }}"
  delegate_to: localhost
  run_once: true
  register: ips

- name: Launch each app with its fixed IP
  pptv.dcos.marathon_app:
    app_id: "{{ item.app_id }}"
    definition:
      cmd: redis-server
      cpus: 0.1
      mem: 128
      container:
        type: DOCKER
        docker:
          image: redis:7
          parameters:
            - {key: net, value: oak-net}
            - {key: ip, value: "{{ item.ip }}"}
  loop: "{{ ips.allocations }}"

- name: One app, shared by every controller through ZooKeeper
  pptv.dcos.ip_pool:
    pool: oak
    app_id: /shop/redis
    backend: zookeeper
    zk_hosts: zk1:2181,zk2:2181,zk3:2181

- name: Ask for a given address
  pptv.dcos.ip_pool:
    pool: oak
    app_id: /shop/mysql
    ip: 10.199.45.10

- name: Reconcile with Marathon (record what apps use, release apps gone for a day, report conflicts)
  pptv.dcos.ip_pool:
    pool: oak
    state: synced
    url: http://marathon.example:8080
    grace_period: 86400
  register: sync

- name: Free the address of a deleted app
  pptv.dcos.ip_pool:
    pool: oak
    app_id: /shop/old
    state: released

- name: Free every address of a torn-down environment
  pptv.dcos.ip_pool:
    pool: oak
    group: /func-shop
    state: released
"""

RETURN = r"""
ip:
  description:
    - The address of O(app_id).
    - Null in check mode when the pool does not exist yet and O(ip) is not given (the address is chosen on the
      real run).
  returned: state is allocated and app_id is given
  type: str
  sample: 10.199.45.2
prefix:
  description: Prefix length of the subnet of RV(ip).
  returned: state is allocated and app_id is given
  type: int
  sample: 24
subnet:
  description: The subnet of RV(ip).
  returned: state is allocated and app_id is given
  type: str
  sample: 10.199.45.0/24
gateway:
  description: The pool's gateway (null when the pool has none).
  returned: state is allocated and app_id is given
  type: str
  sample: 10.199.45.1
app_id:
  description: O(app_id), normalised.
  returned: state is allocated and app_id is given
  type: str
  sample: /shop/redis
pool:
  description: The pool's name.
  returned: always
  type: str
  sample: oak
allocations:
  description: One entry per app ID of the task, in order, with the keys C(app_id), C(ip), C(prefix), C(subnet),
    C(gateway) and C(pool).
  returned: state is allocated or released
  type: list
  elements: dict
  sample: [{"app_id": "/shop/redis", "ip": "10.199.45.2", "prefix": 24, "subnet": "10.199.45.0/24",
            "gateway": "10.199.45.1", "pool": "oak"}]
released:
  description: App IDs whose address was freed (or would be, in check mode).
  returned: state is released, absent or synced
  type: list
  elements: str
  sample: [/shop/old]
definition:
  description: The pool's definition after the task (null after O(state=absent)).
  returned: state is present or absent
  type: dict
  sample: {"subnets": ["10.199.45.0/24"], "gateway": "10.199.45.1", "reserved": ["10.199.45.200"],
           "allocation_ranges": []}
size:
  description: How many addresses the pool can hand out in all.
  returned: state is present
  type: int
  sample: 251
allocated:
  description: How many addresses are allocated in the pool.
  returned: state is present
  type: int
  sample: 12
conflicts:
  description:
    - With O(state=present) (failed), the live allocations an update would leave outside the pool (C(app_id), C(ip),
      C(reason)).
    - With O(state=synced), what the reconcile found and did not fix (C(kind), C(ip), C(app_ids), C(message)).
  returned: failed, or state is synced
  type: list
  elements: dict
  sample: [{"kind": "shared address", "ip": "10.199.45.3", "app_ids": ["/a", "/b"],
            "message": "/a and /b all use 10.199.45.3"}]
recorded:
  description: Addresses apps use in Marathon that the sync recorded as theirs (C(app_id), C(ip)).
  returned: state is synced
  type: list
  elements: dict
  sample: [{"app_id": "/shop/redis", "ip": "10.199.45.7"}]
pending_release:
  description: Allocations of apps missing from Marathon whose grace period is not over
    (C(app_id), C(ip), C(missing_since), C(release_after), epoch seconds).
  returned: state is synced
  type: list
  elements: dict
  sample: [{"app_id": "/old", "ip": "10.199.45.9", "missing_since": 1767225600.0, "release_after": 1767229200.0}]
actions:
  description: Steps taken (or that would be taken in check mode).
  returned: always
  type: list
  elements: str
  sample: ["allocate 10.199.45.2 to /shop/redis in pool oak"]
diff:
  description: Before and after of the pool definition, or of each app's address.
  returned: when the task runs in diff mode (C(--diff))
  type: dict
  sample: {"before": {"/shop/redis": null}, "after": {"/shop/redis": "10.199.45.2"}}
"""

import time  # noqa: E402

from ansible.module_utils.basic import AnsibleModule, missing_required_lib  # noqa: E402

from ansible_collections.pptv.dcos.plugins.module_utils._diff import ChangeRecord  # noqa: E402
from ansible_collections.pptv.dcos.plugins.module_utils._errors import DcosError, fail_from  # noqa: E402
from ansible_collections.pptv.dcos.plugins.module_utils._ippool import (  # noqa: E402
    HAS_KAZOO,
    HAS_NETADDR,
    KAZOO_IMPORT_ERROR,
    NETADDR_IMPORT_ERROR,
    STORE_OPTIONS_SPEC,
    IpPoolManager,
    open_store,
    task_state,
)
from ansible_collections.pptv.dcos.plugins.module_utils._ippool_sync import synced  # noqa: E402
from ansible_collections.pptv.dcos.plugins.module_utils._marathon_client import (  # noqa: E402
    MARATHON_CONNECTION_MUTUALLY_EXCLUSIVE,
    MARATHON_CONNECTION_REQUIRED_TOGETHER,
    MARATHON_CONNECTION_SPEC,
    MarathonClient,
    credential_urls,
)


def argument_spec():
    spec = {
        "pool": {"type": "str", "required": True},
        "state": {"type": "str", "choices": ["present", "absent", "allocated", "released", "synced"]},
        "subnets": {"type": "list", "elements": "str"},
        "gateway": {"type": "str"},
        "reserved": {"type": "list", "elements": "str", "default": []},
        "allocation_ranges": {"type": "list", "elements": "str", "default": []},
        "app_id": {"type": "str"},
        "app_ids": {"type": "list", "elements": "str"},
        "ip": {"type": "str"},
        "group": {"type": "str"},
        "force": {"type": "bool", "default": False},
        "grace_period": {"type": "int", "default": 3600},
    }
    spec.update(STORE_OPTIONS_SPEC)
    spec.update(MARATHON_CONNECTION_SPEC)
    return spec


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        mutually_exclusive=[("app_id", "app_ids"), ("ip", "app_ids"), *MARATHON_CONNECTION_MUTUALLY_EXCLUSIVE],
        required_together=MARATHON_CONNECTION_REQUIRED_TOGETHER,
        required_by={"ip": "app_id"},
        supports_check_mode=True,
    )
    params = module.params
    # The Marathon URL (from the task or MARATHON_URL) may carry credentials: mask them in every
    # result, whatever the state; `synced` then refuses such a URL.
    module.no_log_values.update(credential_urls(params.get("url")))
    if not HAS_NETADDR:
        module.fail_json(msg=missing_required_lib("netaddr"), exception=NETADDR_IMPORT_ERROR)
    if params["backend"] == "zookeeper" and not HAS_KAZOO:
        module.fail_json(msg=missing_required_lib("kazoo"), exception=KAZOO_IMPORT_ERROR)
    record = ChangeRecord(check_mode=module.check_mode, diff_mode=module._diff)
    store = None
    try:
        state = task_state(params)
        store = open_store(params)
        manager = IpPoolManager(store, params, record)
        if state == "synced":
            result = synced(manager, MarathonClient.from_module(module), params["grace_period"], time.time())
        else:
            result = manager.run(state)
    except DcosError as e:
        fail_from(module, e, record, pool=params["pool"])
    finally:
        if store is not None:
            store.close()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
