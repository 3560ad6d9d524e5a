# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""marathon_lab: Marathon 1.11's v2 REST API on one Docker engine, for the demo and CI."""

__version__ = "0.1.0"
