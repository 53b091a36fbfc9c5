#!/bin/sh
# Back up one installation: the database first, then the stored files (docs/operations.md,
# "Backup and restore", says why in that order).
#
#   deploy/backup.sh /backup/fakturaeksport/2026-11-05
#
# Reads DATABASE_URL and MEDIA_ROOT from the environment (the installation's environment file).
# Needs pg_dump of the server's major version (Debian: postgresql-client).
set -eu
dest=${1:?usage: backup.sh DESTINATION_DIRECTORY}
: "${DATABASE_URL:?DATABASE_URL must be set}"
: "${MEDIA_ROOT:?MEDIA_ROOT must be set}"
mkdir -p "$dest/files"

# 1. The database, as one consistent snapshot (pg_dump runs in one transaction).
pg_dump --format=custom --no-owner --no-acl --file="$dest/database.dump" "$DATABASE_URL"

# 2. The files: every file a finished export in that snapshot refers to already exists, since
#    an export stores its file before it commits, and stored files are never changed or removed.
cp -a "$MEDIA_ROOT/." "$dest/files/"

(cd "$dest" && sha256sum database.dump > database.dump.sha256)
echo "backup written to $dest"
