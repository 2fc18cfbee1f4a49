#!/bin/bash
# capture.sh records the real rpm and dnf outputs in testdata/lab/ that the
# golden tests of package rpm parse. Tests never run it; run it by hand after
# changing the lab below, then `go test ./internal/pkgmgr/rpm -update`.
#
# Needs (Debian 12): apt-get install -y rpm dnf createrepo-c dnf-plugins-core gpg
#
# The lab: dummy RPMs built with rpmbuild, a file:// repository made with
# createrepo_c, an updateinfo.xml with advisories added with modifyrepo_c,
# and an installroot with the old versions installed by dnf itself.
# Installed in the root:        in the repository (lab):
#   demo-app, demo-app-libs 1.0-1.el9        1.0-2.el9     LAB-2026:0001 security
#   demo-epoch 2:3.1-1.el9                   2:3.2-1.el9   LAB-2026:0002 bugfix
#   demo-native 0.9-1.el9.x86_64             0.9-2.el9     LAB-2026:0003 security
#   demo-library-...-wrapping 1.0-1.el9      1.0-2.el9     LAB-2026:0004 security
#       (a long name: dnf wraps it onto two lines when stdout is not a tty)
#   demo-old 1.0-1.el9                       demo-new 2.0-1.el9 obsoletes it
#   demo-zero-epoch 0:1.0-1.el9              same
#   demo-uptodate 1.0-1.el9                  same
#   kernel 5.14.0-362.8.1.el9_3 and          5.14.0-503.11.1.el9_5 LAB-2026:0005
#          5.14.0-427.13.1.el9_4 (installonly: two side by side)
#   gpg-pubkey (an imported throwaway key)
#
# Each capture NAME is saved as NAME.stdout, NAME.stderr and NAME.exit.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=$here/lab
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out" "$work/specs" "$work/repo" "$work/root"
root=$work/root
repo=$work/repo
# Debian's rpm (and so dnf) keeps its database in ~/.rpmdb, that is
# $root/root/.rpmdb here, not /var/lib/rpm as on RHEL: rpm and dnf agree, so
# no --dbpath is passed. dnf-plugins-core's "local" plugin is Debian's
# extra and is disabled.

# spec NAME EPOCH VERSION RELEASE ARCH [EXTRA-HEADER...]
spec() {
	local name=$1 epoch=$2 version=$3 release=$4 arch=$5
	shift 5
	local f=$work/specs/$name-$version-$release.spec
	{
		echo "Name: $name"
		[ "$epoch" = - ] || echo "Epoch: $epoch"
		echo "Version: $version"
		echo "Release: $release"
		echo "Summary: Patchbay lab package $name"
		echo "License: MIT"
		echo "BuildArch: $arch"
		for h in "$@"; do echo "$h"; done
		echo "%description"
		echo "Dummy package for the Patchbay rpm backend tests."
		if [ "$name" = demo-app ]; then
			echo "%package libs"
			echo "Summary: Libraries of demo-app"
			echo "%description libs"
			echo "Libraries of demo-app."
			echo "%files libs"
		fi
		echo "%files"
	} >"$f"
	rpmbuild --quiet --define "_topdir $work/build" -bb "$f" >/dev/null
}

spec demo-app - 1.0 1.el9 noarch
spec demo-app - 1.0 2.el9 noarch
spec demo-epoch 2 3.1 1.el9 noarch
spec demo-epoch 2 3.2 1.el9 noarch
spec demo-native - 0.9 1.el9 x86_64
spec demo-native - 0.9 2.el9 x86_64
long=demo-library-with-a-deliberately-very-long-package-name-for-wrapping
spec $long - 1.0 1.el9 noarch
spec $long - 1.0 2.el9 noarch
spec demo-old - 1.0 1.el9 noarch
spec demo-new - 2.0 1.el9 noarch "Obsoletes: demo-old < 2.0" "Provides: demo-old = 2.0"
spec demo-zero-epoch 0 1.0 1.el9 noarch
spec demo-uptodate - 1.0 1.el9 noarch
spec kernel - 5.14.0 362.8.1.el9_3 x86_64
spec kernel - 5.14.0 427.13.1.el9_4 x86_64
spec kernel - 5.14.0 503.11.1.el9_5 x86_64

rpms=$work/build/RPMS
dnf=(dnf -y -q "--installroot=$root" --releasever=9 "--repofrompath=lab,file://$repo"
	--setopt=lab.gpgcheck=0 --setopt=reposdir=/nonexistent --setopt=cachedir=/var/cache/dnf --disableplugin=local)

# Publish the old versions and install them with dnf.
old=(demo-app-1.0-1.el9 demo-app-libs-1.0-1.el9 demo-epoch-3.1-1.el9 demo-native-0.9-1.el9
	$long-1.0-1.el9 demo-old-1.0-1.el9 demo-zero-epoch-1.0-1.el9 demo-uptodate-1.0-1.el9
	kernel-5.14.0-362.8.1.el9_3 kernel-5.14.0-427.13.1.el9_4)
for p in "${old[@]}"; do cp "$rpms"/*/"$p".*.rpm "$repo/"; done
createrepo_c --quiet "$repo"
"${dnf[@]}" install demo-app demo-app-libs demo-epoch demo-native $long demo-old demo-zero-epoch demo-uptodate \
	kernel-5.14.0-362.8.1.el9_3 >/dev/null
"${dnf[@]}" install kernel-5.14.0-427.13.1.el9_4 >/dev/null

# An imported key shows up in the rpmdb as a gpg-pubkey pseudo-package.
export GNUPGHOME=$work/gnupg
mkdir -m 700 "$GNUPGHOME"
gpg --batch --quiet --passphrase '' --quick-gen-key 'Patchbay Lab <lab@patchbay.invalid>' rsa2048 sign never
gpg --batch --quiet --armor --export lab@patchbay.invalid >"$work/lab.asc"
rpm --root "$root" --import "$work/lab.asc"

# Publish the new versions and the advisories.
for p in demo-app-1.0-2.el9 demo-app-libs-1.0-2.el9 demo-epoch-3.2-1.el9 demo-native-0.9-2.el9 \
	$long-1.0-2.el9 demo-new-2.0-1.el9 kernel-5.14.0-503.11.1.el9_5; do
	cp "$rpms"/*/"$p".*.rpm "$repo/"
