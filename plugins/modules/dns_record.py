#!/usr/bin/python
# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: dns_record
short_description: Manage DNS record sets with TSIG-signed dynamic updates (RFC 2136), one or hundreds at a time
version_added: 0.1.0
description:
  - Makes an authoritative DNS server (BIND, Knot, PowerDNS, ...) hold the given record sets, through RFC 2136
    dynamic updates signed with a TSIG key.
  - Reads every record set concerned first, so a second run with the same input changes nothing; a TTL-only
    difference is a change. A zone with many record sets in the task is read with one zone transfer (AXFR, signed
    with the key) instead of one query per record set; see O(read).
  - Each UPDATE carries prerequisites for the record sets it read (their exact records, or their absence). When
    another writer changes one of them between the read and the write, the server applies nothing of that
    message and the task fails naming the record sets, instead of overwriting the other writer silently.
  - The batch form O(records) converges many record sets (in one or several zones) with as few UPDATE messages as
    the changes fit in (a DNS message holds up to 64 KiB over TCP, about 1,180 new A records), not one per record.
  - After writing, the changed record sets are read again; a server that accepted an update but ignored part of
    it (BIND ignores a CNAME next to other data) makes the task fail.
author:
  - pptv.dcos maintainers (@pptv)
extends_documentation_fragment:
  - pptv.dcos._attributes
attributes:
  check_mode:
    support: full
    details: Reads the record sets and reports the changes; sends no UPDATE.
  diff_mode:
    support: full
    details: Shows each changed record set before and after, as its TTL and sorted values.
  idempotent:
    support: full
requirements:
  - dnspython >= 2.0
options:
  server:
    description:
      - The DNS server that is primary for the zone(s), as IP addresses or host names.
      - More than one is tried in order when one cannot be reached or does not answer in time (not when it
        answers with an error).
    type: list
    elements: str
    required: true
  port:
    description: The server's DNS port.
    type: int
    default: 53
  protocol:
    description:
      - Transport of queries and updates. Over V(udp) an UPDATE holds at most 1232 bytes, so a batch needs more
        messages; an answer truncated over UDP is asked again over TCP.
    type: str
    choices: [tcp, udp]
    default: tcp
  timeout:
    description: Seconds to wait for each answer before trying the next server.
    type: float
    default: 10.0
  zone:
    description:
      - The zone to update, for example V(example.com).
      - When omitted, the zone of each record is the one whose SOA the server returns for the record's name, and
        record names are taken as fully qualified.
    type: str
  key_name:
    description:
      - Name of the TSIG key, as in the server's C(key) statement. Without a key, messages are not signed.
    type: str
  key_secret:
    description:
      - The base64 secret of the TSIG key. Never logged nor returned.
      - Mutually exclusive with O(key_file).
    type: str
  key_algorithm:
    description: The TSIG algorithm of the key.
    type: str
    choices: [HMAC-MD5.SIG-ALG.REG.INT, hmac-md5, hmac-sha1, hmac-sha224, hmac-sha256, hmac-sha384, hmac-sha512]
    default: hmac-sha256
  key_file:
    description:
      - A file holding a BIND C(key "name" { algorithm ...; secret "..."; };) statement, such as the one
        C(tsig-keygen) writes. The key's algorithm comes from the file, and so does its name unless O(key_name)
        is given.
      - Mutually exclusive with O(key_secret).
    type: path
  record:
    description:
      - The owner name of the record set. Relative to O(zone) unless it ends with a dot; V(@) is the zone apex.
      - Mutually exclusive with O(records); one of the two is required.
    type: str
  type:
    description:
      - The record type. Also the default type of the O(records) entries.
    type: str
    choices: [A, AAAA, CNAME, SRV, TXT, PTR, MX, NS]
    default: A
  value:
    description:
      - The record values, in the zone-file syntax of the type, for example V(10.0.0.1), V(10 mail), V(0 5 80 web).
      - Names inside values (CNAME, PTR, MX, NS and SRV targets) are relative to the zone unless they end with a
        dot.
      - A TXT value that does not start with a double quote is taken as text, whatever it holds (V(;) included),
        and split into character-strings of at most 255 bytes, between UTF-8 characters. A TXT value that starts
        with a double quote is zone-file syntax (V("part one" "part two")).
      - A value is one value of the type. A newline or other control character, or (outside the quotes of a TXT
        value) a V(;), fails the task instead of cutting the value there.
      - Order and duplicates do not matter; values are compared as DNS data (V(2001:DB8::1) equals V(2001:db8::1)).
      - Required with O(state=present). With O(state=absent), the listed values are deleted and the other values
        of the record set are kept; without O(value) the whole record set is deleted.
    type: list
    elements: str
  ttl:
    description:
      - The TTL of the record set. When omitted, an existing record set keeps its TTL and a new one gets 3600.
    type: int
  state:
    description: Whether the values (or the whole record set) should be present or absent.
    type: str
    choices: [present, absent]
    default: present
  exclusive:
    description:
      - With V(true), the record set becomes exactly O(value) (other values are deleted).
      - With V(false), O(state=present) only adds the missing values and keeps the others.
      - O(state=absent) always deletes only the listed values (or the whole set when O(value) is omitted).
    type: bool
    default: true
  read:
    description:
      - How the record sets are read before writing (and read back after).
      - V(auto) reads a zone with one zone transfer (AXFR, signed with the key) when the task concerns 16 or more of
        its record sets, and with one query per record set otherwise. When the server refuses the transfer, the
        task reads per record set and warns; the server must allow the transfer to the key (BIND
        C(allow-transfer { key "name"; };) in the zone) for the fast read.
      - V(axfr) always reads with a zone transfer and fails when the server refuses it.
      - V(query) never transfers (one query per record set).
    type: str
    choices: [auto, axfr, query]
    default: auto
  records:
    description:
      - The batch form. Each entry is one record set change; entries are applied in order, so two entries may
        touch the same record set. All changes go to the server in as few UPDATE messages as fit.
      - Mutually exclusive with O(record) and O(value).
    type: list
    elements: dict
    suboptions:
      record:
        description: As O(record).
        type: str
        required: true
      type:
        description: As O(type); defaults to O(type).
        type: str
        choices: [A, AAAA, CNAME, SRV, TXT, PTR, MX, NS]
      value:
        description: As O(value).
        type: list
        elements: str
      ttl:
        description: As O(ttl); defaults to O(ttl).
        type: int
      state:
        description: As O(state); defaults to O(state).
        type: str
        choices: [present, absent]
      exclusive:
        description: As O(exclusive); defaults to O(exclusive).
        type: bool
