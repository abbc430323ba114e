#!/usr/bin/env bash
# Start a throw-away PostgreSQL on 127.0.0.1:5432 for the sweep-storage test (INPAINT_SUITE_TEST_POSTGRES).
set -euo pipefail
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
version=$(ls /usr/lib/postgresql | sort -V | tail -1)
pg_ctlcluster "$version" main start 2>/dev/null || pg_ctlcluster "$version" main status >/dev/null
su postgres -c "psql -qc \"DO \\\$\\\$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname='inpaint') THEN CREATE ROLE inpaint LOGIN PASSWORD 'inpaint'; END IF; END\\\$\\\$;\""
su postgres -c "psql -qtc \"SELECT 1 FROM pg_database WHERE datname='inpaint_ci'\" | grep -q 1 || createdb -O inpaint inpaint_ci"
echo "export INPAINT_SUITE_TEST_POSTGRES=postgresql://inpaint:inpaint@127.0.0.1:5432/inpaint_ci" > .ci/postgres.env
echo "ci: PostgreSQL $version on 127.0.0.1:5432"
