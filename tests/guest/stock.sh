#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# stock kver=RELEASE c_ko=FILE
#
# On a distribution's own kernel (scripts/stock-test boots Debian's vmlinuz with its modules,
# where DKMS installed ours as nvmet-tcp): the kernel is RELEASE; `modinfo nvmet_tcp` names
# DKMS's file; the kernel's own C nvmet-tcp (FILE, where DKMS set it aside) serves verified
# I/O (io-verify); then `modprobe nvmet_tcp`, as nvmet and blktests load it, loads ours, which
# serves verified I/O too, counted by its own statistics. io-verify unloads everything after
# each run.
ME=stock
# shellcheck source=tests/guest/lib.sh
. "$(dirname "$0")/lib.sh"

kver="" c_ko=""
for a in "$@"; do
	case $a in
	kver=*) kver=${a#*=} ;;
	c_ko=*) c_ko=${a#*=} ;;
	*) die "unknown argument '$a'" ;;
	esac
done
{ [ -n "$kver" ] && [ -f "$c_ko" ]; } || die "usage: stock kver=RELEASE c_ko=FILE (an existing file)"
[ "$(uname -r)" = "$kver" ] || die "running $(uname -r), not $kver"
say "kernel $(uname -r): $(cat /proc/version)"

path=$(modinfo -n nvmet_tcp) || die "modinfo nvmet_tcp failed"
case $path in
*/updates/dkms/nvmet-tcp.ko*) say "modinfo -n nvmet_tcp: $path" ;;
*) die "modinfo nvmet_tcp names $path, not DKMS's module" ;;
esac
say "vermagic: $(modinfo -F vermagic nvmet_tcp)"

here=$(dirname "$0")
# The C target: the kernel's own module, loaded from its file (its dependencies first).
run modprobe nvmet
say "insmod $c_ko"
run insmod "$c_ko"
! ours || die "the C module is loaded, but the debugfs directory of ours exists"
sh "$here/io-verify.sh" nvmet_tcp || die "io-verify through the kernel's C nvmet-tcp failed"
! module_loaded nvmet_tcp || die "io-verify left nvmet_tcp loaded"

# Ours, by its name.
sh "$here/io-verify.sh" nvmet_tcp stat=rx_capsule_cmd stat=tx_capsule_resp stat=bytes_sent ||
	die "io-verify through ours (modprobe nvmet_tcp) failed"
! module_loaded nvmet_tcp || die "io-verify left nvmet_tcp loaded"
say "pass: $kver served verified I/O through the C nvmet-tcp and through ours"
