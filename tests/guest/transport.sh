#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# transport TRANSPORT [highmem=1] [fio=1] [discover=1]
#
# The transport scenario matrix, run against one target transport (nvmet_tcp or
# nvmet_tcp_rs), so the same run can show both pass. In one boot, over a brd ram disk:
#   digests  I/O verified at 512 B .. 4 MiB (page- and sector-aligned offsets), with no
#            digests, header only, data only and both, across in-capsule data sizes 0 (all
#            writes by R2T; the C target refuses the connect there, which is checked), the
#            default (16 KiB) and 8 KiB (writes of 8 KiB+512, 16 KiB-512, 16 KiB and
#            16 KiB+512 cross them), 1 and 2 I/O queues, queue sizes 16 .. 1024, and SQ
#            flow control disabled (reads end with a C2HData SUCCESS flag instead of a
#            response capsule);
#   ipv6     the same I/O over ::1;
#   hosts    two hosts (host NQNs) connected at once, writing and verifying in parallel;
#   cycles   20 connect/disconnect cycles with I/O in each;
#   discover nvme discover lists the subsystem (discover=1, needs nvme-cli);
#   fio      fio --verify=crc32c over 256 MiB of mixed sizes at iodepth 32 (fio=1);
#   queues128 one controller with 128 I/O queues open at once, data over each, the 129th
#            refused (needs python3, so x86_64 only);
#   bad-input malformed PDUs (badpdu.py) beside a connected host, whose I/O is verified
#            afterwards (needs python3, so x86_64 only; nvmet_tcp's results are only
#            reported); hostile hosts at every later stage are the reliability scenario's;
#   teardown removing a port and unlinking a subsystem under connected hosts, then unloading.
# highmem=1 loads nvmet_tcp_rs with highmem_buffers=1 and checks that the kmap_local guard
# path placed data (debugfs counter above 0).
ME=transport
# shellcheck source=tests/guest/lib.sh
. "$(dirname "$0")/lib.sh"

transport=${1:-}
[ -n "$transport" ] || die "usage: transport TRANSPORT [highmem=1] [fio=1] [discover=1]"
shift
highmem=0 fio=0 discover=0
for a in "$@"; do
	case $a in
	highmem=*) highmem=${a#*=} ;;
	fio=*) fio=${a#*=} ;;
	discover=*) discover=${a#*=} ;;
	*) die "unknown argument '$a'" ;;
	esac
done

nqn=nqn.2014-08.org.nvmexpress:nvmet-tcp-rs-matrix
host1=nqn.2014-08.org.nvmexpress:uuid:00000000-0000-4000-8000-000000000001
host2=nqn.2014-08.org.nvmexpress:uuid:00000000-0000-4000-8000-000000000002
ram=/dev/ram0
ram_kib=327680
tmp=/tmp/transport
stats=/sys/kernel/debug/nvmet_tcp_rs/stats
mkdir -p "$tmp" || die "cannot create $tmp"

ctrls=""
# shellcheck disable=SC2317 # runs from the trap
cleanup() {
	rc=$?
	trap - EXIT
	kmsg "cleanup"
	for c in $ctrls; do nvmf_disconnect "$c"; done
	target_modules_unload "$transport"
	exit "$rc"
}
trap cleanup EXIT

params=""
[ "$highmem" = 1 ] && params="highmem_buffers=1"
# shellcheck disable=SC2086 # params is a word list
target_modules_load "$transport" $ram_kib $params
nvmet_subsys_create "$nqn" 1 $ram

# port ID ADRFAM TRADDR TRSVCID [INLINE]: a port serving the subsystem.
port() {
	nvmet_port_create "$1" tcp "$2" "$3" "$4"
	[ -z "${5:-}" ] || echo "$5" >"$NVMET_CFS/ports/$1/param_inline_data_size" ||
		die "cannot set param_inline_data_size $5"
	nvmet_port_add_subsys "$1" "$nqn"
}
# unport ID: removes a port (no host may use it).
unport() {
	rm "$NVMET_CFS/ports/$1/subsystems/$nqn" || die "cannot unlink port $1"
	rmdir "$NVMET_CFS/ports/$1" || die "cannot remove port $1"
}
# connect TRADDR TRSVCID OPTS: connects with fabrics options OPTS; prints the controller.
# Runs in a subshell ($(...)): the caller records the controller in $ctrls for cleanup.
connect() {
	NVMF_OPTS=$3 nvmf_connect "$1" "$2" "$nqn" || exit 1
}
disconnect() {
	nvmf_disconnect "$1"
	ctrls=$(echo "$ctrls" | tr ' ' '\n' | grep -vx "$1" | tr '\n' ' ')
}
# io_case NAME TRADDR TRSVCID OPTS [light]: connect, verify the I/O plan, disconnect.
io_case() {
	kmsg "case $1 ($4)"
	_c=$(connect "$2" "$3" "$4") || exit 1
	ctrls="$ctrls $_c"
	_d=$(nvme_ns_dev "$_c" 1) || exit 1
	verify_io_plan "$_d" $ram "$tmp" "${5:-}" || die "case $1: I/O verification failed"
	disconnect "$_c"
	say "case $1: ok ($4)"
}

