# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reconcile an IP pool with what Marathon actually runs (``ip_pool`` ``state: synced``).

:func:`app_addresses` reads the addresses an app declares or uses: the Docker parameter ``ip``,
the label :data:`IP_LABEL`, and for apps on a container network (``networks`` with
``mode: container``) the addresses its tasks report. :func:`reconcile` is pure: from the pool, its
allocations, the other pools and Marathon's apps it decides what to record, what to release
(allocations of apps gone for longer than the grace period), which allocations to mark as missing
or no longer missing, and which conflicts to report. Conflicts are never fixed here: two apps on
one address, an app on an address outside every pool, an app on another address than the one it
holds, an app on a reserved address.
"""

from __future__ import annotations

from ansible_collections.pptv.dcos.plugins.module_utils import _validate
from ansible_collections.pptv.dcos.plugins.module_utils._errors import DcosError
from ansible_collections.pptv.dcos.plugins.module_utils._ippool import PoolSpec, netaddr

# The label an app may carry to state its fixed IP (for apps whose IP is set by other means).
IP_LABEL = "pptv.dcos/ip"


def app_addresses(app):
    """``{ip: [source, ...]}`` of the addresses ``app`` declares or its tasks use (normalised)."""
    found = []
    docker = (app.get("container") or {}).get("docker") or {}
    for parameter in docker.get("parameters") or []:
        if parameter.get("key") == "ip" and parameter.get("value"):
            found.append((parameter["value"], "docker parameter ip"))
    label = (app.get("labels") or {}).get(IP_LABEL)
    if label:
        found.append((label, f"label {IP_LABEL}"))
    if any((network or {}).get("mode") == "container" for network in app.get("networks") or []):
        for task in app.get("tasks") or []:
            for address in task.get("ipAddresses") or []:
                if address.get("ipAddress"):
                    found.append((address["ipAddress"], "networks (task address)"))
    result = {}
    for value, source in found:
        try:
            ip = str(netaddr.IPAddress(str(value).strip()))
        except (netaddr.AddrFormatError, ValueError):
            ip = f"invalid:{value}"
        result.setdefault(ip, [])
        if source not in result[ip]:
            result[ip].append(source)
    return result


def reconcile(spec, allocations, other_specs, apps, now, grace_period):
    """Decide the sync of pool ``spec``; returns the decisions, a dict.

    ``allocations``: ``{app_id: {"ip", "allocated_at", "missing_since"?}}`` of this pool;
    ``other_specs``: the other pools' :class:`PoolSpec`; ``apps``: Marathon's apps (with tasks).
    Keys: ``record`` [(app_id, ip)], ``release`` {app_id: ip}, ``mark`` {app_id: now},
    ``unmark`` [app_id], ``pending`` [{app_id, ip, missing_since, release_after}], ``conflicts``.
    """
    decisions = {"record": [], "release": {}, "mark": {}, "unmark": [], "pending": [], "conflicts": []}
    owners = {record["ip"]: app for app, record in allocations.items()}
    users = {}  # ip in this pool -> [app ids using it]
    app_ids = set()
    for app in sorted(apps, key=lambda a: a.get("id", "")):
        app_id = app.get("id")
        app_ids.add(app_id)
        mine = {}
        for ip, sources in app_addresses(app).items():
            if ip.startswith("invalid:"):
                decisions["conflicts"].append(
                    _conflict(
                        "invalid address", ip[8:], [app_id], f"{app_id} declares {ip[8:]!r} ({', '.join(sources)})"
                    )
                )
                continue
            addr = netaddr.IPAddress(ip)
            if spec.subnet_of(addr) is None:
                if not any(other.subnet_of(addr) is not None for other in other_specs):
                    decisions["conflicts"].append(
                        _conflict(
                            "outside every pool",
                            ip,
                            [app_id],
                            f"{app_id} uses {ip} ({', '.join(sources)}), outside every pool",
                        )
                    )
                continue
            mine[ip] = sources
            users.setdefault(ip, []).append(app_id)
        _sync_app(decisions, spec, allocations, owners, app_id, mine)
    for ip, using in sorted(users.items()):
        if len(using) > 1:
            decisions["conflicts"].append(_conflict("shared address", ip, using, f"{' and '.join(using)} all use {ip}"))
    shared = {ip for ip, using in users.items() if len(using) > 1}
    decisions["record"] = [(app, ip) for app, ip in decisions["record"] if ip not in shared]
    _sync_missing(decisions, allocations, app_ids, now, grace_period)
    return decisions


def _sync_missing(decisions, allocations, app_ids, now, grace_period):
    """Mark, unmark and release the allocations of apps Marathon no longer has."""
    for app_id, record in sorted(allocations.items()):
        since = record.get("missing_since")
        if app_id in app_ids:
            if since is not None:
                decisions["unmark"].append(app_id)
            continue
        if since is None and grace_period > 0:
            decisions["mark"][app_id] = now
            since = now
        # An allocation younger than the grace period may be one not deployed yet: wait for it too.
        release_after = max(since if since is not None else now, record.get("allocated_at") or 0) + grace_period
        if now >= release_after:
            decisions["release"][app_id] = record["ip"]
        else:
            decisions["pending"].append(
                {"app_id": app_id, "ip": record["ip"], "missing_since": since, "release_after": release_after}
            )


def _conflict(kind, ip, app_ids, message):
    return {"kind": kind, "ip": ip, "app_ids": list(app_ids), "message": message}


def _sync_app(decisions, spec, allocations, owners, app_id, mine):
    """Decide one app's addresses inside the pool (``mine``: {ip: sources})."""
    held = allocations.get(app_id)
    if not mine:
        return
    if len(mine) > 1:
        decisions["conflicts"].append(
            _conflict("several addresses", sorted(mine)[0], [app_id], f"{app_id} uses {', '.join(sorted(mine))}")
        )
        return
    ip, sources = next(iter(mine.items()))
    if held is not None:
        if held["ip"] != ip:
            decisions["conflicts"].append(
                _conflict(
                    "address differs", ip, [app_id], f"{app_id} uses {ip} ({', '.join(sources)}) but holds {held['ip']}"
                )
            )
        return
    owner = owners.get(ip)
    if owner is not None:
        decisions["conflicts"].append(
            _conflict("held by another app", ip, [app_id, owner], f"{app_id} uses {ip}, held by {owner}")
        )
        return
    reason = spec.blocked_reason(netaddr.IPAddress(ip))
    if reason:
        decisions["conflicts"].append(_conflict("blocked address", ip, [app_id], f"{app_id} uses {ip}, {reason}"))
        return
    decisions["record"].append((app_id, ip))


