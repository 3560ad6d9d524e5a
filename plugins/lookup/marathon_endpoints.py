# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 (imports follow the documentation, as ansible-test requires)

from __future__ import annotations

DOCUMENTATION = r"""
name: marathon_endpoints
short_description: The running endpoints (ip:port) of Marathon apps
version_added: 0.1.0
description:
  - Returns C(ip:port) of every running task of the given apps, healthy ones only by default, for
    templates (an Nginx upstream, a client's server list).
  - Read-only; runs on the controller, also in check mode.
author: pptv.dcos maintainers (@pptv-dcos)
extends_documentation_fragment:
  - pptv.dcos._marathon.PLUGIN
options:
  _terms:
    description: App ids (V(/int/web)).
    required: true
    type: list
    elements: str
  healthy_only:
    description:
      - Only tasks whose health checks all pass (apps without health checks count every running task).
      - A value that is not a boolean (V(banana)) fails.
    type: bool
    default: true
  port_index:
    description:
      - Which of the app's ports to give (the first is V(0)).
      - An index the app does not have (negative, or past its last port) fails; an app without any
        port gives bare addresses for V(0). A task that has no such port yet is left out.
    type: int
    default: 0
  address:
    description:
      - V(host) gives the agent's address and the host port.
      - V(task_ip) gives the task's own IP address and, when the app maps ports, the container port.
      - V(auto) is V(task_ip) for apps on a container network and V(host) otherwise.
    type: str
    choices: [auto, host, task_ip]
    default: auto
  missing:
    description: What an app that does not exist gives.
    type: str
    choices: [error, empty]
    default: error
"""

EXAMPLES = r"""
- name: Render the upstream of the web app
  ansible.builtin.debug:
    msg: "{{ lookup('pptv.dcos.marathon_endpoints', '/int/web', url='http://127.0.0.1:8080') }}"

- name: Every running task, healthy or not, by the task's own IP
  ansible.builtin.debug:
    msg: "{{ query('pptv.dcos.marathon_endpoints', '/int/web', '/int/api', healthy_only=false, address='task_ip') }}"
"""

RETURN = r"""
_raw:
  description: C(ip:port) strings, sorted, of all the apps given.
  type: list
  elements: str
"""

from ansible.errors import AnsibleError
from ansible.plugins.lookup import LookupBase

from ansible_collections.pptv.dcos.plugins.module_utils import _validate
from ansible_collections.pptv.dcos.plugins.module_utils._errors import DcosError
from ansible_collections.pptv.dcos.plugins.module_utils._marathon_app import app_endpoints, normalize_app_id
from ansible_collections.pptv.dcos.plugins.module_utils._marathon_client import MarathonClient

_CONNECTION_OPTIONS = (
    "url",
    "username",
    "password",
    "token",
    "validate_certs",
    "ca_path",
    "client_cert",
    "client_key",
    "timeout",
)
# Ansible reads a lookup's bool options leniently ('banana' becomes false) and its int options
# from bools (true becomes 1): check what was written before it converts.
_BOOLEAN_OPTIONS = ("healthy_only", "validate_certs")


def check_given(options):
    """Strict checks of the options as written in the lookup call (before Ansible converts them)."""
    for name in _BOOLEAN_OPTIONS:
        if options.get(name) is not None:
            _validate.boolean(options[name], name)
    if options.get("port_index") is not None:
        _validate.integer(options["port_index"], "port_index", minimum=0)


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        endpoints = []
        try:
            check_given(kwargs)
            self.set_options(var_options=variables, direct=kwargs)
            params = {name: self.get_option(name) for name in _CONNECTION_OPTIONS}
            healthy_only = _validate.boolean(self.get_option("healthy_only"), "healthy_only")
            port_index = _validate.integer(self.get_option("port_index"), "port_index", minimum=0)
            client = MarathonClient.from_params(params)
            for term in terms:
                app_id = normalize_app_id(term, option="app id")
                app = client.get_app(app_id, embed=("app.tasks",))
                if app is None:
                    if self.get_option("missing") == "empty":
                        continue
                    raise DcosError(f"app {app_id} does not exist in Marathon")
                endpoints.extend(
                    app_endpoints(
                        app,
                        healthy_only=healthy_only,
                        port_index=port_index,
                        address=self.get_option("address"),
                    )
                )
        except DcosError as e:
            raise AnsibleError(f"pptv.dcos.marathon_endpoints: {e}") from None
        return endpoints