notes:
  - Each UPDATE message is atomic on the server. A batch larger than one message is sent in several; when one of
    them fails, the ones before it stay applied and the failure says how many record sets were applied.
  - A prerequisite cannot name a TTL (RFC 2136 compares records without it), so a concurrent change of only the
    TTL is not detected.
  - BIND refuses a whole UPDATE when one MX or SRV record points to a name inside the zone that has no address
    record (C(check-integrity)). Add the address records first, or in the same batch.
seealso:
  - module: community.general.nsupdate
    description: Manages one record set per task, without prerequisites on its writes.
  - name: RFC 2136
    description: Dynamic Updates in the Domain Name System.
    link: https://www.rfc-editor.org/rfc/rfc2136
"""

EXAMPLES = r"""
- name: Publish the API on two addresses
  pptv.dcos.dns_record:
    server: 10.0.0.53
    key_name: ddns-key
    key_secret: "{{ vault_ddns_secret }}"
    zone: example.com
    record: api
    type: A
    value: [10.1.0.10, 10.1.0.11]
    ttl: 60

- name: Add one more address, keeping the others
  pptv.dcos.dns_record:
    server: 10.0.0.53
    key_file: /etc/bind/ddns.key
    record: api.example.com.
    value: [10.1.0.12]
    exclusive: false

- name: Remove one address only
  pptv.dcos.dns_record:
    server: 10.0.0.53
    key_file: /etc/bind/ddns.key
    zone: example.com
    record: api
    value: [10.1.0.10]
    state: absent

- name: Publish a service in one call (one UPDATE message for all of it)
  pptv.dcos.dns_record:
    server: [10.0.0.53, 10.0.1.53]
    key_name: ddns-key
    key_secret: "{{ vault_ddns_secret }}"
    zone: example.com
    ttl: 60
    records:
      - {record: web, value: [10.1.0.20, 10.1.0.21]}
      - {record: _http._tcp.web, type: SRV, value: ["0 5 8080 web"]}
      - {record: www, type: CNAME, value: [web]}
      - {record: old, state: absent}
"""

RETURN = r"""
zone:
  description: The zone of the first record set (the one given, or the one found from the SOA).
  returned: success
  type: str
  sample: example.com.
zones:
  description: Every zone that was read or updated.
  returned: success
  type: list
  elements: str
  sample: [example.com., 0.10.in-addr.arpa.]
