# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run one lab instance: ``PYTHONPATH=lab python -m marathon_lab --config lab/config.yml``."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

import yaml

from .core import Config, Lab
from .driver import DockerDriver
from .http import make_server

OVERRIDES = ("listen", "port", "state_dir", "instance", "name_prefix", "hostname")


def load_config(path, args):
    settings = {}
    if path:
        with open(path, encoding="utf-8") as handle:
            settings = yaml.safe_load(handle) or {}
    for key in OVERRIDES:
        value = getattr(args, key, None)
        if value is not None:
            settings[key] = value
    for item in args.set or []:
        key, _sep, value = item.partition("=")
        settings[key.strip()] = yaml.safe_load(value)
    return Config(**settings)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="marathon_lab", description=__doc__)
    parser.add_argument("--config", help="YAML settings file (lab/config.yml)")
    parser.add_argument("--listen")
    parser.add_argument("--port", type=int, help="0 picks a free port (see --port-file)")
    parser.add_argument("--state-dir", dest="state_dir")
    parser.add_argument("--instance", help="label value that marks this instance's containers")
    parser.add_argument("--name-prefix", dest="name_prefix", help="prefix of task container names")
    parser.add_argument("--hostname", help="the agent host name reported in tasks")
    parser.add_argument("--set", action="append", help="any other setting, key=value (YAML value)")
    parser.add_argument("--port-file", help="write the bound port here once listening")
    parser.add_argument("--log-level", default=os.environ.get("LAB_LOG_LEVEL", "INFO"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = load_config(args.config, args)
    os.makedirs(config.state_dir, exist_ok=True)
    lab = Lab(config, DockerDriver(config.instance, config.name_prefix))
    server = make_server(lab)
    config.port = server.server_address[1]
    lab.start()
    stopping = threading.Event()

    def stop(_signum, _frame):
        if not stopping.is_set():
            stopping.set()
            threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(str(config.port))
        os.replace(tmp, args.port_file)
    logging.getLogger("marathon_lab").info("listening on http://%s:%s", config.listen, config.port)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        lab.stop()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
