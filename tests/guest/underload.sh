#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# underload: the "teardown under load" part of the reliability suite, run by
# tests/guest/reliability.sh once the target modules are loaded (brd /dev/ram0, nvmet,
# $TRANSPORT, nvme_tcp). Environment:
#   TRANSPORT      nvmet_tcp (results only reported: "seen") or nvmet_tcp_rs ("ok"/"FAIL")
#   RELI_LEVEL     bounded (CI) or full (make stress: the issue's numbers)
#   RELI_ROWS      the table file row() appends to
#   RELI_ARCH      x86_64 or armv7 (no python3 there, maybe no fio: dd-verified I/O instead)
#   RELI_MODPARAMS $TRANSPORT's module parameters, for its reload in rmmod-busy
# One subsystem (namespace 1 on /dev/ram0, of which only the first 512 MiB are used) on
# ports 40 (127.0.0.1:4440) and 41 (:4441). Hosts A, B and C have their own host NQN and ID
# and two I/O queues each; the load is fio --verify=crc32c (else lib.sh's verify_io_region)
# in passes, one after another, on a region of the namespace of each host's own.
#   cycles       host A verifies without pause while host B disconnects and reconnects N
#                times (full: 100) with a small verified I/O each time; host A's passes
#                must all verify clean.
#   port-removal host C (reconnect_delay=1, ctrl_loss_tmo=60) under load; its port is
#                removed, then made again once the host saw the loss: the host must reconnect
#                (time reported) and a fresh pass verify. I/O errors while the port is gone
#                are expected; a verify mismatch is not.
#   subsys-unlink the same with the subsystem unlinked from the port and linked again.
#   ns-disable   the namespace disabled (echo 0 > enable) under host C's load, then enabled:
#                its block device must come back (time reported) and a fresh pass verify.
#                (The host deletes the disk: the pass it ends fails one way or another.)
#   keepalive    silent.py (python3: x86_64 only) opens a controller with KATO 3 s, leaves
#                R2T writes and unread reads outstanding and goes silent: the target must tear
#                the controller down and close both queues within 2 x KATO + 10 s.
#   rmmod-busy   rmmod $TRANSPORT with ports 40 and 41 enabled must be refused; once our ports
#                are gone (and no other port exists) it must succeed; then it is loaded again.
#   verified     the MiB all passes verified (full on x86_64: at least 1 GiB).
# After each case, nvmet_tcp_rs's live counters (connections_active, data_buffers_live,
# ports_live) must be back at their values from before it. Exits 0 once it ran through.
ME=underload
NVMF_CONNECT=raw
# shellcheck source=tests/guest/lib.sh
. "$(dirname "$0")/lib.sh"

: "${TRANSPORT:?}" "${RELI_LEVEL:=bounded}" "${RELI_ARCH:=${VMRUN_ARCH:-x86_64}}"
: "${RELI_MODPARAMS:=}"
nqn=nqn.2014-08.org.nvmexpress:reliability-load
host_a=nqn.2014-08.org.nvmexpress:uuid:00000000-0000-4000-8000-0000000000a1
host_b=nqn.2014-08.org.nvmexpress:uuid:00000000-0000-4000-8000-0000000000b2
host_c=nqn.2014-08.org.nvmexpress:uuid:00000000-0000-4000-8000-0000000000c3
ram=/dev/ram0
stats=/sys/kernel/debug/nvmet_tcp_rs/stats
tmp=/tmp/underload
MiB=1048576
mkdir -p "$tmp" || die "cannot create $tmp"
use_fio=0
command -v fio >/dev/null 2>&1 && use_fio=1

