#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# install (x86_64): `make install` and `make uninstall` as a user sees them. Needs the module
# built under the C module's name (vm-run --module .../nvmet-tcp.ko, scripts/build-module
# FLAVOR nvmet-tcp) and runs scripts/install (vm-run's copy) on writable copies of this
# kernel's /lib/modules and of /etc (the guest's root is the host's, read-only). Checks that:
# - before: modinfo and modprobe nvmet_tcp mean the kernel's C module;
# - installed: modinfo nvmet_tcp shows ours under updates/, nvmet-transport-3 resolves to it,
#   modprobe nvmet_tcp loads ours (its debugfs directory and KUnit suites) with the options
#   of an "options nvmet_tcp" line, lsmod lists nvmet_tcp, and data written through it verifies; rmmod nvmet_tcp is refused while a port
#   uses it and works after; modprobe -r nvmet_tcp removes it with nvmet;
# - with nothing loaded, enabling a TCP port makes nvmet load ours itself (request_module of
#   nvmet-transport-3), and I/O verifies again;
# - uninstalled: no file of ours is left, and modprobe nvmet_tcp means the C module again.
ME=install
# shellcheck source=tests/guest/lib.sh
. "$(dirname "$0")/lib.sh"

[ "$VMRUN_ARCH" = x86_64 ] || die "x86_64 only: it needs the host's tools and the checkout"
ko=$VMRUN_MODDIR/nvmet-tcp.ko
[ -f "$ko" ] || die "no nvmet-tcp.ko among the --module files"
installer=$VMRUN_DIR/scripts/install
[ -x "$installer" ] || die "no $installer (vm-run copies it)"
kver=$(uname -r)
nqn=nqn.2014-08.org.nvmexpress:nvmet-tcp-rs-install
tmp=/tmp/install
mkdir -p "$tmp" || die "cannot create $tmp"

# Writable copies of what the installer writes (updates/, the depmod data, /etc/depmod.d)
# and of /etc/modprobe.d for an options line.
writable_copies /lib/modules /etc/depmod.d /etc/modprobe.d
MODULES_BEFORE=$tmp/modules.before
cat /proc/modules >"$MODULES_BEFORE"

ctrl=""
# shellcheck disable=SC2317 # runs from the trap
cleanup() {
	rc=$?
	trap - EXIT
	# shellcheck disable=SC2086 # no controller, or one
	scenario_teardown $ctrl
	exit "$rc"
}
trap cleanup EXIT

# modfile: the file modprobe would load for nvmet_tcp, relative to this kernel's modules.
modfile() { modinfo -F filename nvmet_tcp | sed "s|^/lib/modules/$kver/||"; }
c_file=kernel/drivers/nvme/target/nvmet-tcp.ko
our_file=updates/nvmet-tcp.ko
conf=/etc/depmod.d/nvmet-tcp-rs-$kver.conf

# expect_c: nvmet_tcp means the kernel's C module.
expect_c() {
	[ "$(modfile)" = $c_file ] || die "modinfo nvmet_tcp shows $(modfile), not $c_file"
	run modprobe nvmet_tcp
	module_loaded nvmet_tcp || die "modprobe nvmet_tcp loaded nothing"
	! ours || die "modprobe nvmet_tcp loaded ours, not the C module"
	run modprobe -r nvmet_tcp
	! module_loaded nvmet_tcp || die "modprobe -r nvmet_tcp left it loaded"
	say "ok: nvmet_tcp is the C module ($c_file)"
}

# serve_and_verify WHAT: connects to the port, writes and verifies data, disconnects.
serve_and_verify() {
	kmsg "connect ($1)"
	ctrl=$(nvmf_connect 127.0.0.1 4420 "$nqn") || exit 1
	dev=$(nvme_ns_dev "$ctrl" 1) || exit 1
	verify_io_region "$dev" 0 "$tmp" 6
	nvmf_disconnect "$ctrl"
	ctrl=""
	say "ok: 6 writes verified through $dev ($1)"
}

kmsg "before install"
expect_c