# --- digests, in-capsule sizes, queues -----------------------------------------------------
port 1 ipv4 127.0.0.1 4420
port 2 ipv4 127.0.0.1 4421 0
port 3 ipv4 127.0.0.1 4422 8192
io_case plain 127.0.0.1 4420 "nr_io_queues=2"
io_case hdgst 127.0.0.1 4420 "hdr_digest,nr_io_queues=1,queue_size=16" light
io_case ddgst 127.0.0.1 4420 "data_digest,nr_io_queues=2,queue_size=1024" light
io_case both-inline8k 127.0.0.1 4422 "hdr_digest,data_digest,nr_io_queues=1,queue_size=64" light
io_case nosqflow 127.0.0.1 4420 "disable_sqflow,nr_io_queues=2" light
# inline_data_size 0: every write goes by R2T. Hosts still send Connect in-capsule (the
# admin capsule is 8 KiB whatever the port says), which the C target refuses: for it the
# case checks that refusal, so that a change on either side shows.
if [ "$transport" = nvmet_tcp ]; then
	kmsg "case r2t-only (expect the C target to refuse the connect)"
	if c=$(NVMF_OPTS="nr_io_queues=1" nvmf_connect 127.0.0.1 4421 "$nqn" 2>/dev/null); then
		die "case r2t-only: nvmet_tcp accepted a connect on an inline_data_size 0 port"
	fi
	say "case r2t-only: nvmet_tcp refuses the in-capsule Connect on an inline_data_size 0 port (known)"
else
	io_case r2t-only 127.0.0.1 4421 "hdr_digest,data_digest,nr_io_queues=2,queue_size=1024" light
fi

# --- IPv6 ----------------------------------------------------------------------------------
port 6 ipv6 ::1 4426
io_case ipv6 ::1 4426 "nr_io_queues=2" light

# --- two hosts in parallel -------------------------------------------------------------------
kmsg "case hosts"
# Through /dev/nvme-fabrics: nvme-cli 2.3 refuses a second controller to the same address
# even with --duplicate-connect. Each host has its own NQN and host ID.
c1=$(NVMF_CONNECT=raw connect 127.0.0.1 4420 "hostnqn=$host1,hostid=${host1##*:},nr_io_queues=2") || exit 1
ctrls="$ctrls $c1"
c2=$(NVMF_CONNECT=raw connect 127.0.0.1 4420 "hostnqn=$host2,hostid=${host2##*:},nr_io_queues=2") || exit 1
ctrls="$ctrls $c2"
d1=$(nvme_ns_dev "$c1" 1) || exit 1
d2=$(nvme_ns_dev "$c2" 1) || exit 1
[ "$d1" != "$d2" ] || die "both hosts got $d1"
mkdir -p "$tmp/h1" "$tmp/h2"
(verify_io_region "$d1" 0 "$tmp/h1" 8) &
p1=$!
(verify_io_region "$d2" $((64 << 20)) "$tmp/h2" 8) &
p2=$!
wait $p1 || die "case hosts: host 1 I/O failed"
wait $p2 || die "case hosts: host 2 I/O failed"
disconnect "$c1"
disconnect "$c2"
say "case hosts: ok (two controllers, parallel verified I/O)"

# --- reconnect cycles ----------------------------------------------------------------------
# Through /dev/nvme-fabrics and delete_controller, as nvme-cli does, without its start-up.
kmsg "case cycles"
i=0
while [ $i -lt 20 ]; do
	c=$(NVMF_CONNECT=raw connect 127.0.0.1 4420 "nr_io_queues=1") || exit 1
	ctrls="$ctrls $c"
	d=$(nvme_ns_dev "$c" 1) || exit 1
	verify_io_region "$d" $((i << 20)) "$tmp" 1 || die "case cycles: I/O failed in cycle $i"
	NVMF_CONNECT=raw disconnect "$c"
	i=$((i + 1))
done
say "case cycles: ok (20 connect/disconnect cycles)"

# --- discovery -----------------------------------------------------------------------------
if [ "$discover" = 1 ]; then
	kmsg "case discover"
	nvme discover -t tcp -a 127.0.0.1 -s 4420 >"$tmp/disc" 2>&1 || {
		cat "$tmp/disc" >&2
		die "case discover: nvme discover failed"
	}
	grep -q "subnqn: *$nqn" "$tmp/disc" || {
		cat "$tmp/disc" >&2
		die "case discover: $nqn not in the discovery log"
	}
	say "case discover: ok"