# Sizes: cycles, one pass of host A's load and of host C's (MiB), the verified total that
# host A's load must reach before it may stop (the issue's 1 GiB, in full on x86_64).
case $RELI_LEVEL.$RELI_ARCH in
full.x86_64) cycles=100 pass_mib=64 out_mib=32 min_mib=1024 ;;
bounded.x86_64) cycles=10 pass_mib=8 out_mib=8 min_mib=0 ;;
full.*) cycles=40 pass_mib=32 out_mib=16 min_mib=0 ;;
*) cycles=10 pass_mib=16 out_mib=16 min_mib=0 ;;
esac
# Regions of the first 512 MiB (less on a smaller disk): A 3/8, B 1/8, C 1/2.
span=$(blockdev_bytes $ram)
[ "$span" -le $((512 * MiB)) ] || span=$((512 * MiB))
reg_a=0 len_a=$((span * 3 / 8 / MiB * MiB))
reg_b=$len_a len_b=$((span / 8 / MiB * MiB))
reg_c=$((span / 2)) len_c=$((span / 2 / MiB * MiB))
[ "$len_a" -ge $((pass_mib * MiB)) ] || die "/dev/ram0 too small for $pass_mib MiB passes"

now() { # centiseconds since boot, without a fork
	read -r _up _ </proc/uptime
	echo "${_up%.*}${_up#*.}"
}
secs() { printf '%d.%d' $(($1 / 100)) $(($1 % 100 / 10)); }
live() { # nvmet_tcp_rs's live counters, or nothing for the C target
	[ "$TRANSPORT" = nvmet_tcp_rs ] && [ -r $stats ] || return 0
	awk '$1 ~ /^(connections_active|data_buffers_live|ports_live)$/ { printf "%s%s=%s", s, $1, $2; s = " " }' $stats
}
live_is() { [ "$(live)" = "$1" ]; }
# counters_back BASE: waits for the live counters to return to BASE; sets cnt_ok and cnt_note.
counters_back() {
	cnt_ok=1 cnt_note="live counters back at baseline"
	[ -n "$1" ] || {
		cnt_note="no live counters (C target)"
		return 0
	}
	wait_until 20 live_is "$1" && return 0
	cnt_ok=0 cnt_note="live counters $(live), not back at $1"
}
cstate() { cat "/sys/class/nvme/$1/state" 2>/dev/null || echo gone; }
cstate_is() { [ "$(cstate "$1")" = "$2" ]; }
cstate_not() { [ "$(cstate "$1")" != "$2" ]; }
ns_gone() { ! _ns_blk "$1" 1 >/dev/null; }
writing() { # DEV SECTORS: DEV wrote more than SECTORS (lib.sh's _bdev_stat; always if no stats)
	_bdev_stat "$1" 7
	[ "${_stat:-1}" -gt "$2" ]
}
# hconnect TRSVCID HOSTNQN OPTS: host HOSTNQN connects to 127.0.0.1:TRSVCID; prints nvmeN.
hconnect() {
	NVMF_OPTS="hostnqn=$2,hostid=${2##*:},nr_io_queues=2${3:+,$3}" nvmf_connect 127.0.0.1 "$1" "$nqn"
}
hdisconnect() { (nvmf_disconnect "$1"); }
# mkport ID TRSVCID: a port serving the subsystem (in a subshell: fails, does not die).
mkport() { (nvmet_port_create "$1" tcp ipv4 127.0.0.1 "$2" && nvmet_port_add_subsys "$1" "$nqn"); }
rmport() {
	[ ! -L "$NVMET_CFS/ports/$1/subsystems/$nqn" ] || rm "$NVMET_CFS/ports/$1/subsystems/$nqn"
	[ ! -d "$NVMET_CFS/ports/$1" ] || rmdir "$NVMET_CFS/ports/$1"
}

