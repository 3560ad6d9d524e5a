# Stand-in for the get-pip.py script that `ansible-test --venv` downloads from a host our machines
# cannot reach (ansible/ansible#77304). ansible-test runs it as __main__ inside a fresh virtualenv
# with get-pip's arguments (pip options and package pins). We bootstrap pip from the standard
# library's ensurepip, then let that pip install the requested packages from the configured index.
import ensurepip
import os
import subprocess
import sys

GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}

# ensurepip points PIP_CONFIG_FILE at /dev/null in our own environment; the install that follows
# must see the machine's pip configuration (index, certificates), so keep a copy from before.
environment = dict(os.environ)
ensurepip.bootstrap(upgrade=True)
args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", *args], env=environment))
