#!/bin/sh
# Start named authoritative for $PPTV_DNS_ZONES, updatable with the TSIG key $PPTV_DNS_KEY_*.
#
#   PPTV_DNS_ZONES          zones, separated by commas or spaces (required), e.g. example.com
#   PPTV_DNS_KEY_NAME       TSIG key name (required)
#   PPTV_DNS_KEY_SECRET     its base64 secret (required)
#   PPTV_DNS_KEY_ALGORITHM  hmac-sha256 (default), hmac-sha512, hmac-sha384, hmac-sha224, hmac-sha1, hmac-md5
#   PPTV_DNS_NS_ADDRESS     the address of the NS record (default: this container's first address)
#   PPTV_DNS_TTL            the zones' default TTL (default 60)
#
# Every value is checked against a strict pattern before it is written into named.conf, so
# nothing in the environment can add a configuration statement. Recursion is off and there are
# no forwarders: the server answers for its zones only. Logs go to stderr.
set -eu

fail() { echo "pptv-bind: $*" >&2; exit 64; }

zones=$(echo "${PPTV_DNS_ZONES:-}" | tr ',' ' ')
[ -n "$zones" ] || fail "PPTV_DNS_ZONES is required"
key_name=${PPTV_DNS_KEY_NAME:-}
key_secret=${PPTV_DNS_KEY_SECRET:-}
algorithm=${PPTV_DNS_KEY_ALGORITHM:-hmac-sha256}
ttl=${PPTV_DNS_TTL:-60}

echo "$key_name" | grep -Eqx '[A-Za-z0-9][A-Za-z0-9._-]{0,62}' || fail "PPTV_DNS_KEY_NAME: not a key name"
echo "$key_secret" | grep -Eqx '[A-Za-z0-9+/]{4,}={0,2}' || fail "PPTV_DNS_KEY_SECRET: not base64"
case "$algorithm" in
    hmac-sha256|hmac-sha512|hmac-sha384|hmac-sha224|hmac-sha1|hmac-md5) ;;
    *) fail "PPTV_DNS_KEY_ALGORITHM: $algorithm is not supported" ;;
esac
echo "$ttl" | grep -Eqx '[0-9]{1,7}' || fail "PPTV_DNS_TTL: not a number of seconds"
ns_address=${PPTV_DNS_NS_ADDRESS:-$(hostname -i 2>/dev/null | awk '{print $1}')}
echo "$ns_address" | grep -Eqx '[0-9]{1,3}(\.[0-9]{1,3}){3}' || ns_address=127.0.0.1

label='[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?'
serial=$(date +%s)
conf=/etc/bind/pptv-zones.conf
: >"$conf"
for zone in $zones; do
    echo "$zone" | grep -Eqx "$label(\.$label)*" || fail "PPTV_DNS_ZONES: $zone is not a zone name"
    file=/var/lib/bind/$zone.db
    cat >"$file" <<ZONE
\$TTL $ttl
@ IN SOA ns1.$zone. hostmaster.$zone. ( $serial 3600 600 86400 $ttl )
@ IN NS ns1.$zone.
ns1 IN A $ns_address
ZONE
    rm -f "$file.jnl"
    chown bind:bind "$file"
    cat >>"$conf" <<ZONE
zone "$zone" {
    type primary;
    file "$file";
    allow-update { key "$key_name"; };
    allow-transfer { key "$key_name"; };
};
ZONE
done

cat >/etc/bind/named.conf <<CONF
options {
    directory "/var/cache/bind";
    listen-on { any; };
    listen-on-v6 { none; };
    recursion no;
    allow-recursion { none; };
    allow-query-cache { none; };
    dnssec-validation no;
    notify no;
    allow-transfer { none; };
    version none;
};
key "$key_name" { algorithm $algorithm; secret "$key_secret"; };
include "$conf";
CONF

named-checkconf /etc/bind/named.conf
for zone in $zones; do named-checkzone -q "$zone" "/var/lib/bind/$zone.db"; done
echo "pptv-bind: authoritative for $zones (key $key_name, $algorithm), recursion off" >&2
exec /usr/sbin/named -g -u bind -c /etc/bind/named.conf
