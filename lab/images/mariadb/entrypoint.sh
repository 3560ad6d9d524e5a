#!/bin/sh
# Run mariadbd in the foreground as root on 0.0.0.0:3306, data in /var/lib/mysql.
#
# /var/lib/mysql is the environment's data directory (bind-mounted, possibly on GlusterFS): when
# it holds no MariaDB system tables it is initialised (mariadb-install-db); an existing one is
# kept as it is. At every start the server runs init.sql, which creates the sample database and
# its user when they are missing (IF NOT EXISTS: existing rows and grants are left alone):
#   database sample, user 'sample'@'%' password 'sample-not-a-secret', all privileges on sample.*
# (the sample application's production config names them: it is a sample, not a secret).
# `docker stop` (SIGTERM) makes mariadbd shut down cleanly and exit 0.
set -eu
data=/var/lib/mysql
mkdir -p "$data" /run/mysqld
if [ ! -d "$data/mysql" ]; then
    echo "pptv-mariadb: initialising an empty data directory $data" >&2
    mariadb-install-db --user=root --datadir="$data" --skip-test-db --skip-name-resolve --auth-root-authentication-method=socket \
        >/tmp/mariadb-install-db.log 2>&1 || { cat /tmp/mariadb-install-db.log >&2; exit 1; }
else
    echo "pptv-mariadb: keeping the existing data directory $data" >&2
fi
cat >/run/mysqld/init.sql <<'SQL'
CREATE DATABASE IF NOT EXISTS sample;
CREATE USER IF NOT EXISTS 'sample'@'%' IDENTIFIED BY 'sample-not-a-secret';
GRANT ALL PRIVILEGES ON sample.* TO 'sample'@'%';
SQL
exec /usr/sbin/mariadbd --user=root --datadir="$data" --init-file=/run/mysqld/init.sql