fi

# --- fio -----------------------------------------------------------------------------------
if [ "$fio" = 1 ]; then
	kmsg "case fio"
	c=$(connect 127.0.0.1 4420 "hdr_digest,data_digest,nr_io_queues=2") || exit 1
	ctrls="$ctrls $c"
	d=$(nvme_ns_dev "$c" 1) || exit 1
	fio --name=verify --filename="$d" --direct=1 --ioengine=libaio --iodepth=32 \
		--rw=randwrite --bssplit=512/10:4k/40:64k/30:1m/15:4m/5 --size=256m \
		--verify=crc32c --verify_fatal=1 --do_verify=1 --randrepeat=0 \
		--output="$tmp/fio.out" >/dev/null 2>&1 || {
		cat "$tmp/fio.out" >&2
		die "case fio: fio verification failed"
	}
	grep -E "WRITE:|READ:" "$tmp/fio.out" | sed "s/^/$ME: fio: /"
	disconnect "$c"
	say "case fio: ok (256 MiB, crc32c verified, iodepth 32)"
fi

# --- the core's queue limit ----------------------------------------------------------------
# nvme-tcp opens at most one I/O queue per CPU, so a small Python host (tests/guest/
# tcphost.py) opens the subsystem's 128 at once, moves data over each, and checks that
# queue 129 is refused (needs python3: x86_64).
if command -v python3 >/dev/null; then
	kmsg "case queues128"
	python3 "$(dirname "$0")/queues.py" --backing $ram 127.0.0.1 4420 "$nqn" ||
		die "case queues128: failed"
	say "case queues128: ok (128 I/O queues on one controller, the 129th refused)"
fi

# --- malformed PDUs --------------------------------------------------------------------------
# badpdu.py opens one connection per malformed PDU while a real host stays connected: each
# must end only its own connection (nvmet_tcp_rs: with a C2HTermReq carrying the right fatal
# error status; nvmet_tcp is only reported), a wrong data digest must fail only its command
# on nvmet_tcp_rs, and the host's I/O is verified afterwards (needs python3: x86_64).
if command -v python3 >/dev/null; then
	kmsg "case bad-input"
	c=$(connect 127.0.0.1 4420 "nr_io_queues=2") || exit 1
	ctrls="$ctrls $c"
	d=$(nvme_ns_dev "$c" 1) || exit 1
	expect=
	[ "$transport" = nvmet_tcp_rs ] && expect=--expect-term
	python3 "$(dirname "$0")/badpdu.py" 127.0.0.1 4420 "$nqn" $expect ||
		die "case bad-input: a malformed PDU was not handled as expected"
	verify_io_plan "$d" $ram "$tmp" light || die "case bad-input: the connected host's I/O failed"
	disconnect "$c"
	say "case bad-input: ok (malformed PDUs affected only their own connections; the host's I/O verified)"
fi

# --- highmem placement ---------------------------------------------------------------------
if [ "$highmem" = 1 ]; then
	[ -r $stats ] || die "no $stats"
	n=$(awk '$1 == "bytes_placed_highmem_guard" { print $2 }' $stats)
	say "stats: $(tr '\n' ' ' <$stats)"
	[ "${n:-0}" -gt 0 ] || die "case highmem: no bytes went through the highmem guard"
	say "case highmem: ok ($n bytes placed through kmap_local_page)"
fi

# --- teardown under connected hosts --------------------------------------------------------
kmsg "case teardown"
c=$(connect 127.0.0.1 4422 "nr_io_queues=1,reconnect_delay=1,ctrl_loss_tmo=2") || exit 1
ctrls="$ctrls $c"
unport 3
# The host loses its controller: it gives up after ctrl_loss_tmo.
wait_until 30 test ! -e "/sys/class/nvme/$c" || die "case teardown: $c survived its port"
ctrls=$(echo "$ctrls" | tr ' ' '\n' | grep -vx "$c" | tr '\n' ' ')
c=$(connect 127.0.0.1 4420 "nr_io_queues=1,reconnect_delay=1,ctrl_loss_tmo=2") || exit 1
ctrls="$ctrls $c"
rm "$NVMET_CFS/ports/1/subsystems/$nqn" || die "cannot unlink the subsystem from port 1"
wait_until 30 test ! -e "/sys/class/nvme/$c" || die "case teardown: $c survived the unlink"
ctrls=$(echo "$ctrls" | tr ' ' '\n' | grep -vx "$c" | tr '\n' ' ')
say "case teardown: ok (port removal and subsystem unlink under connected hosts)"
[ ! -r $stats ] || sed "s/^/$ME: stats: /" $stats
exit 0
