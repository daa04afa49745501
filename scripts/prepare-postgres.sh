#!/usr/bin/env bash
# Make the local PostgreSQL server ready for sqlml's tests: PL/Python installed and the
# server running. Debian's postgresql-plpython3-NN depends on the exact server package
# version, so installing it may upgrade the server: restart the cluster afterwards.
set -euo pipefail

if ! command -v pg_lsclusters >/dev/null; then
    echo "prepare-postgres: no PostgreSQL cluster tools found (pg_lsclusters)" >&2
    exit 1
fi
read -r version cluster _ < <(pg_lsclusters --no-header | head -n 1)
package="postgresql-plpython3-${version}"
sudo=""
[[ $(id -u) -eq 0 ]] || sudo="sudo"

if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    echo "prepare-postgres: installing $package"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$package" >/dev/null
    $sudo pg_ctlcluster --skip-systemctl-redirect "$version" "$cluster" restart || true
fi
if ! pg_lsclusters --no-header | awk -v v="$version" -v c="$cluster" '$1==v && $2==c {print $4}' | grep -q online; then
    $sudo pg_ctlcluster --skip-systemctl-redirect "$version" "$cluster" start
fi
for _ in $(seq 1 30); do
    pg_isready -q -h 127.0.0.1 && exit 0
    sleep 1
done
echo "prepare-postgres: the server on 127.0.0.1 does not answer" >&2
exit 1