record_sets:
  description: Each record set concerned, in the order of the input, as read and as it is after the task.
  returned: success
  type: list
  elements: dict
  contains:
    record:
      description: The absolute owner name.
      type: str
      sample: api.example.com.
    zone:
      description: The zone the record set belongs to.
      type: str
      sample: example.com.
    type:
      description: The record type.
      type: str
      sample: A
    state:
      description: The state asked for (of the last entry for this record set).
      type: str
      sample: present
    changed:
      description: Whether this record set differs (or, in check mode, would differ).
      type: bool
    before:
      description: The record set as read, or V(null) when it did not exist.
      type: dict
      sample: {ttl: 300, values: [10.1.0.10]}
    after:
      description: The record set after the task (in check mode, what it would be), or V(null) when absent.
      type: dict
      sample: {ttl: 60, values: [10.1.0.10, 10.1.0.11]}
updates_sent:
  description: UPDATE messages sent to the server (0 in check mode and when nothing changed).
  returned: always
  type: int
  sample: 1
queries_sent:
  description: Queries sent to the server (zone discovery, reads, and the read-back after writing).
  returned: always
  type: int
  sample: 3
transfers_sent:
  description: Zone transfers (AXFR) asked of the server, for the read and the read-back.
  returned: always
  type: int
  sample: 2
reads:
  description: How each zone's record sets were read, V(axfr) (one zone transfer) or V(query) (one query each).
  returned: success
  type: dict
  sample: {example.com.: axfr}
actions:
  description: What was (or in check mode would be) done, one line per changed record set.
  returned: always
  type: list
  elements: str
  sample: ["update api.example.com. A: add 10.1.0.11, ttl 300 -> 60"]
diff:
  description: Before and after of each changed record set, keyed by C(<name> <type>).
  returned: when diff mode is on
  type: dict
  sample: {before: {"api.example.com. A": {ttl: 300, values: [10.1.0.10]}}, after: {}}
dns_rc:
  description: The DNS response code of a failed query or UPDATE.
  returned: failure, when the server answered with an error
  type: int
  sample: 5
dns_rc_str:
  description: The name of RV(dns_rc).
  returned: failure, when the server answered with an error
  type: str
  sample: REFUSED
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.pptv.dcos.plugins.module_utils import _dns
from ansible_collections.pptv.dcos.plugins.module_utils._diff import ChangeRecord
from ansible_collections.pptv.dcos.plugins.module_utils._dns_record import DnsRecordManager
from ansible_collections.pptv.dcos.plugins.module_utils._errors import DcosError, fail_from

TYPES = list(_dns.TYPES)
STATES = ["present", "absent"]

ARGUMENT_SPEC = dict(
    server=dict(type="list", elements="str", required=True),
    port=dict(type="int", default=53),
    protocol=dict(type="str", choices=["tcp", "udp"], default="tcp"),
    timeout=dict(type="float", default=10.0),
    zone=dict(type="str"),
    key_name=dict(type="str"),
    key_secret=dict(type="str", no_log=True),
    key_algorithm=dict(type="str", choices=list(_dns.KEY_ALGORITHMS), default="hmac-sha256"),
    key_file=dict(type="path"),
    record=dict(type="str"),
    type=dict(type="str", choices=TYPES, default="A"),
    value=dict(type="list", elements="str"),
    ttl=dict(type="int"),
    state=dict(type="str", choices=STATES, default="present"),
    exclusive=dict(type="bool", default=True),
    read=dict(type="str", choices=list(_dns.READ_MODES), default="auto"),
    records=dict(
        type="list",
        elements="dict",
        options=dict(
            record=dict(type="str", required=True),
            type=dict(type="str", choices=TYPES),
            value=dict(type="list", elements="str"),
            ttl=dict(type="int"),
            state=dict(type="str", choices=STATES),
            exclusive=dict(type="bool"),
        ),
    ),
)


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        mutually_exclusive=[("record", "records"), ("value", "records"), ("key_secret", "key_file")],
        required_one_of=[("record", "records")],
        supports_check_mode=True,
    )
    if not _dns.HAS_DNS:
        module.fail_json(msg=missing_required_lib("dnspython"), exception=_dns.DNS_IMPORT_ERROR)
    record = ChangeRecord(check_mode=module.check_mode, diff_mode=module._diff)
    manager = DnsRecordManager(module.params, record)  # only keeps its arguments: cannot fail
    try:
        result = manager.run()
    except DcosError as e:
        fail_from(module, e, record, **manager.counters())
    for note in manager.notes:
        module.warn(note)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
