# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where an IP pool is kept: the store options of the ip_pool module and the ip_pool lookup.

The options are :data:`STORE_OPTIONS_SPEC` in ``plugins/module_utils/_ippool.py`` and the
environment variables :data:`STORE_ENV` beside it; keep the three in step (a unit test checks it).
``DOCUMENTATION`` is for both plugins; the lookup also takes ``ENV``, which declares the same
variables the module reads through its argument spec (modules' docs cannot carry ``env``).
"""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  backend:
    description:
      - Where the pool is kept.
      - Taken from E(PPTV_DCOS_IP_POOL_BACKEND) when not given.
    type: str
    choices: [file, zookeeper]
    default: file
  path:
    description:
      - The state file of the V(file) backend (a C(.lock) file is kept beside it), an absolute path
        (V(~) is expanded). An empty or relative path is refused, so that the module and the lookup
        always open the same file.
      - Taken from E(PPTV_DCOS_IP_POOL_PATH) when not given.
    type: str
    default: /var/lib/pptv-dcos/ip_pool.json
  lock_timeout:
    description: Seconds to wait for the lock of the V(file) backend (V(0) or more).
    type: int
    default: 60
  zk_hosts:
    description:
      - ZooKeeper connection string of the V(zookeeper) backend, V(host:port,host:port)
        (a host without a port means port 2181; IPv6 addresses in brackets).
      - Taken from E(PPTV_DCOS_ZK_HOSTS) when not given.
    type: str
    default: 127.0.0.1:2181
  zk_root:
    description:
      - ZooKeeper path under which the V(zookeeper) backend keeps its pools (absolute, no trailing C(/)).
      - Taken from E(PPTV_DCOS_IP_POOL_ZK_ROOT) when not given.
    type: str
    default: /pptv-dcos/ip_pool
  zk_timeout:
    description: Seconds to wait for ZooKeeper (more than 0).
    type: float
    default: 10
notes:
  - The module reads the environment variables of the store options on the host it runs on (with
    C(delegate_to=localhost), the controller), the lookup on the controller; both apply the same
    defaults and checks, so one environment names one pool file for both.
"""

    ENV = r"""
options:
  backend:
    env:
      - name: PPTV_DCOS_IP_POOL_BACKEND
  path:
    env:
      - name: PPTV_DCOS_IP_POOL_PATH
  zk_hosts:
    env:
      - name: PPTV_DCOS_ZK_HOSTS
  zk_root:
    env:
      - name: PPTV_DCOS_IP_POOL_ZK_ROOT
"""
