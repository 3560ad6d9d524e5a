# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""TLS settings pointing at missing files fail in words naming the option, not with a traceback."""

from __future__ import annotations

import pytest

from ansible_collections.pptv.dcos.plugins.module_utils._docker_connection import connection_settings, docker_client
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


def test_tls_variables_are_read_from_the_environment_given(monkeypatch):
    monkeypatch.delenv("DOCKER_TLS_VERIFY", raising=False)
    with pytest.raises(DcosError) as err:
        connection_settings({}, environ={"DOCKER_TLS_VERIFY": "1"})
    assert err.value.msg.startswith("validate_certs needs ca_path")
    assert connection_settings({}, environ={})["tls"] is False


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"api_version": "banana"}, "api_version: 'banana' is not valid: auto or a version like 1.43"),
        ({"api_version": "1"}, "api_version: '1' is not valid"),
        ({"timeout": float("nan")}, "timeout: must be a finite number"),
        ({"docker_host": "ftp://engine:21"}, "docker_host: 'ftp://engine:21' is not valid"),
        ({"docker_host": "tcp://engine:0"}, "docker_host: must be 1 or more, got 0"),
    ],
)
def test_connection_options_name_the_option(params, words):
    with pytest.raises(DcosError) as err:
        connection_settings(params, environ={})
    assert err.value.msg.startswith(words), err.value.msg


def test_good_connection_options_pass():
    for host in ("unix:///var/run/docker.sock", "tcp://10.0.0.5:2376", "https://engine:2376", "ssh://ops@engine"):
        assert connection_settings({"docker_host": host, "api_version": "1.43"}, environ={})["base_url"] == host
