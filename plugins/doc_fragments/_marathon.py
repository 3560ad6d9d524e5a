# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Marathon connection options, paired with ``MARATHON_CONNECTION_SPEC`` in
``plugins/module_utils/_marathon_client.py`` (PRIVATE to the collection; keep both in step)."""

from __future__ import annotations


class ModuleDocFragment:
    # For modules: set them once per play with
    # module_defaults: {group/pptv.dcos.marathon: {url: ..., username: ..., password: ...}}.
    DOCUMENTATION = r"""
options:
  url:
    description:
      - One or more base URLs of Marathon (for example V(http://10.0.0.1:8080)), tried in order.
      - A URL that cannot be reached, answers 502/503 (a standby without a leader) or times out is
        skipped for the next one; redirects to the leader are followed.
      - When not given, the E(MARATHON_URL) environment variable is used (several URLs separated by commas).
      - A URL with credentials inside (V(https://user:pw@host)) is refused; give them as O(username) and
        O(password), which are never logged.
    type: list
    elements: str
    aliases: [marathon_url]
  username:
    description:
      - User name for HTTP basic authentication. Requires O(password).
      - When not given, the E(MARATHON_USERNAME) environment variable is used.
    type: str
    aliases: [url_username]
  password:
    description:
      - Password for HTTP basic authentication. Never logged nor returned.
      - When not given, the E(MARATHON_PASSWORD) environment variable is used.
    type: str
    aliases: [url_password]
  token:
    description:
      - "An authentication token (DC/OS), sent as C(Authorization: token=<token>). Never logged nor returned."
      - Mutually exclusive with O(username) and O(password).
      - When not given, the E(MARATHON_TOKEN) environment variable is used.
    type: str
  validate_certs:
    description:
      - Verify the TLS certificate of an V(https://) URL.
    type: bool
    default: true
  ca_path:
    description:
      - A PEM file of the certificate authorities to trust for V(https://) URLs.
    type: path
  client_cert:
    description:
      - A PEM client certificate (may also hold the key) for TLS client authentication.
    type: path
  client_key:
    description:
      - The PEM private key of O(client_cert), when it is in its own file.
    type: path
  timeout:
    description:
      - Seconds to wait for each HTTP answer (more than 0).
    type: float
    default: 10
"""

    # For lookups: the same options, also read from variables and the environment.
    PLUGIN = r"""
options:
  url:
    description:
      - One or more base URLs of Marathon, tried in order (a list, or one string of comma-separated URLs).
      - A URL with credentials inside (V(https://user:pw@host)) is refused; use O(username) and O(password).
    type: list
    elements: str
    env:
      - name: MARATHON_URL
    vars:
      - name: marathon_url
  username:
    description: User name for HTTP basic authentication.
    type: str
    env:
      - name: MARATHON_USERNAME
    vars:
      - name: marathon_username
  password:
    description: Password for HTTP basic authentication.
    type: str
    env:
      - name: MARATHON_PASSWORD
    vars:
      - name: marathon_password
  token:
    description: "An authentication token, sent as C(Authorization: token=<token>)."
    type: str
    env:
      - name: MARATHON_TOKEN
    vars:
      - name: marathon_token
  validate_certs:
    description: Verify the TLS certificate of an V(https://) URL. A value that is not a boolean fails.
    type: bool
    default: true
  ca_path:
    description: A PEM file of the certificate authorities to trust.
    type: path
  client_cert:
    description: A PEM client certificate for TLS client authentication.
    type: path
  client_key:
    description: The PEM private key of O(client_cert).
    type: path
  timeout:
    description: Seconds to wait for each HTTP answer (more than 0).
    type: float
    default: 10
"""
