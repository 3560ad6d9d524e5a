# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: ip_pool
short_description: The fixed IP of Marathon apps in a pptv.dcos IP pool
version_added: 0.1.0
author:
  - pptv.dcos maintainers (@pptv)
description:
  - Returns the address each given Marathon app ID holds in a pool kept by M(pptv.dcos.ip_pool).
  - Fails when an app holds no address, unless O(allocate=true).
  - Runs on the controller, so with the V(file) backend O(path) is a file of the controller.
  - Takes the store options (O(backend), O(path), O(zk_hosts), ...) and their environment variables
    exactly as M(pptv.dcos.ip_pool) does, so that both open the same pool.
extends_documentation_fragment:
  - pptv.dcos._ip_pool_store
  - pptv.dcos._ip_pool_store.env
options:
  _terms:
    description: Marathon app IDs (V(/web) or V(web)).
    required: true
    type: list
    elements: str
  pool:
    description: Name of the pool (matched in full, as by M(pptv.dcos.ip_pool)).
    type: str
    required: true
  allocate:
    description:
      - Give an app without an address the next free one, as M(pptv.dcos.ip_pool) with
        O(pptv.dcos.ip_pool#module:state=allocated) does.
      - Lookups are evaluated even in check mode, so this writes even then; prefer the module in playbooks
        that must honour check mode.
      - A boolean (V(true), V(false), V(yes), V(no), ...); any other value fails the lookup (Ansible's
        own conversion would read it as V(false), hence the type C(raw)).
    type: raw
    default: false
  details:
    description:
      - Return a dictionary per app (C(app_id), C(ip), C(prefix), C(subnet), C(gateway), C(pool))
        instead of the address alone.
      - A boolean; any other value fails the lookup.
    type: raw
    default: false
requirements:
  - netaddr
  - kazoo (for O(backend=zookeeper))
seealso:
  - module: pptv.dcos.ip_pool
"""

EXAMPLES = r"""
- name: The address of the shop's Redis
  ansible.builtin.debug:
    msg: "{{ lookup('pptv.dcos.ip_pool', '/shop/redis', pool='oak') }}"

- name: Addresses of several apps, allocating the missing ones, with their subnet and gateway
  ansible.builtin.set_fact:
    shop_ips: "{{ query('pptv.dcos.ip_pool', '/shop/web', '/shop/api', pool='oak', allocate=true, details=true) }}"
"""

RETURN = r"""
_raw:
  description: One address per app ID, in order (a dictionary per app with O(details=true)).
  type: list
  elements: raw
"""

from ansible.errors import AnsibleError  # noqa: E402
from ansible.plugins.lookup import LookupBase  # noqa: E402

from ansible_collections.pptv.dcos.plugins.module_utils import _validate  # noqa: E402
from ansible_collections.pptv.dcos.plugins.module_utils._errors import DcosError  # noqa: E402
from ansible_collections.pptv.dcos.plugins.module_utils._ippool import (  # noqa: E402
    HAS_KAZOO,
    HAS_NETADDR,
    STORE_OPTIONS_SPEC,
    IpPoolManager,
    open_store,
)


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        if not HAS_NETADDR:
            raise AnsibleError("the ip_pool lookup needs the netaddr Python library on the controller")
        params = {name: self.get_option(name) for name in ("pool", *STORE_OPTIONS_SPEC)}
        if params["backend"] == "zookeeper" and not HAS_KAZOO:
            raise AnsibleError("the ip_pool lookup needs the kazoo Python library for backend=zookeeper")
        store = None
        try:
            allocate = _validate.boolean(self.get_option("allocate"), "allocate")
            details = _validate.boolean(self.get_option("details"), "details")
            store = open_store(params)
            entries = IpPoolManager(store, params).lookup([str(term) for term in terms], allocate=allocate)
        except DcosError as exc:
            raise AnsibleError(f"ip_pool lookup: {exc.msg}") from exc
        finally:
            if store is not None:
                store.close()
        if details:
            return entries
        return [entry["ip"] for entry in entries]
