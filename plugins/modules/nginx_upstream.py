#!/usr/bin/python
# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: nginx_upstream
short_description: Manage Nginx upstream blocks, and the virtual hosts routed to them, safely
version_added: 0.1.0
description:
  - Writes one file per upstream, C(upstream-<name>.conf), in the directory O(path) that the main Nginx
    configuration includes in its C(http) block. Each file holds the C(upstream) block and, when O(vhosts)
    is given, the C(server) blocks that route those virtual hosts to it.
  - Every value is validated as what it claims to be (an address, a port, a name, a time, a hash key,
    a virtual host name, a listen address, a location) before it reaches the configuration. A value
    that could smuggle a directive (V(;), V({), V(}), quotes, V(#), backslashes, whitespace or
    newlines) is refused and the error names the option.
  - Changed files are written atomically, then C(nginx -t -c <nginx_conf>) checks the whole
    configuration once for the task. When Nginx refuses it, every file is put back byte for byte
    (new files are removed, removed files come back) and the task fails with Nginx's own error line.
  - Rendering is deterministic. An unchanged upstream rewrites nothing, validates nothing and
    reloads nothing.
  - The batch form O(upstreams) writes many upstreams, validates once and reloads at most once.
author:
  - pptv.dcos contributors (@pptv-dcos)
extends_documentation_fragment:
  - pptv.dcos._attributes
attributes:
  check_mode:
    support: full
    details: Renders and compares only; writes nothing and runs neither C(nginx -t) nor a reload.
  diff_mode:
    support: full
    details: One entry per changed file with the rendered text before and after.
  idempotent:
    support: full
options:
  name:
    description:
      - Name of the upstream (the name used in C(proxy_pass http://<name>)); also names its file.
      - Letters, digits, V(.), V(_) and V(-), starting with a letter or a digit.
      - Mutually exclusive with O(upstreams).
    type: str
  servers:
    description:
      - The servers of the upstream, in the order given (order matters to Nginx).
      - Required when O(state=present) and O(name) is given.
    type: list
    elements: dict
    suboptions:
      address:
        description: IPv4 or IPv6 address, or a host name that Nginx resolves when it loads the configuration.
        type: str
        required: true
      port:
        description: TCP port.
        type: int
        default: 80
      weight:
        description: C(weight=) of the server. Omitted when not given (Nginx's default is 1).
        type: int
      max_fails:
        description: C(max_fails=) of the server. Omitted when not given.
        type: int
      fail_timeout:
        description: C(fail_timeout=) of the server, an Nginx time such as V(10), V(30s) or V(1m30s).
        type: str
      backup:
        description: Mark the server as a backup. Nginx refuses it with O(balance=hash) and O(balance=ip_hash).
        type: bool
        default: false
      down:
        description: Mark the server as permanently unavailable.
        type: bool
        default: false
  balance:
    description:
      - Load-balancing method. V(hash) needs O(hash_key).
    type: str
    choices: [round_robin, least_conn, ip_hash, hash]
    default: round_robin
  hash_key:
    description:
      - Key of O(balance=hash), text and variables such as V($request_uri) or V($remote_addr).
    type: str
  hash_consistent:
    description:
      - Use ketama consistent hashing with O(balance=hash).
    type: bool
    default: false
  keepalive:
    description:
      - Idle keepalive connections to the servers cached by each worker. The locations of O(vhosts) then
        speak HTTP/1.1 to the upstream and clear the C(Connection) header, as Nginx needs for keepalive.
    type: int
  vhosts:
    description:
      - Virtual hosts routed to this upstream. One C(server) block is rendered per host name and listen
        address, with one C(location) per distinct O(vhosts[].location) and C(proxy_pass http://<name>).
      - A host name and listen pair must be routed by one upstream only; Nginx ignores the second
        definition with a warning, which the module returns in RV(nginx_warnings).
    type: list
    elements: dict
    suboptions:
      name:
        description: Host name (C(server_name)); V(*.example.com), V(.example.com) and V(www.example.*) are accepted.
        type: str
        required: true
      listen:
        description: Listen address, V(PORT), V(ADDRESS:PORT), V([IPV6]:PORT) or V(*:PORT).
        type: str
        default: '80'
      location:
        description: Prefix location routed to the upstream.
        type: str
        default: /
  state:
    description:
      - V(present) writes the upstream file, V(absent) removes it.
      - With O(upstreams), the default state of the items that do not set their own.
    type: str
    choices: [present, absent]
    default: present
  upstreams:
    description:
      - Batch form, mutually exclusive with O(name). Every upstream is written, the configuration is
        validated once and Nginx is reloaded at most once. Either all changes stay or none does.
    type: list
    elements: dict
    suboptions:
      name:
        description: As O(name).
        type: str
        required: true
      servers:
        description: As O(servers).
        type: list
        elements: dict
        suboptions:
          address:
            description: As O(servers[].address).
            type: str
            required: true
          port:
            description: As O(servers[].port).
            type: int
            default: 80
          weight:
            description: As O(servers[].weight).
            type: int
          max_fails:
            description: As O(servers[].max_fails).
            type: int
          fail_timeout:
            description: As O(servers[].fail_timeout).
            type: str
          backup:
            description: As O(servers[].backup).
            type: bool
            default: false
          down:
            description: As O(servers[].down).
            type: bool
            default: false
      balance:
        description: As O(balance).
        type: str
        choices: [round_robin, least_conn, ip_hash, hash]
        default: round_robin
      hash_key:
        description: As O(hash_key).
        type: str
      hash_consistent:
        description: As O(hash_consistent).
        type: bool
        default: false
      keepalive:
        description: As O(keepalive).
        type: int
      vhosts:
        description: As O(vhosts).
        type: list
        elements: dict
        suboptions:
          name:
            description: As O(vhosts[].name).
            type: str
            required: true
          listen:
            description: As O(vhosts[].listen).
            type: str
            default: '80'
          location:
            description: As O(vhosts[].location).
            type: str
            default: /
      state:
        description: V(present) or V(absent); O(state) when not given.
        type: str
        choices: [present, absent]
  purge:
    description:
      - Also remove the managed upstream files in O(path) (files C(upstream-*.conf) whose first line is the
        header this module writes) of upstreams not listed in O(upstreams) or O(name).
      - Files without the header are never touched.
    type: bool
    default: false
  path:
    description:
      - Directory of the upstream files; the main configuration must include C(<path>/*.conf) in its
        C(http) block. The directory must exist.
    type: path
    default: /etc/nginx/conf.d
  validate:
    description:
      - Run C(nginx -t -c <nginx_conf>) after writing, and put every file back if it fails.
      - V(false) writes without checking; O(reload=true) then is refused.
    type: bool
    default: true
  reload:
    description:
      - Reload Nginx (C(nginx -c <nginx_conf> -s reload)) after a successful write and validation.
      - V(false) leaves reloading to a handler (notify it when the task reports a change).
    type: bool
    default: false
  nginx_binary:
    description: The Nginx executable, a path or a name looked up on E(PATH).
    type: str
    default: nginx
  nginx_conf:
    description: The main configuration that C(nginx -t -c) checks and whose C(pid) the reload signals.
    type: path
    default: /etc/nginx/nginx.conf
notes:
  - A file named C(upstream-<name>.conf) without the managed header is never overwritten or removed; the task
    fails instead.
  - The directory is locked (C(flock) on a hidden lock file in O(path)) while the task plans and writes, so
    concurrent runs and the service-discovery daemon do not interleave.
  - The reload signal is asynchronous; a listen address that cannot be bound is reported by Nginx in its
    error log, not by the task.
seealso:
  - name: Nginx upstream module
    description: The directives this module renders.
    link: https://nginx.org/en/docs/http/ngx_http_upstream_module.html
"""

EXAMPLES = r"""
- name: Publish the web service behind www.example.com
  pptv.dcos.nginx_upstream:
    name: web
    servers:
      - address: 10.20.0.11
        port: 8080
      - address: 10.20.0.12
        port: 8080
        weight: 2
    balance: least_conn
    keepalive: 16
    vhosts:
      - name: www.example.com
        listen: '80'
  notify: Reload nginx

- name: Route by a request key, validate and reload now
  pptv.dcos.nginx_upstream:
    name: cache
    servers:
      - address: 10.20.0.21
        port: 6081
        max_fails: 3
        fail_timeout: 10s
    balance: hash
    hash_key: $request_uri
    hash_consistent: true
    reload: true

- name: Write many upstreams, validate once, reload once, remove the managed ones not listed
  pptv.dcos.nginx_upstream:
    upstreams:
      - name: api
        servers:
          - address: 10.20.0.31
            port: 9000
      - name: old-api
        state: absent
    purge: true
    reload: true

- name: Remove an upstream
  pptv.dcos.nginx_upstream:
    name: web
    state: absent
"""

RETURN = r"""
changed:
  description: Whether a file was (or in check mode would be) written or removed.
  returned: always
  type: bool
actions:
  description: The steps taken (or that would be taken in check mode), in order.
  returned: always
  type: list
  elements: str
  sample: ["create /etc/nginx/conf.d/upstream-web.conf", "validate /etc/nginx/nginx.conf", "reload nginx"]
files:
  description: The files written, created or removed (or that would be).
  returned: always
  type: list
  elements: str
  sample: [/etc/nginx/conf.d/upstream-web.conf]
upstreams:
  description: Each upstream of the task with its file, its wanted state and whether its file changes.
  returned: always
  type: list
  elements: dict
  sample:
    - name: web
      path: /etc/nginx/conf.d/upstream-web.conf
      state: present
      changed: true
validated:
  description: Whether C(nginx -t) accepted the configuration in this run.
  returned: always
  type: bool
reloaded:
  description: Whether Nginx was reloaded in this run.
  returned: always
  type: bool
nginx_warnings:
  description: Warning lines of C(nginx -t) (for example a conflicting server name).
  returned: always
  type: list
  elements: str
nginx_errors:
  description: Nginx's error lines, when C(nginx -t) refused the configuration and the files were restored.
  returned: failure
  type: list
  elements: str
  sample: ['[emerg] unknown "nosuchvar" variable']
nginx_output:
  description: The whole output of the refused C(nginx -t) run.
  returned: failure
  type: str
option:
  description: The option at fault, when a value was refused (for example V(upstreams[3].servers[0].address)).
  returned: failure
  type: str
  sample: servers[0].address
diff:
  description: One entry per changed file, with the rendered text before and after (with C(--diff)).
  returned: when diff mode is on
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pptv.dcos.plugins.module_utils import _nginx
from ansible_collections.pptv.dcos.plugins.module_utils._diff import ChangeRecord
from ansible_collections.pptv.dcos.plugins.module_utils._errors import DcosError, fail_from
from ansible_collections.pptv.dcos.plugins.module_utils._nginx_upstream import NginxUpstreamManager

SERVER_SPEC = {
    "address": {"type": "str", "required": True},
    "port": {"type": "int", "default": 80},
    "weight": {"type": "int"},
    "max_fails": {"type": "int"},
    "fail_timeout": {"type": "str"},
    "backup": {"type": "bool", "default": False},
    "down": {"type": "bool", "default": False},
}
VHOST_SPEC = {
    "name": {"type": "str", "required": True},
    "listen": {"type": "str", "default": "80"},
    "location": {"type": "str", "default": "/"},
}
BALANCE = list(_nginx.BALANCE_METHODS)
STATES = list(_nginx.STATES)


def upstream_spec(batch):
    spec = {
        "name": {"type": "str", "required": batch},
        "servers": {"type": "list", "elements": "dict", "options": SERVER_SPEC},
        "balance": {"type": "str", "choices": BALANCE, "default": "round_robin"},
        "hash_key": {"type": "str", "no_log": False},
        "hash_consistent": {"type": "bool", "default": False},
        "keepalive": {"type": "int"},
        "vhosts": {"type": "list", "elements": "dict", "options": VHOST_SPEC},
        "state": {"type": "str", "choices": STATES},
    }
    if not batch:
        spec["state"]["default"] = "present"
    return spec


def argument_spec():
    spec = upstream_spec(batch=False)
    spec.update(
        upstreams={"type": "list", "elements": "dict", "options": upstream_spec(batch=True)},
        purge={"type": "bool", "default": False},
        path={"type": "path", "default": "/etc/nginx/conf.d"},
        validate={"type": "bool", "default": True},
        reload={"type": "bool", "default": False},
        nginx_binary={"type": "str", "default": "nginx"},
        nginx_conf={"type": "path", "default": "/etc/nginx/nginx.conf"},
    )
    return spec


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        mutually_exclusive=[
            ("name", "upstreams"),
            ("servers", "upstreams"),
            ("vhosts", "upstreams"),
            ("hash_key", "upstreams"),
            ("keepalive", "upstreams"),
        ],
        required_one_of=[("name", "upstreams")],
        supports_check_mode=True,
    )

    def runner(argv):
        # handle_exceptions=False: a missing binary must reach the core (which puts files back),
        # not end the module from inside run_command.
        return module.run_command(argv, handle_exceptions=False)

    record = ChangeRecord(check_mode=module.check_mode, diff_mode=module._diff)
    try:
        manager = NginxUpstreamManager(module.params, runner, record)
        result = manager.run()
    except DcosError as e:
        fail_from(module, e, record)
    for warning in result["nginx_warnings"]:
        module.warn(f"nginx -t: {warning}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
