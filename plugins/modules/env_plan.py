#!/usr/bin/python
# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 (imports follow the documentation, as ansible-test requires)

from __future__ import annotations

DOCUMENTATION = r"""
module: env_plan
short_description: Validate the app catalogue and compute what one environment deploys
version_added: 0.1.0
description:
  - Reads nothing and changes nothing. Validates the whole app catalogue (O(catalogue)) and the
    environment name (O(env)), then computes what that environment deploys on Marathon.
  - The fallback env (O(fallback_env)) and every env whose name does not start with V(func-) deploy
    every service of the catalogue. V(func-<project>) is a functional env; it deploys the services of
    that project, plus its own copies of the shared services (entries without C(project)) they depend
    on, transitively through shared services. The other projects' services they call are not deployed;
    they are listed in RV(fallback) (their names resolve to the fallback env's answers through the
    env's DNS).
  - With O(ips), also renders each app's Marathon definition, ready for the O(pptv.dcos.marathon_app#module:apps)
    option of M(pptv.dcos.marathon_app). Each app gets the docker parameters C(net), C(ip) and C(dns) (the env's
    DNS server), its logs directory bind-mounted at O(logs_container_path), its data directory at
    C(data_path) when it is stateful, an C(upgradeStrategy) that stops the old task before the new one starts
    (one fixed IP, one task), a C(MESOS_HTTP) or C(MESOS_TCP) health check, and the labels of the
    service-discovery contract v1.
  - With O(release), plans the promotion of one service instead (its main app on a new image by digest, and
    optionally canary apps beside it).
  - 'Every problem is reported before anything is deployed, naming the catalogue entry
    (C(catalogue entry 2 (web\): port: must be 65535 or less, got 70000)) or the option. See
    C(docs/catalogue.md) for the format of the catalogue and every rule.'
author: pptv.dcos maintainers (@pptv-dcos)
extends_documentation_fragment:
  - pptv.dcos._attributes.INFO_MODULE
options:
  catalogue:
    description:
      - The app catalogue (C(dcos_catalogue) of the inventories), one entry per service.
      - "Each entry: C(name) (required; the app ID is C(/<env>/<name>)), C(image) (required; C(repo[:tag]) or
        C(repo[:tag]@sha256:<64 hex>)), C(port) (required), C(protocol) (V(http) or V(tcp), default V(http)),
        C(check) (V(http) or V(tcp), default the protocol), C(check_path) (default V(/)), C(project),
        C(dependencies), C(stateful), C(data_path), C(fqdn), C(aliases), C(cpus), C(mem), C(instances), C(cmd),
        C(env)."
      - Unknown fields are refused.
    type: list
    elements: dict
    required: true
  env:
    description:
      - The environment to plan; a Marathon group segment (lower-case words joined by V(-)) and a key of O(envs).
    type: str
    required: true
  envs:
    description:
      - Every environment, name to a map with C(gateway) (its gateway address), C(dns_ip) (its DNS server's
        fixed IP) and optional C(zones) (the zones its DNS serves; default O(zones)).
      - Other keys of an env are left to the playbooks that use them.
    type: dict
    required: true
  zones:
    description:
      - The production zones. A service's C(fqdn) defaults to C(<name>.<first zone>); every name must lie
        inside one of them.
    type: list
    elements: str
    required: true
  fallback_env:
    description:
      - The integration environment, whose answers fill in the names a functional env does not define.
    type: str
    default: int
  network:
    description:
      - The Docker network the apps join (docker parameter C(net)).
    type: str
    required: true
  logs_root:
    description:
      - The agents' GlusterFS logs mount; an app's logs directory is C(<logs_root>/<env>/<name>).
    type: str
    default: /home/logs
  data_root:
    description:
      - The agents' GlusterFS data mount; a stateful app's data directory is C(<data_root>/<env>/<name>).
    type: str
    default: /home/data
  logs_container_path:
    description:
      - Where the logs directory is mounted inside each container. A C(data_path) equal to it is refused.
    type: str
    default: /home/logs
  ips:
    description:
      - App ID to fixed IP (the allocations of M(pptv.dcos.ip_pool)). When given, RV(apps) is returned.
      - Every app the env deploys needs an address; other keys are ignored.
      - With O(release) and O(release.canary_instances) more than 0, each canary app ID needs its own address.
    type: dict
  release:
    description:
      - A promotion of one service (what C(promote.yml) deploys). The whole catalogue is still validated, but
        the plan covers only that service's main app, on O(release.image), and, with
        O(release.canary_instances), its canary apps C(/<env>/<name>-canary-1) ... C(-canary-<N>) beside it;
        RV(services), RV(app_ids) (main app first), RV(log_dirs), RV(data_dirs) and RV(apps) hold those apps only.
      - The main app's definition is the one a plan without O(release) renders, but for the image; promoting
        the image already deployed plans the same definition.
      - Each canary's definition is the main app's with its own app ID, one instance (an app has one fixed IP, so
        one task), its own fixed IP (from O(ips)) and logs directory C(<logs_root>/<env>/<name>-canary-<i>), and
        the label C(pptv.dcos/canary-of) set to the main app's ID (the discovery daemon serves the main app's names
        from all of them).
    type: dict
    suboptions:
      service:
        description:
          - The catalogue name of the service to release; one of the services the env deploys.
        type: str
        required: true
      image:
        description:
          - The image to run, by digest, C(repository@sha256:<64 lower-case hex digits>). Its repository (registry
            and path, without tag or digest) must be the repository of the service's catalogue C(image), compared as
            written (V(redis) is not V(docker.io/library/redis)).
          - A C(repository:tag@sha256:...) reference is accepted and kept as given, tag included (Docker pulls by
            the digest; the tag is not compared with the catalogue's).
        type: str
        required: true
      canary_instances:
        description:
          - The number of canary apps (one task each); V(0) plans no canary. At most V(20).
          - A stateful service cannot have a canary (two tasks on one data directory), and the canaries' names
            C(<name>-canary-<i>) must not be names of catalogue services.
        type: int
        default: 0
notes:
  - The module runs on the controller and needs no connection to anything.
seealso:
  - module: pptv.dcos.marathon_app
  - module: pptv.dcos.ip_pool
"""

