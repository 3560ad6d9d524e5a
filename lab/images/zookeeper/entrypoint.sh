#!/bin/sh
# Run ZooKeeper standalone in the foreground with /etc/zookeeper/conf/zoo.cfg.
#   ZOO_HEAP    the JVM's maximum heap (default 128m)
# The data directory may start empty or hold an earlier task's data; myid 1 is written when
# missing. Logs go to stdout. `docker stop` (SIGTERM) ends the JVM through its shutdown hooks.
set -eu
data=/var/lib/zookeeper
heap=${ZOO_HEAP:-128m}
echo "$heap" | grep -Eqx '[0-9]{1,6}[kmgKMG]?' || { echo "pptv-zookeeper: ZOO_HEAP: not a heap size" >&2; exit 64; }
mkdir -p "$data"
[ -s "$data/myid" ] || echo 1 >"$data/myid"
exec /usr/bin/java -Xmx"$heap" -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -cp /etc/zookeeper/conf:/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar \
    org.apache.zookeeper.server.quorum.QuorumPeerMain /etc/zookeeper/conf/zoo.cfg