kmsg "install"
run "$installer" "$ko"
run "$installer" "$ko" # again: a second install replaces the first
[ -f "/lib/modules/$kver/$our_file" ] || die "$our_file was not installed"
[ -f $conf ] || die "$conf was not installed"
[ "$(modfile)" = $our_file ] || die "modinfo nvmet_tcp shows $(modfile), not $our_file"
modinfo -F description nvmet_tcp | grep -q Rust || die "modinfo nvmet_tcp does not describe ours"
[ "$(modinfo -F filename nvmet-transport-3 | sed "s|^/lib/modules/$kver/||")" = $our_file ] ||
	die "nvmet-transport-3 resolves to '$(modinfo -F filename nvmet-transport-3)', not $our_file"
say "ok: modinfo nvmet_tcp shows $our_file, nvmet-transport-3 resolves to it"

# A parameter through modprobe.d, as for the C module: a connection that sends no ICReq is
# closed after icreq_timeout_ms (10 s by default), checked below.
echo "options nvmet_tcp icreq_timeout_ms=1000" >/etc/modprobe.d/nvmet-tcp-test.conf ||
	die "cannot write /etc/modprobe.d/nvmet-tcp-test.conf"
run modprobe nvmet_tcp
ours || die "modprobe nvmet_tcp did not load ours"
lsmod | grep -q '^nvmet_tcp ' || die "lsmod does not list nvmet_tcp"
kunit_check nvmet_tcp_rs_placement nvmet_tcp_rs_addr nvmet_tcp_rs_completions nvmet_tcp_rs_req
say "ok: modprobe nvmet_tcp loaded ours; lsmod lists nvmet_tcp"

load_module brd rd_nr=1 rd_size=32768 max_part=0
wait_until 10 test -b /dev/ram0 || die "/dev/ram0 did not appear"
load_module nvme_tcp
nvmet_subsys_create "$nqn" 1 /dev/ram0
nvmet_port_create 1 tcp ipv4 127.0.0.1 4420
nvmet_port_add_subsys 1 "$nqn"
serve_and_verify "modprobe'd"
# A silent connection: closed after 1 s (the option) instead of 10 s (the default).
silent=$(python3 -c 'import socket, time
s = socket.create_connection(("127.0.0.1", 4420))
s.settimeout(30)
t = time.monotonic()
try:
    assert s.recv(1) == b""
except ConnectionResetError:
    pass
print(round(time.monotonic() - t, 1))') || die "the silent connection was not closed"
awk -v t="$silent" 'BEGIN { exit !(t < 6) }' ||
	die "a silent connection was closed after $silent s: options nvmet_tcp icreq_timeout_ms=1000 did not apply"
say "ok: options nvmet_tcp icreq_timeout_ms=1000 applied: a silent connection closed after $silent s"

! rmmod nvmet_tcp 2>/dev/null || die "rmmod nvmet_tcp succeeded while a port used it"
run rm "$NVMET_CFS/ports/1/subsystems/$nqn"
run rmmod nvmet_tcp
! module_loaded nvmet_tcp || die "rmmod nvmet_tcp left it loaded"
say "ok: rmmod nvmet_tcp refused while the port was enabled, worked after"

kmsg "autoload"
# The port's link makes nvmet request nvmet-transport-3 (TCP) from modprobe.
nvmet_port_add_subsys 1 "$nqn"
module_loaded nvmet_tcp || die "enabling a TCP port did not load nvmet_tcp"
ours || die "nvmet's request for nvmet-transport-3 loaded the C module, not ours"
say "ok: nvmet's request for nvmet-transport-3 loaded ours"
serve_and_verify "loaded by nvmet"
nvmet_teardown
run modprobe -r nvmet_tcp
! module_loaded nvmet_tcp || die "modprobe -r nvmet_tcp left it loaded"
say "ok: modprobe -r nvmet_tcp removed it"

kmsg "uninstall"
run rm /etc/modprobe.d/nvmet-tcp-test.conf # the C module has no icreq_timeout_ms
run "$installer" --uninstall
[ ! -e "/lib/modules/$kver/$our_file" ] || die "$our_file is still there after uninstall"
[ ! -e $conf ] || die "$conf is still there after uninstall"
! grep -q "^$our_file:" "/lib/modules/$kver/modules.dep" || die "modules.dep still lists $our_file"
expect_c
exit 0