def _write_decisions(store, pool, decisions, allocations, conflicts, record):
    """Write the reconcile, marking each write done in ``record`` as soon as it is made; returns
    (recorded app IDs, released app IDs). A failure after some writes says which were made."""
    recorded = []
    for app_id, ip in decisions["record"]:
        step = _record_step(pool, app_id, ip)
        try:
            store.allocate(pool, [(app_id, ip)])
        except DcosError as exc:  # taken meanwhile by another controller
            conflicts.append(_conflict("record failed", ip, [app_id], exc.msg))
            continue
        recorded.append(app_id)
        record.done(step)
    marks = dict(decisions["mark"])
    marks.update({app_id: None for app_id in decisions["unmark"]})
    released = sorted(decisions["release"])
    try:
        if marks:
            store.set_missing(pool, marks)
            for step in _mark_steps(decisions):
                record.done(step)
        if released:
            # Release only what still is as read: the app may have come back, or been
            # re-allocated, since (checked under the file lock / a versioned delete in ZooKeeper).
            expect = {
                app: {"ip": allocations[app]["ip"], "missing_since": allocations[app].get("missing_since")}
                for app in released
            }
            released = sorted(store.release(pool, released, expect=expect))
            for app_id in released:
                record.done(_release_step(pool, app_id, decisions["release"][app_id]))
    except DcosError as exc:
        if not record.applied:
            raise
        details = dict(exc.details, recorded=list(recorded))
        raise DcosError(
            f"{exc.msg} (after these writes to pool {pool}: {'; '.join(record.applied)})", **details
        ) from exc
    return recorded, released


def _record_step(pool, app_id, ip):
    return f"record {ip} of {app_id} (used in Marathon) in pool {pool}"


def _release_step(pool, app_id, ip):
    return f"release {ip} of {app_id} (gone from Marathon) in pool {pool}"


def _mark_steps(decisions):
    steps = [
        f"mark {app_id} missing from Marathon since {since:.0f}" for app_id, since in sorted(decisions["mark"].items())
    ]
    steps += [f"clear the missing mark of {app_id} (back in Marathon)" for app_id in decisions["unmark"]]
    return steps


def sync_pool(store, pool, client, record, now, grace_period):
    """Run the reconcile of ``pool`` with Marathon (``client``), noting each change in ``record``
    (a ChangeRecord), and write it unless ``record.check_mode``. Returns the result keys of
    state=synced."""
    data = store.get_pool(pool)
    if data is None:
        raise DcosError(f"pool {pool} does not exist (define it with state=present)", pool=pool)
    spec = PoolSpec.from_dict(pool, data)
    others = []
    for name in store.list_pools():
        other = store.get_pool(name) if name != pool else None
        if other is not None:  # None: deleted since list_pools()
            others.append(PoolSpec.from_dict(name, other))
    allocations = store.allocations(pool)
    apps = client.list_apps(embed=("apps.tasks",))
    decisions = reconcile(spec, allocations, others, apps, now, grace_period)
    for app_id, ip in decisions["record"]:
        record.difference(app_id, None, ip)
        record.step(_record_step(pool, app_id, ip))
    for step in _mark_steps(decisions):
        record.step(step)
    for app_id, ip in sorted(decisions["release"].items()):
        record.difference(app_id, ip, None)
        record.step(_release_step(pool, app_id, ip))
    conflicts = list(decisions["conflicts"])
    if record.check_mode:
        recorded = [app_id for app_id, _ip in decisions["record"]]
        released = sorted(decisions["release"])
    else:
        recorded, released = _write_decisions(store, pool, decisions, allocations, conflicts, record)
    return {
        "pool": pool,
        "recorded": [{"app_id": app, "ip": ip} for app, ip in decisions["record"] if app in recorded],
        "released": released,
        "pending_release": decisions["pending"],
        "conflicts": conflicts,
        "apps": len(apps),
    }


def synced(manager, client, grace_period, now):
    """``state: synced`` of an :class:`IpPoolManager`: reconcile its pool with Marathon."""
    if manager.params.get("app_id") is not None or manager.params.get("app_ids"):
        raise DcosError("app_id/app_ids: not used with state=synced (every app of Marathon is read)")
    grace_period = _validate.integer(grace_period, "grace_period", minimum=0)
    keys = sync_pool(manager.store, manager.pool, client, manager.record, now, grace_period)
    return manager.record.result(**keys)
