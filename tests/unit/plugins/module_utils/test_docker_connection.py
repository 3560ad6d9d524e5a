# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""TLS settings pointing at missing files fail in words naming the option, not with a traceback."""

from __future__ import annotations

import pytest

from ansible_collections.pptv.dcos.plugins.module_utils._docker_connection import docker_client
from ansible_collections.pptv.dcos.plugins.module_utils._errors import DcosError


@pytest.mark.parametrize(
    "params, option",
    [
        ({"validate_certs": True, "ca_path": "{tmp}/nope/ca.pem"}, "ca_path ({tmp}/nope/ca.pem) not found"),
        (
            {"tls": True, "client_cert": "{tmp}/cert.pem", "client_key": "{tmp}/key.pem"},
            "client_cert ({tmp}/cert.pem), client_key ({tmp}/key.pem) not found",
        ),
    ],
)
def test_missing_tls_files_name_the_option(tmp_path, params, option):
    params = {key: value.format(tmp=tmp_path) if isinstance(value, str) else value for key, value in params.items()}
    params["docker_host"] = "tcp://127.0.0.1:1"
    with pytest.raises(DcosError) as err:
        docker_client(params, environ={})
    assert err.value.msg.startswith(option.format(tmp=tmp_path) + ": ")
