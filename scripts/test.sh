#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (.ci/run calls this script).
# Needs root on Debian 12: it installs what the tests use (debootstrap for
# the lab's base image, apt-utils/dpkg-dev for the lab repository, rpm and
# dnf for the RPM backend's real-output tests, chromium for the web UI's
# browser tests) and then runs every test,
# lab included. With PATCHBAY_CI=1 a test that cannot run fails instead
# of skipping, so a green run means everything ran.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
	echo "scripts/test.sh needs root (the lab builds namespaces and overlay mounts). For the quick unprivileged subset: go test ./..." >&2
	exit 2
fi

start=$(date +%s)
export DEBIAN_FRONTEND=noninteractive
need=(debootstrap apt-utils dpkg-dev iproute2 zstd rpm dnf createrepo-c dnf-plugins-core chromium)
missing=()
for p in "${need[@]}"; do
	dpkg-query -W -f '${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' || missing+=("$p")
done
# Fresh apt lists: the Debian version-comparison test draws real version
# pairs from them, and the apt backend's tests compare with apt's own view.
apt-get update -qq -o Acquire::Languages=none
if [ ${#missing[@]} -gt 0 ]; then
	echo "installing: ${missing[*]}"
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

export PATCHBAY_CI=1
export GOFLAGS=${GOFLAGS:-}
echo "== go vet"
go vet ./...
echo "== go test"
go test -count=1 -timeout 60m ./...
echo "== screenshots of the web UI (docs/ui.md): ci-artifacts/screenshots/"
ls ci-artifacts/screenshots/ 2>/dev/null || true
echo "== done in $(( $(date +%s) - start ))s"
