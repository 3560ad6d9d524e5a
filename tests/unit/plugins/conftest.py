# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small authoritative DNS server in memory, behind ``dns.query.tcp``/``dns.query.udp``.

Only the transport is replaced: the code under test builds real dnspython messages, they go to
wire form (signed with TSIG), the fake parses the wire with its own keys, answers queries and
applies RFC 2136 UPDATEs (prerequisites included, atomically, with BIND's quirks), and its answer
goes back through ``dns.message.from_wire`` with the client's key, as ``dns.query`` does.
"""

from __future__ import annotations

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.query
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.tsig
import dns.update
import dns.xfr
import pytest

SECRET = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I="
NONE = dns.rdataclass.NONE
ANY = dns.rdataclass.ANY


class FakeDns:
    def __init__(self):
        self.zones = {}
        self.keys = {}
        self.allowed = set()
        self.sent = []  # (kind, message) of every message received
        self.down = set()  # addresses that refuse connections
        self.silent = set()  # addresses that never answer
        self.hanging_up = set()  # addresses that close the TCP connection without an answer
        self.before_update = None  # called once before the next UPDATE is processed
        self.ignore_updates = False  # accept and do nothing (a server that drops the changes)
        self.transfer_refused = False  # answer every AXFR with REFUSED (no allow-transfer)
        self.records_per_message = 50  # an AXFR answer spans several messages, as BIND's does

    # -- set-up ---------------------------------------------------------------------------------
    def add_zone(self, zone, records=()):
        origin = dns.name.from_text(zone)
        data = {}
        soa = dns.rdata.from_text("IN", "SOA", f"ns1.{zone}. host.{zone}. 1 3600 600 86400 60")
        data[(origin, dns.rdatatype.SOA)] = [300, {soa}]
        data[(origin, dns.rdatatype.NS)] = [300, {dns.rdata.from_text("IN", "NS", f"ns1.{zone}.")}]
        self.zones[origin] = data
        for name, rdtype, ttl, values in records:
            self.put(name, rdtype, ttl, values)
        return origin

    def add_key(self, name="ddns-key", secret=SECRET, algorithm="hmac-sha256", allowed=True):
        key = dns.tsig.Key(name, secret, algorithm)
        self.keys[key.name] = key
        if allowed:
            self.allowed.add(key.name)
        return key

    def put(self, name, rdtype, ttl, values):
        owner = dns.name.from_text(name)
        zone = self.zone_of(owner)
        rdtype = dns.rdatatype.from_text(rdtype)
        self.zones[zone][(owner, rdtype)] = [ttl, {dns.rdata.from_text("IN", rdtype, v) for v in values}]

    def get(self, name, rdtype):
        owner = dns.name.from_text(name)
        entry = self.zones[self.zone_of(owner)].get((owner, dns.rdatatype.from_text(rdtype)))
        if entry is None:
            return None
        return entry[0], sorted(r.to_text() for r in entry[1])

    def zone_of(self, name):
        best = None
        for zone in self.zones:
            if name.is_subdomain(zone) and (best is None or len(zone) > len(best)):
                best = zone
        return best

    def count(self, kind):
        return sum(1 for k, _message in self.sent if k == kind)

    # -- transport ------------------------------------------------------------------------------
    def transport(self, message, where, timeout=None, port=53, **_kwargs):
        if where in self.down:
            raise ConnectionRefusedError(111, "Connection refused")
        if where in self.silent:
            raise dns.exception.Timeout(timeout=timeout)
        if where in self.hanging_up:
            raise EOFError("EOF")  # what dnspython raises when a TCP peer closes without answering
        wire = message.to_wire()
        try:
            request = dns.message.from_wire(wire, keyring=self.keys)
        except dns.message.UnknownTSIGKey:
            return self._tsig_failure(message, dns.rcode.BADKEY)
        except dns.tsig.BadSignature:
            return self._tsig_failure(message, dns.rcode.BADSIG)
        if request.opcode() == dns.opcode.UPDATE:
            self.sent.append(("update", request))
            response = self._update(request)
        else:
            self.sent.append(("query", request))
            response = self._query(request)
        response_wire = response.to_wire()
        return dns.message.from_wire(response_wire, keyring=message.keyring, request_mac=message.mac)

    def _tsig_failure(self, message, error):
        self.sent.append(("rejected", message))
        response = dns.message.make_response(message)
        response.set_rcode(dns.rcode.NOTAUTH)
        # The server cannot sign (it does not know the key, or the MAC is wrong): it answers with
        # the TSIG error and an empty MAC; dnspython raises the Peer* error from it.
        response.use_tsig(message.keyring, keyname=message.keyname, tsig_error=error)
        wire = response.to_wire()
        return dns.message.from_wire(wire, keyring=message.keyring, request_mac=message.mac)

    def xfr(self, where, zone, port=53, timeout=None, keyring=None, keyname=None, relativize=True, **kwargs):
        """``dns.query.xfr``: check the request's signature, then yield the zone in messages."""
        del port, timeout, relativize
        if where in self.down:
            raise ConnectionRefusedError(111, "Connection refused")
        if where in self.silent:
            raise dns.exception.Timeout()
        request = dns.message.make_query(zone, dns.rdatatype.AXFR)
        if keyring is not None:
            request.use_tsig(keyring, keyname, algorithm=kwargs.get("keyalgorithm", dns.tsig.default_algorithm))
        request = dns.message.from_wire(request.to_wire(), keyring=self.keys)
        self.sent.append(("transfer", request))
        origin = request.question[0].name
        if self.transfer_refused or origin not in self.zones or request.keyname not in self.allowed:
            raise dns.xfr.TransferError(dns.rcode.REFUSED)
        data = self.zones[origin]
        soa = self._rrset(origin, dns.rdatatype.SOA, data[(origin, dns.rdatatype.SOA)])
        rrsets = [soa] + [self._rrset(n, t, e) for (n, t), e in data.items() if t != dns.rdatatype.SOA] + [soa]
        for start in range(0, len(rrsets), self.records_per_message):
            response = dns.message.make_response(request)
            response.answer.extend(rrsets[start : start + self.records_per_message])
            yield response

    # -- queries --------------------------------------------------------------------------------
    def _query(self, request):
        response = dns.message.make_response(request)
        question = request.question[0]
        zone = self.zone_of(question.name)
        if zone is None:
            response.set_rcode(dns.rcode.REFUSED)
            return response
        response.flags |= dns.flags.AA
        data = self.zones[zone]
        entry = data.get((question.name, question.rdtype))
        if entry is not None and not (question.rdtype == dns.rdatatype.NS and question.name != zone):
            response.answer.append(self._rrset(question.name, question.rdtype, entry))
            return response
        if entry is not None:  # NS below the apex: a referral
            response.flags &= ~dns.flags.AA
            response.authority.append(self._rrset(question.name, question.rdtype, entry))
            return response
        if not any(owner == question.name for owner, _rdtype in data):
            response.set_rcode(dns.rcode.NXDOMAIN)
        soa = data[(zone, dns.rdatatype.SOA)]
        response.authority.append(self._rrset(zone, dns.rdatatype.SOA, soa))
        return response

    @staticmethod
    def _rrset(name, rdtype, entry):
        rrset = dns.rrset.RRset(name, dns.rdataclass.IN, rdtype)
        for rdata in entry[1]:
            rrset.add(rdata, entry[0])
        return rrset

    # -- updates --------------------------------------------------------------------------------
    def _update(self, request):
        response = dns.message.make_response(request)
        zone = request.zone[0].name
        if zone not in self.zones:
            response.set_rcode(dns.rcode.NOTAUTH)
            return response
        if request.keyname not in self.allowed:
            response.set_rcode(dns.rcode.REFUSED)
            return response
        if self.before_update is not None:
            hook, self.before_update = self.before_update, None
            hook()
        data = self.zones[zone]
        rcode = self._prerequisites(data, request)
        if rcode != dns.rcode.NOERROR:
            response.set_rcode(rcode)
            return response
        if not self.ignore_updates:
            for rrset in request.update:
                self._apply(zone, data, rrset)
        return response

    @staticmethod
    def _prerequisites(data, request):
        wanted = {}
        names = {owner for owner, _rdtype in data}
        for rrset in request.prerequisite:
            key = (rrset.name, rrset.rdtype)
            if rrset.deleting == ANY:
                if rrset.rdtype == dns.rdatatype.ANY:
                    if rrset.name not in names:
                        return dns.rcode.NXDOMAIN
                elif key not in data:
                    return dns.rcode.NXRRSET
            elif rrset.deleting == NONE:
                if rrset.rdtype == dns.rdatatype.ANY:
                    if rrset.name in names:
                        return dns.rcode.YXDOMAIN
                elif key in data:
                    return dns.rcode.YXRRSET
            else:
                wanted.setdefault(key, set()).update(rrset)
        for key, rdatas in wanted.items():
            if key not in data or data[key][1] != rdatas:
                return dns.rcode.NXRRSET
        return dns.rcode.NOERROR

    @staticmethod
    def _apply(zone, data, rrset):
        key = (rrset.name, rrset.rdtype)
        apex_ns = rrset.name == zone and rrset.rdtype in (dns.rdatatype.NS, dns.rdatatype.SOA)
        if rrset.deleting == ANY:
            if not apex_ns:
                data.pop(key, None)
        elif rrset.deleting == NONE:
            if key in data:
                left = data[key][1] - set(rrset)
                if not left and apex_ns:
                    return  # BIND keeps the last NS of an apex
                if left:
                    data[key][1] = left
                else:
                    del data[key]
        else:
            if rrset.rdtype == dns.rdatatype.CNAME:
                if any(o == rrset.name and t != dns.rdatatype.CNAME for o, t in data):
                    return  # BIND: "attempt to add CNAME alongside non-CNAME ignored"
                data[key] = [rrset.ttl, set(rrset)]
                return
            if (rrset.name, dns.rdatatype.CNAME) in data:
                return
            entry = data.setdefault(key, [rrset.ttl, set()])
            entry[0] = rrset.ttl  # the whole set takes the TTL of the record added
            entry[1].update(rrset)


@pytest.fixture
def fake_dns(monkeypatch):
    server = FakeDns()
    monkeypatch.setattr(dns.query, "tcp", server.transport)
    monkeypatch.setattr(dns.query, "udp", server.transport)
    monkeypatch.setattr(dns.query, "xfr", server.xfr)
    return server