# pass DEV OFFSET BYTES OUT: one verified pass over BYTES from OFFSET; prints "ok KIB",
# "ioerr ..." or "mismatch ..." (a pass whose data read back differs from what it wrote).
pass() {
	if [ ! -b "$1" ]; then
		echo "ioerr no block device $1"
	elif [ $use_fio = 1 ]; then
		timeout -k 10 $((120 + $3 / MiB * 8)) fio --name=underload --filename="$1" --direct=1 \
			--ioengine=libaio --iodepth=16 --rw=randwrite --bssplit=512/5:4k/40:16k/20:64k/20:1m/15 \
			--offset="$2" --size="$3" --verify=crc32c --do_verify=1 --verify_fatal=1 \
			--randrepeat=0 --allow_file_create=0 --output-format=terse --output="$4.terse" >/dev/null 2>"$4.err"
		_rc=$?
		# What fio said about a failed pass goes to the console, for the log.
		[ $_rc = 0 ] || sed -n "1,8s|^|$ME: fio ${4##*/}: |p" "$4.err" >&2
		if grep -qE 'verify|bad magic|crc32c' "$4.err"; then
			echo "mismatch $(grep -m1 -E 'verify|bad magic|crc32c' "$4.err")"
		elif [ $_rc != 0 ]; then
			echo "ioerr fio rc $_rc: $(head -n1 "$4.err")"
		else
			echo "ok $(grep '^3;' "$4.terse" | cut -d';' -f6)"
		fi
	else
		mkdir -p "$4.d"
		_cnt=$(($3 / 2097152)) _kib=0 _i=0
		if (verify_io_region "$1" "$2" "$4.d" "$_cnt") 2>"$4.err"; then
			while [ $_i -lt $_cnt ]; do # the sizes verify_io_region writes
				if [ $((_i % 3)) = 2 ]; then _kib=$((_kib + 1024)); else _kib=$((_kib + (_i % 4 + 1) * 4 + 1)); fi
				_i=$((_i + 1))
			done
			echo "ok $_kib"
		elif grep -q differs "$4.err"; then
			echo "mismatch $(grep -m1 differs "$4.err")"
		else
			echo "ioerr $(tail -n1 "$4.err")"
		fi
		rm -rf "$4.d"
	fi
}
# load TAG DEV OFFSET LEN PASS_MIB [MIN_MIB]: passes of PASS_MIB, one after another, over LEN
# bytes from OFFSET, until $tmp/TAG.stop exists and MIN_MIB were verified (or the last pass
# failed), or at once if TAG.stop is not empty; each pass's result is a line of $tmp/TAG.res.
load() {
	_n=0 _tot=0 _last=ok
	: >"$tmp/$1.res"
	while [ ! -e "$tmp/$1.stop" ] || { [ ! -s "$tmp/$1.stop" ] && [ "$_tot" -lt $((${6:-0} * 1024)) ] &&
		[ "$_last" = ok ]; }; do
		_slots=$(($4 / ($5 * MiB)))
		_t=$(now)
		_r=$(pass "$2" $(($3 + _n % _slots * $5 * MiB)) $(($5 * MiB)) "$tmp/$1.$_n")
		_last=${_r%% *}
		if [ "$_last" = ok ]; then
			_tot=$((_tot + ${_r#ok }))
			_r="$_r $(($(now) - _t))" # ok KIB CENTISECONDS
		fi
		echo "$_r" >>"$tmp/$1.res"
		[ "$_last" = ok ] || sleep 1
		_n=$((_n + 1))
	done
}
bg_start() { # TAG DEV OFFSET LEN PASS_MIB [MIN_MIB]
	rm -f "$tmp/$1.stop"
	load "$@" &
	eval "pid_$1=\$!"
}
# bg_stop TAG: ends the load; sets passes, ok_passes, kib, ioerrs, mismatches, first_bad.
bg_stop() {
	touch "$tmp/$1.stop"
	eval "_p=\${pid_$1:-}"
	if [ -n "$_p" ]; then wait "$_p"; fi
	eval "pid_$1="
	passes=$(wc -l <"$tmp/$1.res")
	ok_passes=$(grep -c '^ok' "$tmp/$1.res")
	kib=$(awk '$1 == "ok" { s += $2 } END { print s + 0 }' "$tmp/$1.res")
	# MiB/s of the clean passes (written and read back)
	rate=$(awk '$1 == "ok" { k += $2; t += $3 } END { if (t) printf "%.1f", k / 1024 / (t / 100) }' "$tmp/$1.res")
	ioerrs=$(grep -c '^ioerr' "$tmp/$1.res")
	mismatches=$(grep -c '^mismatch' "$tmp/$1.res")
	first_bad=$(grep -m1 -v '^ok' "$tmp/$1.res")
	total_kib=$((total_kib + kib))
}
total_kib=0 any_mismatch=0

# shellcheck disable=SC2317 # runs from the trap
cleanup() {
	_rc=$?
	trap - EXIT
	kmsg "cleanup"
	for _t in a c; do echo abort >"$tmp/$_t.stop"; done
	for _c in $(nvmf_ctrls "$nqn"); do hdisconnect "$_c" || _rc=1; done
	wait
	for _id in 40 41; do rmport $_id || _rc=1; done
	_s=$NVMET_CFS/subsystems/$nqn
	if [ -d "$_s" ]; then
		[ ! -d "$_s/namespaces/1" ] || { echo 0 >"$_s/namespaces/1/enable" && rmdir "$_s/namespaces/1"; } || _rc=1
		rmdir "$_s" || _rc=1
	fi
	# The orchestrator needs the transport loaded (rmmod-busy may have stopped half way).
	# shellcheck disable=SC2086 # a word list
	module_loaded "$TRANSPORT" || (load_module "$TRANSPORT" $RELI_MODPARAMS) || _rc=1
	rm -rf "$tmp"
	exit "$_rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "level $RELI_LEVEL, $RELI_ARCH, $TRANSPORT, load by $([ $use_fio = 1 ] && echo fio || echo dd), passes of $pass_mib/$out_mib MiB"
nvmet_subsys_create "$nqn" 1 $ram
mkport 40 4440 || die "cannot make port 40"

# ---- cycles --------------------------------------------------------------------------------
kmsg "case cycles"
base=$(live)
a=$(hconnect 4440 $host_a) || die "host A cannot connect"
da=$(nvme_ns_dev "$a" 1) || die "no namespace for host A"
bg_start a "$da" $reg_a "$len_a" $pass_mib $min_mib
i=0 t0=$(now) why=""
slots=$((len_b / (4 * MiB)))
while [ $i -lt $cycles ]; do
	b=$(hconnect 4440 $host_b) || { why="cycle $i: host B could not connect"; break; }
	db=$(nvme_ns_dev "$b" 1) || { why="cycle $i: no namespace for host B"; break; }
	(verify_io_region "$db" $((reg_b + i % slots * 4 * MiB)) "$tmp" 2) ||
		{ why="cycle $i: host B's verified I/O failed"; break; }
	hdisconnect "$b" || { why="cycle $i: host B could not disconnect"; break; }
	i=$((i + 1))
done
t1=$(now)
bg_stop a
hdisconnect "$a" || why="${why:+$why; }host A could not disconnect"
counters_back "$base"
[ "$mismatches" = 0 ] || any_mismatch=1
ok=0
[ -z "$why" ] && [ "$passes" -gt 0 ] && [ "$ok_passes" = "$passes" ] && [ "$cnt_ok" = 1 ] && ok=1
row cycles "$(verdict $ok)" "$i/$cycles reconnect cycles of host B with verified I/O in $(secs $((t1 - t0))) s${why:+ ($why)};" \
	"host A meanwhile: $ok_passes/$passes passes clean, $((kib / 1024)) MiB verified (${rate:-?} MiB/s)${first_bad:+, first bad: $first_bad}; $cnt_note"

# ---- port-removal, subsys-unlink, ns-disable -------------------------------------------------
mkport 41 4441 || die "cannot make port 41"
c=""
# outage CASE: host C (connected again if needed) under load; the outage, the host seeing
# it, 2 s more, the restore; the host back; the load ended; a fresh verified pass.
outage() {
	kmsg "case $1"
	if [ -z "$c" ] || ! cstate_is "$c" live; then
		c=$(hconnect 4441 $host_c "reconnect_delay=1,ctrl_loss_tmo=60") || {
			row "$1" "$(verdict 0)" "host C could not connect to port 41 before the case"
			return
		}
	fi
	dc=$(nvme_ns_dev "$c" 1) || {
		row "$1" "$(verdict 0)" "host C ($c) has no block device before the case"
		return
	}
	base=$(live) why="" back="" gone=""
	# The outage comes once the load's writes reach the device (fio starts slowly under TCG).
	_bdev_stat "$dc" 7
	w0=${_stat:-0}
	bg_start c "$dc" "$reg_c" $((len_c / 2)) $out_mib
	wait_until 60 writing "$dc" "$w0" || why="host C's load wrote nothing in 60 s"
	sleep 1
	s=$NVMET_CFS/subsystems/$nqn
	case $1 in
	port-removal) rmport 41 ;;
	subsys-unlink) rm "$NVMET_CFS/ports/41/subsystems/$nqn" ;;
	ns-disable) echo 0 >"$s/namespaces/1/enable" ;;
	esac || why="the $1 itself failed"
	t0=$(now)
	if [ "$1" = ns-disable ]; then
		wait_until 30 ns_gone "$c" || why="host C kept its block device"
	else
		wait_until 30 cstate_not "$c" live || why="host C did not see the loss"
	fi
	t1=$(now)
	if [ "$1" = ns-disable ]; then
		# Nothing to load while the device is gone; a dd that raced its removal may have
		# left a regular file in its place, which would keep devtmpfs from making it again.
		bg_stop c
		[ ! -f "$dc" ] || rm -f "$dc"
		# Once the host deleted the disk, its size is 0: a read returns no data and no error,
		# and fio checks a buffer nothing was read into ("bad header"). So here a failed
		# verify says nothing about the target; the fresh pass below is the check.
		gone=$((ioerrs + mismatches)) ioerrs=0 mismatches=0
	fi
	sleep 2
	t2=$(now)
	case $1 in
	port-removal) mkport 41 4441 ;;
	subsys-unlink) (nvmet_port_add_subsys 41 "$nqn") ;;
	ns-disable) echo 1 >"$s/namespaces/1/enable" ;;
	esac || why="${why:+$why; }the restore failed"
	if [ "$1" = ns-disable ]; then
		wait_until 60 _ns_blk "$c" 1 >/dev/null && back=$(now)
		[ -n "$back" ] || why="${why:+$why; }no block device 60 s after the enable"
	else
		wait_until 60 cstate_is "$c" live && back=$(now)
		[ -n "$back" ] || why="${why:+$why; }host C not back 60 s after the restore (state $(cstate "$c"))"
		bg_stop c
	fi
	fresh="" fresh_note=""
	if [ -n "$back" ] && dc=$(nvme_ns_dev "$c" 1); then
		fresh=$(pass "$dc" $((reg_c + len_c / 2)) $((out_mib * MiB)) "$tmp/fresh")
		case $fresh in
		ok*) total_kib=$((total_kib + ${fresh#ok })) fresh_note="clean, ${fresh#ok } KiB verified" ;;
		mismatch*) any_mismatch=1 ;;
		esac
	fi
	counters_back "$base"
	[ "$mismatches" = 0 ] || any_mismatch=1
	ok=0
	[ -z "$why" ] && [ "$mismatches" = 0 ] && [ "${fresh%% *}" = ok ] && [ "$cnt_ok" = 1 ] && ok=1
	what="the host saw it after $(secs $((t1 - t0))) s"
	[ -z "$back" ] || what="$what, was back $(secs $((back - t2))) s after the restore"
	[ "$1" != ns-disable ] || what="the namespace's block device went away after $(secs $((t1 - t0))) s${back:+, came back $(secs $((back - t2))) s after enable}"
	ended="$ioerrs ended by I/O errors, $mismatches mismatches"
	[ -z "$gone" ] || ended="$gone ended by the disk's removal (I/O errors, reads of a 0-byte disk)"
	row "$1" "$(verdict $ok)" "$what${why:+ ($why)}; load: $ok_passes/$passes passes clean," \
		"$((kib / 1024)) MiB verified, $ended${first_bad:+ (first: $first_bad)};" \
		"fresh pass after the restore: ${fresh_note:-${fresh:-not run}}; $cnt_note"
}
outage port-removal
outage subsys-unlink
outage ns-disable
[ -z "$c" ] || hdisconnect "$c" || die "host C cannot disconnect"

# ---- keepalive ---------------------------------------------------------------------------
if [ "$RELI_ARCH" = x86_64 ] && command -v python3 >/dev/null; then
	kmsg "case keepalive"
	base=$(live)
	out=$(python3 "$(dirname "$0")/silent.py" 127.0.0.1 4440 "$nqn" 3000 10 $(((reg_c + len_c - 4 * MiB) / 512)) 2>&1)
	prc=$?
	counters_back "$base"
	ok=0
	[ $prc = 0 ] && [ "$cnt_ok" = 1 ] && ok=1
	row keepalive "$(verdict $ok)" "$(echo "$out" | tail -n1) (rc $prc); $cnt_note"
fi

# ---- rmmod-busy (last: the transport is unloaded and loaded again) ------------------------
kmsg "case rmmod-busy"
m=$(modname "$TRANSPORT")
refs=$(cat "/sys/module/$m/refcnt" 2>/dev/null)
enabled=$(for l in "$NVMET_CFS"/ports/*/subsystems/*; do [ -L "$l" ] && echo "${l#"$NVMET_CFS"/ports/}"; done |
	cut -d/ -f1 | sort -u | tr '\n' ' ')
ok=1
if rmmod "$m" 2>"$tmp/rmmod.err"; then
	ok=0 what="rmmod with ports ${enabled}enabled (refcnt $refs) SUCCEEDED"
	# shellcheck disable=SC2086 # a word list
	load_module "$TRANSPORT" $RELI_MODPARAMS
else
	module_loaded "$m" || ok=0
	what="rmmod with ports ${enabled}enabled refused ($(head -n1 "$tmp/rmmod.err"); refcnt $refs)"
fi
rmport 40 || die "cannot remove port 40"
rmport 41 || die "cannot remove port 41"
others=$(ls "$NVMET_CFS/ports")
if [ -n "$others" ]; then
	what="$what; other ports exist ($(echo "$others" | tr '\n' ' ')): unload half skipped"
else
	tries=0
	until rmmod "$m" 2>"$tmp/rmmod.err"; do
		tries=$((tries + 1))
		[ $tries -lt 50 ] || break
		nap
	done
	if module_loaded "$m"; then
		ok=0 what="$what; with no ports left rmmod still failed ($(head -n1 "$tmp/rmmod.err"), refcnt $(cat "/sys/module/$m/refcnt"))"
	else
		what="$what; with no ports left it unloaded (after $tries retries)"
		# shellcheck disable=SC2086 # a word list
		load_module "$TRANSPORT" $RELI_MODPARAMS
		what="$what and was loaded again${RELI_MODPARAMS:+ ($RELI_MODPARAMS)}"
	fi
fi
row rmmod-busy "$(verdict $ok)" "$what"

# ---- verified --------------------------------------------------------------------------------
ok=0
[ $any_mismatch = 0 ] && [ $((total_kib / 1024)) -ge $min_mib ] && [ $total_kib -gt 0 ] && ok=1
row verified "$(verdict $ok)" "$((total_kib / 1024)) MiB verified by $([ $use_fio = 1 ] && echo 'fio crc32c' || echo 'dd and cmp') over all passes" \
	"(needed: ${min_mib} MiB at level $RELI_LEVEL)$([ $any_mismatch = 0 ] || echo '; DATA MISMATCHES seen')"
exit 0
