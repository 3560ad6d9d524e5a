# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The env DNS app after converge, asked from the platform: authoritative, closed, TSIG-only."""

import os

SERVER = "10.210.12.53"
SECRET_FILE = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "lab", "tsig.secret")


def _secret():
    with open(SECRET_FILE, encoding="utf-8") as handle:
        return handle.read().strip()


def _update(host, name, key=True):
    script = f"server {SERVER}\\nzone pptv.lab\\nupdate add {name} 60 A 10.210.12.77\\nsend\\n"
    auth = f"-y hmac-sha256:pptv-discovery:{_secret()}" if key else ""
    return host.run(f"printf '{script}' | nsupdate {auth}")


def test_the_zones_are_served_with_soa_and_ns(host):
    for zone in ("pptv.lab", "pptv.internal"):
        soa = host.check_output(f"dig +short +norecurse @{SERVER} SOA {zone}")
        assert soa.startswith(f"ns1.{zone}. hostmaster.{zone}. ")
        assert host.check_output(f"dig +short @{SERVER} A ns1.{zone}") == SERVER


def test_names_outside_the_zones_are_refused_not_recursed(host):
    out = host.check_output(f"dig +time=2 +tries=1 @{SERVER} A example.com")
    assert "status: REFUSED" in out
    assert " ra" not in out.split("flags:")[1].split(";")[0]


def test_the_generated_key_is_base64_and_signs_updates(host):
    secret = _secret()
    assert len(secret) == 44
    assert _update(host, "signed.pptv.lab").rc == 0
    assert host.check_output(f"dig +short @{SERVER} A signed.pptv.lab") == "10.210.12.77"


def test_an_unsigned_update_is_refused(host):
    result = _update(host, "unsigned.pptv.lab", key=False)
    assert result.rc != 0
    assert "REFUSED" in result.stdout + result.stderr
    assert host.check_output(f"dig +short @{SERVER} A unsigned.pptv.lab") == ""


def test_a_zone_transfer_needs_the_key(host):
    assert "Transfer failed" in host.run(f"dig @{SERVER} AXFR pptv.lab").stdout
    signed = host.check_output(f"dig -y hmac-sha256:pptv-discovery:{_secret()} @{SERVER} AXFR pptv.lab")
    assert "SOA" in signed
