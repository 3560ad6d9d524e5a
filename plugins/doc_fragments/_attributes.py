# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Descriptions of the module attributes; each module states its own ``support`` level."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in C(check_mode) and return the changes it would make without making them.
  diff_mode:
    description: Returns the before and after state of what it manages when run with C(--diff).
  idempotent:
    description: A second run with the same arguments reports no change and writes nothing.
"""

    # For *_info modules and lookups that only read.
    INFO_MODULE = r"""
options: {}
attributes:
  check_mode:
    support: full
    details: This action does not modify state.
    description: Can run in C(check_mode) and return the changes it would make without making them.
  diff_mode:
    support: N/A
    details: This action does not modify state.
    description: Returns the before and after state of what it manages when run with C(--diff).
  idempotent:
    support: full
    description: A second run with the same arguments reports no change and writes nothing.
"""