done
createrepo_c --quiet --update "$repo"

# advisory ID TYPE SEVERITY PKG... (PKG as name:epoch:version:release:arch)
advisory() {
	local id=$1 type=$2 severity=$3
	shift 3
	echo "  <update from=\"lab@patchbay.invalid\" status=\"final\" type=\"$type\" version=\"1\">"
	echo "    <id>$id</id>"
	echo "    <title>$id</title>"
	echo "    <severity>$severity</severity>"
	echo "    <issued date=\"2026-01-15 00:00:00\"/>"
	echo "    <description>Lab advisory.</description>"
	echo "    <pkglist><collection short=\"lab\"><name>lab</name>"
	for p in "$@"; do
		IFS=: read -r n e v r a <<<"$p"
		echo "      <package name=\"$n\" epoch=\"$e\" version=\"$v\" release=\"$r\" arch=\"$a\" src=\"$n-$v-$r.src.rpm\"><filename>$n-$v-$r.$a.rpm</filename></package>"
	done
	echo "    </collection></pkglist>"
	echo "  </update>"
}
{
	echo '<?xml version="1.0" encoding="UTF-8"?>'
	echo '<updates>'
	advisory LAB-2026:0001 security Important demo-app:0:1.0:2.el9:noarch demo-app-libs:0:1.0:2.el9:noarch
	advisory LAB-2026:0002 bugfix None demo-epoch:2:3.2:1.el9:noarch
	advisory LAB-2026:0003 security Moderate demo-native:0:0.9:2.el9:x86_64
	advisory LAB-2026:0004 security Low $long:0:1.0:2.el9:noarch
	advisory LAB-2026:0005 security Important kernel:0:5.14.0:503.11.1.el9_5:x86_64
	echo '</updates>'
} >"$work/updateinfo.xml"
modifyrepo_c --mdtype=updateinfo "$work/updateinfo.xml" "$repo/repodata" >/dev/null

# capture NAME ARGV...: record stdout, stderr and exit code. Paths of the
# temporary lab are replaced by fixed ones so that reruns are comparable.
capture() {
	local name=$1
	shift
	local rc=0
	"$@" >"$out/$name.stdout" 2>"$out/$name.stderr" || rc=$?
	echo "$rc" >"$out/$name.exit"
	sed -i "s|$work|/LAB|g" "$out/$name.stdout" "$out/$name.stderr"
}

# Must match queryFormat in rpm.go.
qf='%{NAME}\t%{EPOCH}\t%{VERSION}\t%{RELEASE}\t%{ARCH}\t%{SOURCERPM}\n'
capture rpm-qa rpm --root "$root" -qa --queryformat "$qf"
dnf=(dnf "--installroot=$root" --releasever=9 "--repofrompath=lab,file://$repo"
	--setopt=lab.gpgcheck=0 --setopt=reposdir=/nonexistent --setopt=cachedir=/var/cache/dnf --disableplugin=local)
capture makecache "${dnf[@]}" makecache
capture check-update "${dnf[@]}" check-update
capture check-update-q "${dnf[@]}" -q check-update
capture updateinfo-security-q "${dnf[@]}" -q updateinfo list --security
capture updateinfo-all "${dnf[@]}" updateinfo list
capture needs-restarting-r "${dnf[@]}" -q needs-restarting -r
# dnf wraps a long name.arch onto its own line only when stdout is a
# terminal (dnf 4 computes no column widths for a pipe; yum 3 on EL7 wraps at
# 80 columns even into a pipe). Record the wrapped form from a pty 80 wide.
capture check-update-tty80 script -qec "stty cols 80 rows 50; $(printf '%q ' "${dnf[@]}") --color=never -q check-update" /dev/null
# needs-restarting -r where no core package (kernel, glibc, systemd...) was
# installed since boot: an empty root; and where the plugin is missing.
mkdir "$work/empty"
capture needs-restarting-r-none dnf "--installroot=$work/empty" --releasever=9 --setopt=reposdir=/nonexistent \
	--setopt=cachedir=/var/cache/dnf --disableplugin=local -q needs-restarting -r
capture needs-restarting-r-noplugin "${dnf[@]}" --disableplugin=needs-restarting -q needs-restarting -r
# A repository that cannot be read: skipped silently ("Ignoring
# repositories", exit 0) unless skip_if_unavailable is turned off for every
# repository, which is what Refresh and Updates do.
broken=(dnf "--installroot=$root" --releasever=9 "--repofrompath=gone,file://$work/missing"
	--setopt=gone.gpgcheck=0 --setopt=reposdir=/nonexistent --setopt=cachedir=/var/cache/dnf --disableplugin=local)
capture makecache-broken-skipped "${broken[@]}" makecache
capture makecache-broken "${broken[@]}" '--setopt=*.skip_if_unavailable=False' makecache
capture check-update-broken "${broken[@]}" '--setopt=*.skip_if_unavailable=False' -q check-update
# After the upgrade nothing is pending.
"${dnf[@]}" -y -q upgrade >/dev/null
capture check-update-none "${dnf[@]}" -q check-update
capture rpm-qa-upgraded rpm --root "$root" -qa --queryformat "$qf"
echo "captured into $out"
