#!/usr/bin/env bash
# Rebuilds the rpm database fixtures of test_rpm.py (not run by the tests; needs Debian's rpm, rpmbuild,
# gpg and db5.3-util). The packages come from specs/*.spec; the databases are:
#   rpmdb.sqlite.xz    written by rpm itself (rpm -i --justdb, sqlite backend) plus an imported gpg key
#   Packages-le.xz     Berkeley DB hash, little-endian, 4 KiB pages: the same header blobs loaded with
#                      db5.3_load (key: instance number, plus rpm's key-0 record); rpm's bdb_ro reads it
#   Packages-be.xz     the same, big-endian (db_lorder=4321)
#   Packages-512.xz    the same, 512-byte pages (every header on overflow pages), with page checksums
#   Packages-empty.xz  a Berkeley DB hash database with rpm's key-0 record and no package
# The NDB fixture is written by the tests themselves from the SQLite blobs (Debian's rpm has no NDB).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for spec in "$here"/specs/*.spec; do
  rpmbuild --define "_topdir $work/top" -bb "$spec" >/dev/null
done
export GNUPGHOME="$work/gnupg"
mkdir -m700 "$GNUPGHOME"
gpg --batch --passphrase '' --quick-gen-key 'Test Signing <test@example.org>' rsa2048 sign never 2>/dev/null
gpg --armor --export test@example.org >"$work/key.asc"
db="$work/db"
mkdir "$db"
rpm --initdb --dbpath "$db"
rpm -i --dbpath "$db" --nodeps --justdb --ignorearch "$work"/top/RPMS/*/*.rpm 2>/dev/null
rpm --dbpath "$db" --import "$work/key.asc"
sqlite3 "$db/rpmdb.sqlite" 'VACUUM'
xz -9 -c "$db/rpmdb.sqlite" >"$here/rpmdb.sqlite.xz"

bdb() {  # bdb OUT OPTION...
  local out="$1"
  shift
  python3 - "$db/rpmdb.sqlite" "$@" <<'EOF' | db5.3_load -f /dev/stdin "$out"
import sqlite3, struct, sys
rows = sqlite3.connect(sys.argv[1]).execute("SELECT hnum, blob FROM Packages ORDER BY hnum").fetchall()
opts = [o for o in sys.argv[2:] if o != "empty"]
if "empty" in sys.argv[2:]:
    rows = [(0, b"")]
fmt = ">I" if "db_lorder=4321" in opts else "<I"
print("VERSION=3\nformat=bytevalue\ntype=hash")
for o in opts:
    print(o)
print("HEADER=END")
print(" " + struct.pack(fmt, 0).hex())
print(" " + struct.pack(fmt, rows[-1][0] + 1).hex())
for hnum, blob in rows if rows[-1][0] else []:
    print(" " + struct.pack(fmt, hnum).hex())
    print(" " + blob.hex())
print("DATA=END")
EOF
  xz -9 -c "$out" >"$here/$(basename "$out").xz"
}
bdb "$work/Packages-le" db_lorder=1234
bdb "$work/Packages-be" db_lorder=4321
bdb "$work/Packages-512" db_pagesize=512 chksum=1
bdb "$work/Packages-empty" empty
ls -l "$here"/*.xz
