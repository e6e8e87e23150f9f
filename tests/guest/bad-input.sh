#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# bad-input TRANSPORT
#
# Malformed PDUs from the network (tests/guest/badpdu.py, one connection per case: PDUs out
# of sequence, bad header fields, a header digest error, unsolicited H2CData, a termination
# request) must each end only their own connection: nvmet_tcp_rs answers with a C2HTermReq
# carrying the right fatal error status first, nvmet_tcp just closes (or ignores some). A
# Write with a wrong data digest must fail only that command on nvmet_tcp_rs. Meanwhile a real
# host stays connected, and its I/O is verified afterwards. Needs python3 (x86_64 guest).
ME=bad-input
# shellcheck source=tests/guest/lib.sh
. "$(dirname "$0")/lib.sh"

transport=${1:-}
[ -n "$transport" ] || die "usage: bad-input TRANSPORT"
command -v python3 >/dev/null || die "needs python3"
nqn=nqn.2014-08.org.nvmexpress:nvmet-tcp-rs-bad-input
ram=/dev/ram0
tmp=/tmp/bad-input
mkdir -p "$tmp" || die "cannot create $tmp"

ctrl=
# shellcheck disable=SC2317 # runs from the trap
cleanup() {
	rc=$?
	trap - EXIT
	[ -z "$ctrl" ] || nvmf_disconnect "$ctrl"
	target_modules_unload "$transport"
	exit "$rc"
}
trap cleanup EXIT

target_modules_load "$transport" 65536
nvmet_subsys_create "$nqn" 1 $ram
nvmet_port_create 1 tcp ipv4 127.0.0.1 4420
nvmet_port_add_subsys 1 "$nqn"

ctrl=$(NVMF_OPTS="nr_io_queues=2" nvmf_connect 127.0.0.1 4420 "$nqn") || exit 1
dev=$(nvme_ns_dev "$ctrl" 1) || exit 1

expect=
[ "$transport" = nvmet_tcp_rs ] && expect=--expect-term
kmsg "malformed PDUs"
python3 "$(dirname "$0")/badpdu.py" 127.0.0.1 4420 "$nqn" $expect || die "a malformed PDU was not handled as expected"

kmsg "the real host still works"
verify_io_plan "$dev" $ram "$tmp" light || die "the connected host's I/O failed after the bad input"
say "ok: malformed PDUs ended only their own connections; the connected host's I/O verified"
stats=/sys/kernel/debug/nvmet_tcp_rs/stats
[ ! -r $stats ] || grep -E "protocol_errors|header_digest_errors|tx_c2h_term_req|rx_h2c_term_req|connections" $stats | sed "s/^/$ME: stats: /"
exit 0
