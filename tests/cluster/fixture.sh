#!/bin/sh
# The cluster tests' ctest fixture (see CMakeLists.txt):
#   fixture.sh start|stop SOURCE_DIR SHARED_KAFKA_DIR SCRATCH_DIR
# start: stops whatever an aborted earlier run left in SCRATCH_DIR, then starts the shared
#   broker in SHARED_KAFKA_DIR (a dir whose broker no longer runs is wiped first).
# stop: stops the shared broker and every broker / PostgreSQL instance a test started under
#   SCRATCH_DIR and could not stop itself (a test killed by the ctest timeout: brokers are
#   setsid'd and survive it), drops the schemas such tests left (SCRATCH_DIR/schema-NAME
#   markers), then removes SCRATCH_DIR.
set -u
cmd=$1 src=$2 shared=$3 scratch=$4
kafka="$src/scripts/kafka"
pg_bin=${PARLEY_PG_BIN:-/usr/lib/postgresql/15/bin}

reap_scratch() {
  for d in "$scratch"/kafka-*; do
    [ -d "$d" ] && "$kafka" stop --dir "$d" >/dev/null 2>&1
  done
  for d in "$scratch"/pg-*; do
    [ -f "$d/data/postmaster.pid" ] || continue
    if [ "$(id -u)" = 0 ]; then
      su postgres -s /bin/sh -c "'$pg_bin/pg_ctl' -D '$d/data' -m immediate -w stop" >/dev/null 2>&1
    else
      "$pg_bin/pg_ctl" -D "$d/data" -m immediate -w stop >/dev/null 2>&1
    fi
  done
  for f in "$scratch"/schema-*; do
    [ -f "$f" ] || continue
    psql "${PARLEY_TEST_PG:-postgresql://postgres@127.0.0.1:5432/test}" -qc \
      "DROP SCHEMA IF EXISTS \"${f##*/schema-}\" CASCADE" >/dev/null 2>&1
  done
  rm -rf "$scratch"
}

case "$cmd" in
  start)
    reap_scratch
    mkdir -p "$scratch"
    "$kafka" status --dir "$shared" >/dev/null 2>&1 || rm -rf "$shared"
    exec "$kafka" start --port 0 --dir "$shared"
    ;;
  stop)
    rc=0
    "$kafka" stop --dir "$shared" || rc=1
    reap_scratch
    exit $rc
    ;;
  *)
    echo "usage: $0 start|stop SOURCE_DIR SHARED_KAFKA_DIR SCRATCH_DIR" >&2
    exit 2
    ;;
esac
