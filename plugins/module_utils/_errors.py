# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one failure type of the collection, and the one failure path of every module.

Module utils raise :class:`DcosError` with a message an operator can act on. Each module's
``main()`` has a single ``try`` around everything after ``AnsibleModule(...)`` (parameter checks
included) and turns the error into ``fail_json`` with :func:`fail_from`. Code outside Ansible (the
discovery daemon, the lab, tests) catches it the same way.
"""

from __future__ import annotations


class DcosError(Exception):
    """A failure to report to the user.

    ``msg`` names the option or the object at fault and the problem. ``details`` are extra keys
    returned next to ``msg`` (for example the attached containers, or Marathon's error details);
    they must never hold a secret.
    """

    def __init__(self, msg, **details):
        super().__init__(msg)
        self.msg = msg
        self.details = details

    def __str__(self):
        return self.msg


def fail_from(module, error, record=None, **result):
    """End ``module`` with ``fail_json`` for ``error``.

    ``changed`` and ``actions`` come from the change record (``_diff.ChangeRecord``): only the
    steps written before the failure count. Without a record (the failure came before anything
    was planned) nothing changed. ``result`` adds module-specific keys computed so far.
    """
    if record is not None:
        result.update(record.failure())
    else:
        result.setdefault("changed", False)
        result.setdefault("actions", [])
    result.update(error.details)
    module.fail_json(msg=error.msg, **result)