EXAMPLES = r"""
- name: Validate the catalogue and pick the services of func-shop
  pptv.dcos.env_plan:
    catalogue: "{{ dcos_catalogue }}"
    env: func-shop
    envs: "{{ dcos_envs }}"
    zones: "{{ dcos_zones }}"
    network: "{{ dcos_network.name }}"
  register: plan

- name: Allocate each app's IP
  pptv.dcos.ip_pool:
    pool: lab
    path: /var/lib/pptv-dcos/pool.json
    app_ids: "{{ plan.app_ids }}"
  register: allocation

- name: Render the app definitions with their IPs
  pptv.dcos.env_plan:
    catalogue: "{{ dcos_catalogue }}"
    env: func-shop
    envs: "{{ dcos_envs }}"
    zones: "{{ dcos_zones }}"
    network: "{{ dcos_network.name }}"
    ips: "{{ allocation.allocations | items2dict(key_name='app_id', value_name='ip') }}"
  register: plan_apps

- name: Deploy them in one call
  pptv.dcos.marathon_app:
    url: http://127.0.0.1:8080
    apps: "{{ plan_apps.apps }}"

- name: Plan the promotion of web in prod, by digest, with a canary of one instance
  pptv.dcos.env_plan:
    catalogue: "{{ dcos_catalogue }}"
    env: prod
    envs: "{{ dcos_envs }}"
    zones: "{{ dcos_zones }}"
    network: "{{ dcos_network.name }}"
    ips: "{{ allocation.allocations | items2dict(key_name='app_id', value_name='ip') }}"
    release:
      service: web
      image: registry.example.com/shop/web@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
      canary_instances: 1
  register: release_plan
# release_plan.app_ids: [/prod/web, /prod/web-canary-1]
"""

