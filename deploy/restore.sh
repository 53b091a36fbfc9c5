#!/bin/sh
# Restore a backup made by backup.sh into a NEW, EMPTY database and files directory, then check it.
#
#   createdb -O billing fakturaeksport_restored
#   DATABASE_URL=postgres://…/fakturaeksport_restored MEDIA_ROOT=/srv/fakturaeksport/files \
#     deploy/restore.sh /backup/fakturaeksport/2026-11-05
#
# Reads DATABASE_URL and MEDIA_ROOT (and the rest of the installation's settings, for the check)
# from the environment. Exits non-zero if anything is missing or inconsistent.
set -eu
src=${1:?usage: restore.sh BACKUP_DIRECTORY}
: "${DATABASE_URL:?DATABASE_URL must be set}"
: "${MEDIA_ROOT:?MEDIA_ROOT must be set}"
app=$(cd "$(dirname "$0")/.." && pwd)
python=${APP_PYTHON:-$app/.venv/bin/python}

(cd "$src" && sha256sum --check --quiet database.dump.sha256)
pg_restore --no-owner --no-acl --exit-on-error --dbname="$DATABASE_URL" "$src/database.dump"
mkdir -p "$MEDIA_ROOT"
cp -a "$src/files/." "$MEDIA_ROOT/"

# Migrations the restored release may be ahead by, then the check of files against the database.
"$python" "$app/manage.py" migrate --noinput
"$python" "$app/manage.py" check_restore
