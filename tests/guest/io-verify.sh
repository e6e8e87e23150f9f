#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# io-verify TRANSPORT [adrfam=ipv4|ipv6] [port=N] [connect=nvme-cli|raw] [corrupt=1]
#           [param=NAME=VALUE]... [stat=NAME]... [nvmetcli=DIR pythonpath=DIR json=FILE]
#
# Data integrity over NVMe/TCP on loopback. TRANSPORT is the target transport module:
# nvmet_tcp (modprobe'd) or nvmet_tcp_rs (insmod'ed from a vm-run --module file).
# Exports a brd ram disk through nvmet and TRANSPORT, connects to it with nvme-tcp,
# writes random data with O_DIRECT at several sizes and offsets (page- and only
# sector-aligned, and the device's last bytes), reads each back with O_DIRECT and compares
# it, also with what landed on the ram disk itself, and re-reads everything at the end.
# Then takes it all down and unloads the modules, so that unload bugs show up as splats.
# corrupt=1 overwrites a sector on the ram disk behind the target's back: the scenario
# must then fail, which shows that the comparison works. Each param= is a module parameter
# of TRANSPORT; each stat= names a counter of /sys/kernel/debug/nvmet_tcp_rs/stats that must
# be above 0 at the end. With nvmetcli=DIR (and its pythonpath=, scripts/third-party), the
# target is set up as a user would, by `nvmetcli restore` of FILE (in tests/guest; it must
# describe the same subsystem, port and ram disk), instead of through configfs here.
ME=io-verify
# shellcheck source=tests/guest/lib.sh
. "$(dirname "$0")/lib.sh"

transport=${1:-}
[ -n "$transport" ] || die "usage: io-verify TRANSPORT [adrfam=ipv4|ipv6] [port=N] [connect=nvme-cli|raw] [corrupt=1] [param=NAME=VALUE]... [stat=NAME]..."
shift
adrfam=ipv4 port=4420 corrupt=0 params="" want_stats="" NVMETCLI_DIR="" json=""
for a in "$@"; do
	case $a in
	param=*=*) params="$params ${a#param=}" ;;
	stat=*) want_stats="$want_stats ${a#*=}" ;;
	adrfam=*) adrfam=${a#*=} ;;
	port=*) port=${a#*=} ;;
	connect=*) NVMF_CONNECT=${a#*=} ;;
	corrupt=*) corrupt=${a#*=} ;;
	nvmetcli=*) NVMETCLI_DIR=${a#*=} && [ -n "$NVMETCLI_DIR" ] || die "nvmetcli= is empty" ;;
	pythonpath=*) NVMETCLI_PYTHONPATH=${a#*=} ;;
	json=*) json=$(dirname "$0")/${a#*=} ;;
	*) die "unknown argument '$a'" ;;
	esac
done
case $adrfam in
ipv4) traddr=127.0.0.1 ;;
ipv6) traddr=::1 ;;
*) die "adrfam must be ipv4 or ipv6" ;;
esac

nqn=nqn.2014-08.org.nvmexpress:nvmet-tcp-rs-io-verify
ram=/dev/ram0
ram_kib=65536
tmp=/tmp/io-verify
mkdir -p "$tmp" || die "cannot create $tmp"

ctrl=
# shellcheck disable=SC2317 # runs from the trap
cleanup() {
	rc=$?
	trap - EXIT
	kmsg "teardown"
	[ -z "$ctrl" ] || nvmf_disconnect "$ctrl"
	target_modules_unload "$transport"
	say "teardown done, all modules unloaded"
	exit "$rc"
}
trap cleanup EXIT

say "transport $transport, $adrfam $traddr port $port, connect via $NVMF_CONNECT"
kmsg "setup"
# shellcheck disable=SC2086 # params is a word list
target_modules_load "$transport" $ram_kib $params

if [ -n "$NVMETCLI_DIR" ]; then
	[ -f "$json" ] || die "nvmetcli= needs json=FILE"
	say "nvmetcli restore $(basename "$json")"
	nvmetcli restore "$json" || die "nvmetcli restore $json failed"
	[ -e "$NVMET_CFS/ports/1/subsystems/$nqn" ] || die "$json does not export $nqn on port 1"
else
	nvmet_subsys_create "$nqn" 1 $ram
	nvmet_port_create 1 tcp "$adrfam" "$traddr" "$port"
	nvmet_port_add_subsys 1 "$nqn"
fi

kmsg "connect"
ctrl=$(nvmf_connect "$traddr" "$port" "$nqn") || exit 1
dev=$(nvme_ns_dev "$ctrl" 1) || exit 1
devsize=$(blockdev_bytes "$dev")
say "connected: $ctrl, namespace 1 is $dev ($devsize bytes)"
[ "$devsize" = "$(blockdev_bytes $ram)" ] ||
	die "$dev has $devsize bytes, but $ram has $(blockdev_bytes $ram)"

plan=$(io_plan "$devsize") || exit 1

kmsg "write/verify"
t0=$(cut -d' ' -f1 /proc/uptime)
corrupt_at=
[ "$corrupt" = 1 ] && corrupt_at=4
io_write_verify "$dev" $ram "$tmp" "$plan" $corrupt_at
io_reread "$dev" "$tmp" "$plan"
i=0 bytes=0
for e in $plan; do
	i=$((i + 1)) bytes=$((bytes + ${e#*:}))
done
t1=$(cut -d' ' -f1 /proc/uptime)
say "ok: $i writes, $bytes bytes written and verified (read back over $transport, on $ram, and re-read at the end) in $(echo "$t1 $t0" | awk '{ printf "%.1f", $1 - $2 }') s"

# Our transport's counters (bytes placed per path, PDUs per type, errors, connections).
stats=/sys/kernel/debug/nvmet_tcp_rs/stats
[ ! -r $stats ] || sed "s/^/$ME: stats: /" $stats
for name in $want_stats; do
	[ -r $stats ] || die "stat=$name, but there is no $stats"
	n=$(awk -v name="$name" '$1 == name { print $2 }' $stats)
	[ -n "$n" ] || die "no counter $name in $stats"
	[ "$n" -gt 0 ] || die "counter $name is 0"
	say "ok: $name = $n"
done

kmsg "disconnect"
nvmf_disconnect "$ctrl"
ctrl=
exit 0
