#!/bin/bash
# rgw-up.sh - add a Ceph RADOS Gateway (S3 API) to a cluster booted by ceph-up.sh, for the
# `s3_*` tests. Listens on http://127.0.0.1:$RGW_PORT, path-style addressing, with one S3 user
# whose keys are fixed so tests can use them. Stopped by ceph-down.sh (its pid file is in
# $CEPH_DIR/run), or on its own by killing the pid in $CEPH_DIR/run/client.rgw.$RGW_ID.pid.
#   CEPH_DIR       [${TMPDIR:-/tmp}/bf-lab/ceph]   the cluster's directory (from ceph-up.sh)
#   RGW_PORT       [7480]
#   RGW_ID         [a]   the gateway's Ceph name is client.rgw.$RGW_ID (two gateways on one
#                        cluster need two names)
#   RGW_INSTALL    [1]   0: never install the radosgw package
#   RGW_ACCESS_KEY [blockform]  RGW_SECRET_KEY [blockform-secret]
# Measured: package install 3 s (radosgw 16.2.15 from Debian), first answer after ~10 s.
# RGW 16 honours conditional writes: PUT with If-None-Match: * on an existing key and PUT with
# a wrong If-Match both answer 412 PreconditionFailed.
set -euo pipefail
D=${CEPH_DIR:-${TMPDIR:-/tmp}/bf-lab/ceph}
PORT=${RGW_PORT:-7480}
ID=${RGW_ID:-a}
AK=${RGW_ACCESS_KEY:-blockform}
SK=${RGW_SECRET_KEY:-blockform-secret}
export CEPH_CONF=$D/ceph.conf
[ -f "$CEPH_CONF" ] || { echo "no cluster at $D (run ceph-up.sh first)" >&2; exit 1; }
if ! command -v radosgw >/dev/null; then
  [ "${RGW_INSTALL:-1}" != 0 ] || { echo "radosgw is not installed" >&2; exit 1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends radosgw >/dev/null
fi
T0=$(date +%s%N)
ceph auth get-or-create "client.rgw.$ID" mon 'allow rw' osd 'allow rwx' > "$D/rgw.$ID.keyring"
if ! grep -q "^\[client.rgw.$ID\]" "$CEPH_CONF"; then
  cat >> "$CEPH_CONF" <<CONF

[client.rgw.$ID]
keyring = $D/rgw.$ID.keyring
rgw_frontends = beast endpoint=127.0.0.1:$PORT
rgw_data = $D/rgw.$ID
log_file = $D/log/rgw.$ID.log
admin_socket = $D/run/client.rgw.$ID.asok
CONF
fi
mkdir -p "$D/rgw.$ID"
radosgw -n "client.rgw.$ID" --conf "$CEPH_CONF"
for _ in $(seq 1 120); do
  curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break
  sleep 0.5
done
curl -s -o /dev/null "http://127.0.0.1:$PORT/" || { echo "radosgw did not answer in 60 s" >&2; tail -n 20 "$D/log/rgw.$ID.log" >&2; exit 1; }
radosgw-admin user create --uid=blockform --display-name=blockform \
  --access-key="$AK" --secret-key="$SK" >/dev/null 2>&1 || true
cat > "$D/rgw.$ID.env" <<ENV
AWS_ENDPOINT_URL=http://127.0.0.1:$PORT
AWS_ACCESS_KEY_ID=$AK
AWS_SECRET_ACCESS_KEY=$SK
AWS_REGION=us-east-1
ENV
echo "RGW up in $(( ($(date +%s%N) - T0) / 1000000 )) ms: http://127.0.0.1:$PORT (keys in $D/rgw.$ID.env)"
