# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The marathon_endpoints lookup, with ``open_url`` answering like Marathon."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleError
from ansible.plugins.loader import lookup_loader

from ansible_collections.pptv.dcos.plugins.module_utils import _marathon_client
from ansible_collections.pptv.dcos.tests.unit.plugins.marathon_fake import FakeMarathon


@pytest.fixture
def fake(monkeypatch):
    marathon = FakeMarathon()
    monkeypatch.setattr(_marathon_client, "open_url", marathon)
    marathon.add_app({"id": "/int/web", "cmd": "x", "instances": 2, "healthChecks": [{"protocol": "HTTP"}]})
    marathon.add_app({"id": "/int/api", "cmd": "x", "instances": 1})
    return marathon


@pytest.fixture
def lookup():
    return lookup_loader.get("pptv.dcos.marathon_endpoints")


def test_endpoints_of_several_apps(fake, lookup):
    assert lookup.run(["/int/web", "int/api"], variables={}, url="http://marathon.test:8080") == [
        "10.0.0.1:31000",
        "10.0.0.1:31001",
        "10.0.0.1:31000",
    ]
    assert fake.writes == []


def test_unhealthy_tasks_are_left_out_unless_asked(fake, lookup):
    for task in fake.apps["/int/web"]["tasks"][:1]:
        task["healthCheckResults"] = [{"alive": False}]
    assert lookup.run(["/int/web"], variables={}, url="http://marathon.test:8080") == ["10.0.0.1:31001"]
    everything = lookup.run(["/int/web"], variables={}, url="http://marathon.test:8080", healthy_only=False)
    assert everything == ["10.0.0.1:31000", "10.0.0.1:31001"]


def test_the_url_comes_from_a_variable(fake, lookup):
    assert lookup.run(["/int/api"], variables={"marathon_url": "http://marathon.test:8080"}) == ["10.0.0.1:31000"]


def test_a_missing_app_is_an_error_or_nothing(fake, lookup):
    with pytest.raises(AnsibleError, match="pptv.dcos.marathon_endpoints: app /int/nope does not exist in Marathon"):
        lookup.run(["/int/nope"], variables={}, url="http://marathon.test:8080")
    assert lookup.run(["/int/nope"], variables={}, url="http://marathon.test:8080", missing="empty") == []


def test_a_bad_app_id_is_an_ansible_error(fake, lookup):
    with pytest.raises(AnsibleError, match="app id: '/Bad Id' is not valid: a Marathon app id"):
        lookup.run(["Bad Id"], variables={}, url="http://marathon.test:8080")


# -- hostile options (issue 10) -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"port_index": -1}, "port_index: must be 0 or more, got -1"),
        ({"port_index": 1}, "port_index: 1 is out of range: app /int/api has 1 port(s) (port_index 0 to 0)"),
        ({"port_index": True}, "port_index: must be an integer, got True"),
        ({"port_index": "1.5"}, "port_index: must be an integer, got '1.5'"),
        ({"healthy_only": "banana"}, "healthy_only: must be a boolean (true or false), got 'banana'"),
        ({"healthy_only": 2}, "healthy_only: must be a boolean (true or false), got 2"),
        ({"validate_certs": "maybe"}, "validate_certs: must be a boolean (true or false), got 'maybe'"),
        ({"timeout": -1}, "timeout: must be more than 0, got -1"),
        ({"timeout": "inf"}, "timeout: must be a finite number, got inf"),
        ({"url": "https://ops:pw@marathon.test:8080"}, "url: https://marathon.test:8080 holds credentials"),
    ],
)
def test_hostile_options_fail_naming_the_option(fake, lookup, options, message):
    kwargs = dict({"url": "http://marathon.test:8080"}, **options)
    with pytest.raises(AnsibleError) as error:
        lookup.run(["/int/api"], variables={}, **kwargs)
    assert f"pptv.dcos.marathon_endpoints: {message}" in str(error.value)
    assert "ops:pw" not in str(error.value)


def test_boolean_words_are_accepted(fake, lookup):
    for word in ("no", "false", "0", False):
        assert lookup.run(["/int/api"], variables={}, url="http://marathon.test:8080", healthy_only=word) == [
            "10.0.0.1:31000"
        ]
