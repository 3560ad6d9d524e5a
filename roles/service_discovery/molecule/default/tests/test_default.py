# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The discovery daemon after converge: installed, configured, running, restarted when it dies."""

import json
import time

CONFIG = "/etc/pptv-dcos/discovery.yml"
KEY = "/etc/pptv-dcos/discovery.key"
SECRET = "cHB0dnNkci1tb2xlY3VsZS1vbmx5LXRlc3Qta2V5IQ=="
MODULE = "ansible_collections.pptv.dcos.plugins.module_utils._discovery_daemon"


def _status(host):
    for _attempt in range(40):
        answer = host.run("curl -fsS http://127.0.0.1:9900/status")
        if answer.rc == 0:
            return json.loads(answer.stdout)
        time.sleep(0.5)
    raise AssertionError(f"/status did not answer: {answer.stderr}")


def _main_pid(host):
    return int(host.check_output("systemctl show -p MainPID --value pptv-dcos-discovery"))


def test_the_daemon_is_enabled_and_running(host):
    unit = host.service("pptv-dcos-discovery")
    assert unit.is_enabled
    assert unit.is_running


def test_the_configuration_passes_the_daemons_own_check(host):
    out = host.check_output(f"PYTHONPATH=/opt/pptv-dcos-discovery python3 -m {MODULE} --config {CONFIG} --check-config")
    assert "config OK" in out


def test_the_secret_is_only_in_the_key_file(host):
    key = host.file(KEY)
    assert key.mode == 0o600
    assert SECRET in key.content_string
    config = host.file(CONFIG)
    assert config.mode == 0o640
    assert SECRET not in config.content_string
    assert f"key_file: {KEY}" in config.content_string


def test_status_reports_the_environment_and_the_unreachable_marathon(host):
    status = _status(host)
    assert set(status["environments"]) == {"int"}
    env = status["environments"]["int"]
    assert env["gateway"] == "10.210.11.20"
    assert env["dns"] == "10.210.11.53"
    assert status["last_sync"] is None
    assert status["last_error"]


def test_systemd_restarts_the_daemon_when_it_dies(host):
    before = _main_pid(host)
    with host.sudo():
        host.check_output(f"kill -9 {before}")
    for _attempt in range(40):
        after = _main_pid(host)
        if after not in (0, before):
            break
        time.sleep(0.5)
    assert after not in (0, before)
    assert _status(host)["environments"]