RETURN = r"""
env:
  description: The environment planned.
  returned: success
  type: str
  sample: func-shop
kind:
  description:
    - V(integration) (the fallback env), V(functional) (V(func-<project>)) or V(full) (any other env; every service).
  returned: success
  type: str
  sample: functional
project:
  description: The project of a functional env; null otherwise.
  returned: success
  type: str
  sample: shop
services:
  description:
    - The services the env deploys, in catalogue order.
    - With O(release), the released service (with its release image), then its canaries.
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: The service's name.
      type: str
    app_id:
      description: Its Marathon app ID, C(/<env>/<name>).
      type: str
    fqdn:
      description: Its DNS name (the production name).
      type: str
    names:
      description: The fqdn, then the aliases.
      type: list
      elements: str
    port:
      description: The service port.
      type: int
    protocol:
      description: V(http) (through the env gateway's Nginx) or V(tcp) (the name points at the app).
      type: str
    check:
      description: The health check kind, V(http) or V(tcp).
      type: str
    image:
      description: The Docker image.
      type: str
    project:
      description: Its project; null for a shared service.
      type: str
    stateful:
      description: Whether it keeps data.
      type: bool
    dependencies:
      description: The catalogue services it calls.
      type: list
      elements: str
    copy:
      description: True for a shared service copied into a functional env.
      type: bool
    canary_of:
      description: For the canary of a release, the app ID of its main app; null otherwise.
      type: str
    log_dir:
      description: Its logs directory on the agents, C(<logs_root>/<env>/<name>).
      type: str
    data_dir:
      description: Its data directory on the agents, C(<data_root>/<env>/<name>); null when not stateful.
      type: str
  sample:
    - {"name": "redis", "app_id": "/func-shop/redis", "fqdn": "redis.pptv.lab", "names": ["redis.pptv.lab"],
       "port": 6379, "protocol": "tcp", "check": "tcp", "image": "redis:7", "project": null, "stateful": true,
       "dependencies": [], "copy": true, "canary_of": null, "log_dir": "/home/logs/func-shop/redis",
       "data_dir": "/home/data/func-shop/redis"}
app_ids:
  description: The app IDs of RV(services), in order.
  returned: success
  type: list
  elements: str
  sample: ["/func-shop/redis", "/func-shop/web"]
log_dirs:
  description: The logs directories of RV(services), in order.
  returned: success
  type: list
  elements: str
  sample: ["/home/logs/func-shop/redis", "/home/logs/func-shop/web"]
data_dirs:
  description: The data directories of the stateful services, in order.
  returned: success
  type: list
  elements: str
  sample: ["/home/data/func-shop/redis"]
fallback:
  description:
    - The services the env's services call that it does not deploy (other projects' services of a functional
      env); their names resolve to the fallback env's answers. Empty for other kinds.
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: The service's name.
      type: str
    fqdn:
      description: Its DNS name.
      type: str
    port:
      description: Its port.
      type: int
    protocol:
      description: Its protocol.
      type: str
  sample: [{"name": "api", "fqdn": "api.pptv.lab", "port": 8081, "protocol": "http"}]
apps:
  description:
    - The O(pptv.dcos.marathon_app#module:apps) list of M(pptv.dcos.marathon_app), one entry per app of
      RV(app_ids), in order.
  returned: when O(ips) is given
  type: list
  elements: dict
  contains:
    app_id:
      description: The app ID.
      type: str
    definition:
      description: The Marathon app definition.
      type: dict
  sample:
    - app_id: /func-shop/web
      definition:
        instances: 1
        cpus: 0.1
        mem: 128.0
        env: {}
        labels: {"pptv.dcos/contract": "1", "pptv.dcos/env": "func-shop", "pptv.dcos/name": "web.pptv.lab",
                 "pptv.dcos/port": "8080", "pptv.dcos/protocol": "http", "pptv.dcos/ip": "10.201.0.105"}
        container:
          type: DOCKER
          docker:
            image: pptv-dcos/sample:bookworm
            parameters: [{"key": "net", "value": "pptv-lab"}, {"key": "ip", "value": "10.201.0.105"},
                         {"key": "dns", "value": "10.201.0.31"}]
          volumes: [{"containerPath": "/home/logs", "hostPath": "/home/logs/func-shop/web", "mode": "RW"}]
        networks: [{"mode": "host"}]
        portDefinitions: []
        healthChecks: [{"protocol": "MESOS_HTTP", "port": 8080, "path": "/", "gracePeriodSeconds": 60,
                        "intervalSeconds": 5, "timeoutSeconds": 3, "maxConsecutiveFailures": 3}]
release:
  description: The release planned.
  returned: when O(release) is given
  type: dict
  contains:
    service:
      description: The service released.
      type: str
    app_id:
      description: Its main app's ID.
      type: str
    canary_app_ids:
      description: The canary apps' IDs, C(/<env>/<name>-canary-<i>); empty when O(release.canary_instances) is 0.
      type: list
      elements: str
    image:
      description: The release image, as given.
      type: str
    canary_instances:
      description: The number of canary apps (0 for no canary).
      type: int
  sample:
    service: web
    app_id: /prod/web
    canary_app_ids: [/prod/web-canary-1]
    image: registry.example.com/shop/web@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
    canary_instances: 1
actions:
  description: Always empty (the module changes nothing).
  returned: always
  type: list
  elements: str
  sample: []
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pptv.dcos.plugins.module_utils import _catalogue
from ansible_collections.pptv.dcos.plugins.module_utils._diff import ChangeRecord
from ansible_collections.pptv.dcos.plugins.module_utils._errors import DcosError, fail_from


def argument_spec():
    return dict(
        catalogue=dict(type="list", elements="dict", required=True),
        env=dict(type="str", required=True),
        envs=dict(type="dict", required=True),
        zones=dict(type="list", elements="str", required=True),
        fallback_env=dict(type="str", default=_catalogue.DEFAULT_FALLBACK_ENV),
        network=dict(type="str", required=True),
        logs_root=dict(type="str", default=_catalogue.DEFAULT_LOGS_ROOT),
        data_root=dict(type="str", default=_catalogue.DEFAULT_DATA_ROOT),
        logs_container_path=dict(type="str", default=_catalogue.DEFAULT_LOGS_CONTAINER_PATH),
        ips=dict(type="dict"),
        release=dict(
            type="dict",
            options=dict(
                service=dict(type="str", required=True),
                image=dict(type="str", required=True),
                canary_instances=dict(type="int", default=0),
            ),
        ),
    )


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    record = ChangeRecord(check_mode=module.check_mode, diff_mode=module._diff)
    try:
        result = record.result(**_catalogue.plan(module.params))
    except DcosError as e:
        fail_from(module, e, record)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
