# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The manager of ``pptv.dcos.nginx_upstream`` (PRIVATE to the collection): parameters to a result.

:class:`NginxUpstreamManager` takes the module's parameters as a plain dict and a *runner* (a
callable taking an argv list and returning ``(rc, stdout, stderr)``; the module passes
``module.run_command``), so it runs and is tested without ``AnsibleModule``. The upstreams are
validated and rendered by :mod:`._nginx`, shared with the discovery daemon; this file turns the
file changes into the :class:`ChangeRecord`: every step noted before the first write, and marked
done once the files are in place for good (after ``nginx -t``), and after the reload.
"""

from __future__ import annotations

from ansible_collections.pptv.dcos.plugins.module_utils import _nginx
from ansible_collections.pptv.dcos.plugins.module_utils._diff import ChangeRecord
from ansible_collections.pptv.dcos.plugins.module_utils._errors import DcosError


class NginxUpstreamManager:
    """Compares the upstream files of the task with the directory, then applies them unless in check mode."""

    def __init__(self, params, runner, record=None):
        self.params = params
        self.runner = runner
        self.record = record if record is not None else ChangeRecord()
        self.check_mode = self.record.check_mode
        self.diff_mode = self.record.diff_mode

    def wanted(self):
        """The :class:`_nginx.Upstream` list: the batch ``upstreams``, or the one upstream of the task."""
        params = self.params
        if params.get("upstreams") is not None:
            return _nginx.parse_batch(params["upstreams"], "upstreams", params.get("state") or "present")
        single = {key: params.get(key) for key in _nginx.UPSTREAM_KEYS}
        return [_nginx.parse_upstream(single, "", params.get("state") or "present")]

    def _validate_step(self):
        return "validate {}".format(self.params["nginx_conf"])

    def _note(self, changes):
        """Every difference and step, before anything is written."""
        for change in changes:
            if self.record.difference(change.path, change.before, change.after):
                self.record.step(f"{change.action} {change.path}")
        if self.record.changed:
            if self.params.get("validate", True):
                self.record.step(self._validate_step())
            if self.params.get("reload"):
                self.record.step("reload nginx")

    def _written(self, written):
        for change in written:
            self.record.done(f"{change.action} {change.path}")
        if self.params.get("validate", True):
            self.record.done(self._validate_step())

    def run(self):
        params = self.params
        upstreams = self.wanted()
        validate = params.get("validate", True)
        reload = params.get("reload", False)
        if reload and not validate:
            raise DcosError("reload: reload=true needs validate=true (Nginx is never reloaded unchecked)")
        outcome = _nginx.converge(
            params["path"],
            upstreams,
            self.runner,
            nginx_binary=params.get("nginx_binary") or "nginx",
            nginx_conf=params["nginx_conf"],
            validate=validate,
            reload=reload,
            purge=params.get("purge", False),
            check_mode=self.check_mode,
            on_changes=self._note,
            on_written=self._written,
        )
        if outcome.reloaded:
            self.record.done("reload nginx")
        return self.report(outcome)

    def report(self, outcome):
        changes = outcome.changes
        by_name = {}
        for change in changes:
            by_name[change.name] = {
                "name": change.name,
                "path": change.path,
                "state": "absent" if change.after is None else "present",
                "changed": change.changed,
            }
        result = self.record.result(
            files=[c.path for c in changes if c.changed],
            upstreams=list(by_name.values()),
            validated=outcome.validated,
            reloaded=outcome.reloaded,
            nginx_warnings=list(outcome.warnings),
        )
        if self.diff_mode:
            # The text of each changed file, the way template and copy show it.
            result["diff"] = [c.diff() for c in changes if c.changed]
        return result
