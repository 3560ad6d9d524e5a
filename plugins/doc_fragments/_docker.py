# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Docker engine connection options shared by the modules that talk to the engine.

The options are :data:`DOCKER_CONNECTION_ARGS` in ``plugins/module_utils/_docker_connection.py``;
keep the two in step.
"""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  docker_host:
    description:
      - The Docker engine API to talk to, for example V(unix:///var/run/docker.sock) or V(tcp://10.0.0.5:2376).
      - When not given, the E(DOCKER_HOST) environment variable is used, then V(unix:///var/run/docker.sock).
      - One of V(unix:///path/to/socket), V(tcp://host:port), V(http://host:port), V(https://host:port) or
        V(ssh://[user@]host); anything else (from the option or from E(DOCKER_HOST)) fails naming it.
    type: str
    default: unix:///var/run/docker.sock
    aliases: [docker_url]
  tls:
    description:
      - Talk to the engine over TLS without checking its certificate (use O(validate_certs=true) to check it).
      - Taken from E(DOCKER_TLS) when not given.
    type: bool
    default: false
  validate_certs:
    description:
      - Talk to the engine over TLS and check its certificate against O(ca_path).
      - Taken from E(DOCKER_TLS_VERIFY) when not given.
    type: bool
    default: false
    aliases: [tls_verify]
  ca_path:
    description: CA certificate that signed the engine's certificate (E(DOCKER_CERT_PATH)/ca.pem by default).
    type: path
    aliases: [ca_cert, tls_ca_cert, cacert_path]
  client_cert:
    description: Client certificate presented to the engine (E(DOCKER_CERT_PATH)/cert.pem by default).
    type: path
    aliases: [tls_client_cert, cert_path]
  client_key:
    description: Key of O(client_cert) (E(DOCKER_CERT_PATH)/key.pem by default).
    type: path
    aliases: [tls_client_key, key_path]
  timeout:
    description: Seconds to wait for an answer of the engine (more than 0).
    type: int
    default: 60
  api_version:
    description: Docker API version to speak (V(MAJOR.MINOR), like V(1.43)), or V(auto) to take the engine's.
    type: str
    default: auto
    aliases: [docker_api_version]
requirements:
  - Docker SDK for Python (C(docker)) >= 7.0 on the host that runs the module.
"""
