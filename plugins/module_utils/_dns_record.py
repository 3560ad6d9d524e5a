# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The manager of ``pptv.dcos.dns_record`` (PRIVATE to the collection): parameters to a result.

:class:`DnsRecordManager` takes the module's parameters as a plain dict, so it runs (and is
tested) without ``AnsibleModule``. It turns them into :class:`_dns.Entry` objects, reads the
record sets, notes every difference and step in a :class:`ChangeRecord` before writing, sends
the UPDATEs (marking each record set done as soon as its message is accepted), and reads the
changes back. The DNS logic itself is :mod:`._dns`, shared with the discovery daemon.
"""

from __future__ import annotations

from ansible_collections.pptv.dcos.plugins.module_utils import _dns
from ansible_collections.pptv.dcos.plugins.module_utils._diff import ChangeRecord
from ansible_collections.pptv.dcos.plugins.module_utils._errors import DcosError


def describe(change):
    """One line for ``actions``: ``update web.example.com. A: add 10.0.0.2; ttl 300 -> 60``."""
    before = change.before.values() if change.before else []
    after = change.after.values() if change.after else []
    if change.after is None:
        return f"delete {change.label}"
    words = []
    added = [v for v in after if v not in before]
    removed = [v for v in before if v not in after]
    if added:
        words.append("add " + ", ".join(added))
    if removed:
        words.append("delete " + ", ".join(removed))
    if change.before is not None and change.before.ttl != change.after.ttl:
        words.append(f"ttl {change.before.ttl} -> {change.after.ttl}")
    verb = "create" if change.before is None else "update"
    return f"{verb} {change.label}: {'; '.join(words)}"


def key_from_params(params):
    """The TSIG key of the parameters (``key_file``, or ``key_name``/``key_secret``), or None."""
    name = params.get("key_name")
    algorithm = params.get("key_algorithm") or "hmac-sha256"
    secret = params.get("key_secret")
    if params.get("key_file"):
        file_name, file_algorithm, secret = _dns.read_key_file(params["key_file"])
        name = name or file_name
        algorithm = file_algorithm or algorithm
    if secret is None:
        if name:
            raise DcosError("key_secret: required with key_name (or give key_file)")
        return None
    return _dns.make_key(name, secret, algorithm)


def entries_from_params(params):
    """The :class:`_dns.Entry` list: one for ``record``, or one per item of ``records``."""
    if params.get("records") is None:
        return [
            _dns.Entry(
                params.get("record"),
                params.get("type") or "A",
                params.get("value"),
                params.get("ttl"),
                params.get("state") or "present",
                params.get("exclusive", True),
            )
        ]
    entries = []
    for index, item in enumerate(params["records"]):
        if not isinstance(item, dict):
            raise DcosError(f"records[{index}]: must be a dictionary, got {item!r}")
        entries.append(
            _dns.Entry(
                item.get("record"),
                item.get("type") or params.get("type") or "A",
                item.get("value"),
                item["ttl"] if item.get("ttl") is not None else params.get("ttl"),
                item.get("state") or params.get("state") or "present",
                params.get("exclusive", True) if item.get("exclusive") is None else item["exclusive"],
                index=index,
            )
        )
    return entries


class DnsRecordManager:
    """Converges the record sets of one task; ``record`` holds what was planned and written."""

    def __init__(self, params, record=None):
        self.params = params
        self.record = record if record is not None else ChangeRecord()
        self.check_mode = self.record.check_mode
        self.client = None
        self.reads = {}
        self.notes = []

    def counters(self):
        """The messages sent so far (also returned on a failure)."""
        if self.client is None:
            return {"updates_sent": 0, "queries_sent": 0, "transfers_sent": 0}
        return {
            "updates_sent": self.client.updates,
            "queries_sent": self.client.queries,
            "transfers_sent": self.client.transfers,
        }

    def _applied(self, batch):
        for change in batch:
            self.record.done(describe(change))

    def run(self):
        params = self.params
        read = params.get("read") or "auto"
        if read not in _dns.READ_MODES:
            raise DcosError(f"read: {read!r} is not one of {', '.join(_dns.READ_MODES)}")
        self.client = _dns.Client(
            params.get("server"),
            port=params.get("port", 53),
            protocol=params.get("protocol") or "tcp",
            timeout=params.get("timeout", 10.0),
            key=key_from_params(params),
        )
        wanted, zones = _dns.prepare(self.client, entries_from_params(params), zone=params.get("zone"))
        current = _dns.read_current(self.client, wanted, read, self.reads, self.notes)
        record_sets, changes = _dns.compare(wanted, current)
        for change in changes:
            self.record.difference(change.label, _dns.rrset_dict(change.before), _dns.rrset_dict(change.after))
            self.record.step(describe(change))
        if changes and not self.check_mode:
            _dns.send_changes(self.client, changes, on_applied=self._applied)
            _dns.read_back(self.client, changes, read)
        zone_names = [zone.to_text() for zone in zones]
        return self.record.result(
            zone=zone_names[0] if zone_names else None,
            zones=zone_names,
            record_sets=record_sets,
            reads=dict(self.reads),
            **self.counters(),
        )
