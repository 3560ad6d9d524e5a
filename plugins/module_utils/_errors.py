# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one failure type of the collection.

Module utils raise :class:`DcosError` with a message an operator can act on; each module's
``main()`` turns it into ``fail_json`` (see :func:`fail_from`). Code outside Ansible (the
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


def fail_from(module, error, **result):
    """End ``module`` with ``fail_json`` for ``error``, keeping the result computed so far."""
    result.update(error.details)
    module.fail_json(msg=error.msg, **result)
