#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# faults: allocations failing inside the target transport, a part of the reliability suite:
# tests/guest/reliability.sh runs it (x86_64 debug kernel: FAILSLAB, FAIL_PAGE_ALLOC, their
# debugfs and the stack-trace filter) after target_modules_load, with TRANSPORT (nvmet_tcp_rs:
# each row must be ok; nvmet_tcp: "seen"), RELI_LEVEL (bounded: 10 and 50 %; full: 1 5 10 25
# 50 100 %, longer) and RELI_ROWS (lib.sh: row). Port IDs 50, 51 on 127.0.0.1:4450, 4451.
#
# failslab and fail_page_alloc fail, with the step's probability, each allocation with a frame
# of the module's .text on its stack: also what the kernel allocates for it (nvmet core, TCP,
# the block layer; over loopback also the host's softirq work on top of it), GFP_KERNEL ones
# too (ignore-gfp-wait N), order-0 and highmem pages; never GFP_NOFAIL ones. Each case:
#   connect   connects (2 I/O queues) while injecting, each connected or failed, none hung;
#   io        a connected host writes 8 KiB (in-capsule: under the 16 KiB inline size) and
#             reads it back with O_DIRECT for a window; r2t: 128 KiB writes (by R2T) and
#             reads; digests: both, with header and data digests. Commands may fail, but data
#             read after a successful write must be what was written;
#   teardown  with I/O on a controller of port 51, that port is removed, a controller of port
#             50 deleted, port 51 re-created (its enable may fail) and removed, all injecting.
# Then, injection off: no wait ran out (no hang); the honest host recovers (the case's
# controller reconnects, reconnect_delay=1, or a fresh one connects) and verifies a write and
# read in-capsule and by R2T; with the case's controllers gone nvmet_tcp_rs's live counters
# (connections_active, data_buffers_live, ports_live) are back; the host logged no I/O timeout
# (a command left unanswered for 30 s, unless nothing could be sent that long: 100 % for 30 s)
# and, below 100 % (where nothing can be sent or accepted), no Keep Alive timeout (none answered within KATO) and no ICResp timeout (a
# connection left unanswered for 10 s, see case_end). Failures really were
# injected: the count is exact, from the debugfs "times" budget (the log's "FAULT_INJECTION:
# forcing a failure" lines are a rate-limited sample, and __GFP_NOWARN allocations, the data
# buffers' among them, print none); windows and connects go on until one was. A case with
# none exercised nothing: a FAIL for nvmet_tcp_rs. verbose is 1: 2 would dump stacks ("Call
# Trace:"), which scripts/check-log takes for splats. Splats fail the run (check-log), as do
# kmemleak's reports at its end. Exits 0 if it ran to its end.
ME=faults
# shellcheck source=tests/guest/lib.sh
. "$(dirname "$0")/lib.sh"

transport=${TRANSPORT:?TRANSPORT is nvmet_tcp or nvmet_tcp_rs}
case ${RELI_LEVEL:-bounded} in
bounded) steps="10 50" window=4 nconn=2 ;;
full) steps="1 5 10 25 50 100" window=10 nconn=5 ;;
*) die "RELI_LEVEL is bounded or full" ;;
esac
# The most failures a second that an I/O case may inject: the host's I/O under TCG makes at
# most about 120 (r2t at 50 %), a loop that retries at once thousands.
max_rate=1000
# For development: FAULTS_STEPS (percentages, e.g. 25,50) and FAULTS_CASES (connect,io,r2t,
# digests,teardown) narrow the run; FAULTS_VERBOSE=2 logs the failures' stacks (which
# check-log then takes for splats).
steps=$(echo "${FAULTS_STEPS:-$steps}" | tr , ' ') cases=,${FAULTS_CASES:-connect,io,r2t,digests,teardown},
want() { case $cases in *",$1,"*) return 0 ;; esac; return 1; }
nqn=nqn.2014-08.org.nvmexpress:reliability-faults
addr=127.0.0.1
tmp=/tmp/faults
stats=/sys/kernel/debug/nvmet_tcp_rs/stats
dbg=/sys/kernel/debug
fis="$dbg/failslab $dbg/fail_page_alloc"
budget=1000000 # "times": the most failures per case; what is left tells how many were injected
NVMF_CONNECT=raw # /dev/nvme-fabrics: no nvme-cli start-up, no refused duplicate connects
mod=$(modname "$transport")
[ -d $dbg/failslab ] && [ -d $dbg/fail_page_alloc ] || die "no fault injection in this kernel"
[ -r $dbg/failslab/require-start ] || die "no stack-trace filter (FAULT_INJECTION_STACKTRACE_FILTER)"
module_loaded "$mod" || die "$mod is not loaded"
rm -rf "$tmp" && mkdir -p "$tmp" || die "cannot create $tmp"

# --- the module's code range -----------------------------------------------------------------
# The .ko's runtime code is one section, .text: the module linker script (scripts/module.lds)
# merges .text.unlikely, .text.hot and the like into it, as readelf shows for both modules.
# .init.text is freed after loading, .exit.text runs only at rmmod (never while injecting),
# .altinstr_replacement is only copied into .text by the alternatives patching: no return
# address lies in them. So [.text, .text + its size) holds every frame of the module; its
# start comes from sysfs, its size from the section header of the very file that was loaded.
# Any other executable section would be a range this filter misses: warned about.
if [ "$mod" = nvmet_tcp_rs ]; then ko=$(extra_ko "$mod") || ko=$(modinfo -n "$mod"); else ko=$(modinfo -n "$mod"); fi
[ -r "$ko" ] || die "cannot find the .ko of $mod"
case $ko in *.ko) ;; *) die "$ko is compressed: readelf cannot read its sections" ;; esac
command -v readelf >/dev/null || die "no readelf to size $mod's .text"
sections=$(readelf -SW "$ko" | sed -n 's/^ *\[ *[0-9]*\] *//p') # NAME TYPE ADDR OFF SIZE ES FLG ...
size=$(echo "$sections" | awk '$1 == ".text" { print $5 }')
[ -n "$size" ] || die "no .text section in $ko"
others=$(echo "$sections" | awk '$7 ~ /X/ && $1 !~ /^\.(text|init\.text|exit\.text|altinstr_replacement)$/ { printf "%s ", $1 }')
[ -z "$others" ] || warn "$ko has more executable sections, outside the filtered range: $others"
start=$(cat "/sys/module/$mod/sections/.text") || die "no .text address for $mod"
# start + size in 64 bits: dash's arithmetic is signed, so in two 32-bit halves.
hi=${start%????????} lo=0x${start#"${start%????????}"}
sum=$((lo + 0x$size))
end=$(printf '0x%08x%08x' $((hi + (sum >> 32))) $((sum & 0xffffffff)))
# Check: the module's text symbols in /proc/kallsyms lie in the range.
inside=$(awk -v m="[$mod]" -v s="${start#0x}" -v e="${end#0x}" \
	'$4 == m && $2 ~ /^[tT]$/ { n++; if ($1 >= s && $1 < e) i++ } END { print i + 0 "/" n + 0 }' /proc/kallsyms)
say "$mod: .text $start..$end ($((0x$size)) bytes, $ko); $inside of its text symbols inside"
[ "${inside%/*}" -gt 0 ] || die "no symbol of $mod in $start..$end: wrong range"

# --- fault injection ---------------------------------------------------------------------------
# vmalloc is excluded (reject-start/end: its entry point, up to the next symbol): a vmalloc
# that fails reports it with warn_alloc(), a stack dump that check-log takes for a splat,
# although it is the kernel's ordinary allocation-failure message. kvmalloc()'s kmalloc
# attempt still fails (quietly), then its vmalloc fallback succeeds; sizes up to a page have no
# fallback, so their failures still reach the module.
vm=$(awk 'NR == FNR { if (NF == 3 && $3 == "__vmalloc_node_range_noprof") a = $1; next }
	a != "" && $1 > a && (b == "" || $1 < b) { b = $1 } END { if (b != "") print "0x" a, "0x" b }' \
	/proc/kallsyms /proc/kallsyms)
[ -n "$vm" ] || {
	warn "no __vmalloc_node_range_noprof in /proc/kallsyms: vmalloc failures may dump stacks"
	vm="0 0"
}
say "failing allocations under $start..$end, not under vmalloc ${vm% *}..${vm#* }"
fi_knobs="probability interval times space verbose verbose_ratelimit_interval_ms verbose_ratelimit_burst task-filter stacktrace-depth require-start require-end reject-start reject-end ignore-gfp-wait ignore-gfp-highmem min-order cache-filter"
fi_set() { echo "$3" >"$1/$2" || die "cannot set $1/$2 to $3"; }
for d in $fis; do # the settings before, restored at the end
	for k in $fi_knobs; do [ ! -r "$d/$k" ] || echo "$k $(cat "$d/$k")"; done >"$tmp/saved.${d##*/}"
done
fi_restore() { # probability stays 0: injection off, whatever was set before
	for d in $fis; do
		echo 0 >"$d/probability"
		while read -r k v; do [ "$k" = probability ] || echo "$v" >"$d/$k"; done <"$tmp/saved.${d##*/}"
	done
}
# Logged: at most 10 failures a second (the "ms" interval is in jiffies, HZ=250), a sample.
for d in $fis; do
	for kv in probability=0 times=0 interval=1 space=0 task-filter=N ignore-gfp-wait=N \
		verbose="${FAULTS_VERBOSE:-1}" verbose_ratelimit_interval_ms=250 verbose_ratelimit_burst=10 stacktrace-depth=32 \
		require-start="$start" require-end="$end" reject-start="${vm% *}" reject-end="${vm#* }"; do
		fi_set "$d" "${kv%%=*}" "${kv#*=}"
	done
done
fi_set $dbg/failslab cache-filter N
fi_set $dbg/fail_page_alloc ignore-gfp-highmem N
fi_set $dbg/fail_page_alloc min-order 0
fi_on() { # PERCENT
	t_inj=$(centis)
	for d in $fis; do fi_set "$d" times $budget; done
	for d in $fis; do fi_set "$d" probability "$1"; done
}
fi_count() { echo $((2 * budget - $(cat $dbg/failslab/times) - $(cat $dbg/fail_page_alloc/times))); }
fi_off() { # sets injected, inj_slab, inj_page: the failures injected since fi_on; inj_secs
	for d in $fis; do fi_set "$d" probability 0; done
	inj_secs=$((($(centis) - t_inj) / 100))
	inj_slab=$((budget - $(cat $dbg/failslab/times))) inj_page=$((budget - $(cat $dbg/fail_page_alloc/times)))
	injected=$((inj_slab + inj_page))
	for d in $fis; do fi_set "$d" times 0; done
}

# --- target, host, bookkeeping ---------------------------------------------------------------
# shellcheck disable=SC2317 # runs from the trap
cleanup() {
	rc=$?
	trap - EXIT INT TERM
	kmsg "cleanup"
	fi_restore
	touch "$tmp/stop"
	# Deleting the controllers fails any I/O still waiting, so the loop ends.
	for c in $(nvmf_ctrls "$nqn"); do
		echo 1 >"/sys/class/nvme/$c/delete_controller" 2>/dev/null
	done
	[ -z "${io_pid:-}" ] || wait "$io_pid"
	for p in 50 51; do
		rm -f "$NVMET_CFS/ports/$p/subsystems/$nqn"
		rmdir "$NVMET_CFS/ports/$p" 2>/dev/null
	done
	echo 0 >"$NVMET_CFS/subsystems/$nqn/namespaces/1/enable" 2>/dev/null
	rmdir "$NVMET_CFS/subsystems/$nqn/namespaces/1" "$NVMET_CFS/subsystems/$nqn" 2>/dev/null
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

nvmet_subsys_create "$nqn" 1 /dev/ram0
[ "$(blockdev_bytes /dev/ram0)" -ge $((32 << 20)) ] || die "/dev/ram0 is under 32 MiB"
# brd allocates a page at the first write to it, under the target's stack: written once here,
# the 17 MiB the cases use fail no write for brd's sake, only for the target's.
dd if=/dev/zero of=/dev/ram0 bs=1M count=17 oflag=direct status=none || die "cannot write /dev/ram0"
port_up() { # ID TRSVCID: dies on failure
	nvmet_port_create "$1" tcp ipv4 $addr "$2"
	nvmet_port_add_subsys "$1" "$nqn"
}
port_down() { # ID: whether the port went away
	rm -f "$NVMET_CFS/ports/$1/subsystems/$nqn" && rmdir "$NVMET_CFS/ports/$1"
}
port_up 50 4450

# connect TRSVCID OPTS: prints the controller, or fails (its messages in $tmp/connect.err).
connect() {
	(NVMF_OPTS="nr_io_queues=2,reconnect_delay=1,$2" nvmf_connect $addr "$1" "$nqn") 2>>"$tmp/connect.err"
}
# disconnect CTRL: deletes it (synchronous); whether it is gone within 60 s.
disconnect() {
	[ ! -d "/sys/class/nvme/$1" ] || echo 1 >"/sys/class/nvme/$1/delete_controller" 2>/dev/null
	wait_until 60 test ! -e "/sys/class/nvme/$1"
}
# diag CTRL: what the host knows of CTRL, when its namespace does not show up; the admin
# commands (nvme-cli, 20 s each) show whether the target still answers.
diag() {
	say "diag $1: state $(cat "/sys/class/nvme/$1/state" 2>&1); $(ls "/sys/class/nvme/$1" | tr '\n' ' ')"
	say "diag $1: block devices: $(ls /sys/block | tr '\n' ' ')"
	timeout 20 nvme list-ns "/dev/$1" 2>&1 | sed "s/^/$ME: diag $1: list-ns: /"
	say "diag $1: /dev: $(ls -l /dev/nvme* 2>&1 | tr '\n' ' ')"
}
no_ctrls() { [ -z "$(nvmf_ctrls "$nqn")" ]; }
live_state() { [ "$(cat "/sys/class/nvme/$1/state" 2>/dev/null)" = live ]; }
counters() {
	if [ -r $stats ]; then
		awk '$1 == "connections_active" || $1 == "data_buffers_live" || $1 == "ports_live" { printf "%s %s, ", $1, $2 }' $stats
	else echo "none"; fi
}
# stat_of NAME: a counter of nvmet_tcp_rs; empty for nvmet_tcp.
stat_of() { [ ! -r $stats ] || awk -v n="$1" '$1 == n { print $2 }' $stats; }
# dropped: connections nvmet_tcp_rs dropped since the case began (0 for nvmet_tcp).
dropped() { [ -z "$drops0" ] && echo 0 || echo $(($(stat_of connections_dropped) - drops0)); }
# retried: accepts nvmet_tcp_rs retried since the case began (0 for nvmet_tcp).
retried() { [ -z "$retries0" ] && echo 0 || echo $(($(stat_of accept_retries) - retries0)); }
counters_are() { [ "$(counters)" = "$1" ]; }
centis() { awk '{ printf "%d", $1 * 100 }' /proc/uptime; }
secs() { awk -v c="$1" 'BEGIN { printf "%.1f", c / 100 }'; }
# kcount SEQ: in the kernel log since case SEQ started, the host's I/O timeouts (but Keep
# Alive's), Keep Alive timeouts, ICResp timeouts, error recoveries (connections lost),
# reconnects, and the logged injected failures.
kcount() {
	dmesg | awk -v m="$ME: case $1 start" 'index($0, m) { on = 1 } !on { next }
		/I\/O tag .* timeout/ { if (/opcode 0x18 /) k++; else t++ }
		/failed to receive icresp, error -11/ { i++ } /starting error recovery/ { e++ }
		/Successfully reconnected/ { r++ } /FAULT_INJECTION: forcing a failure/ { f++ }
		END { print t + 0, k + 0, i + 0, e + 0, r + 0, f + 0 }'
}

for sz in 8192 131072; do
	for i in 0 1 2; do random_file "$tmp/pat.$sz.$i" $sz; done
done
# io_loop DEV SIZES OUT: until $tmp/stop exists, writes each of SIZES (O_DIRECT, 1 MiB
# regions from 0 on) and reads it back; counts in OUT: rounds, ok, failed writes, failed
# reads, mismatches (data read after a successful write that is not what was written). Once
# the controller is gone, so is DEV: dd must not create it as a file (nocreat), which would
# also keep devtmpfs from making the node of a later disk of that name.
io_loop() {
	_n=0 _ok=0 _wf=0 _rf=0 _bad=0 _gone=0
	while [ ! -e "$tmp/stop" ]; do
		for _sz in $2; do
			_p=$tmp/pat.$_sz.$((_n % 3)) _off=$(((_n % 16) << 20))
			if [ ! -b "$1" ]; then
				_gone=$((_gone + 1))
				sleep 1
			elif ! timeout 150 dd if="$_p" of="$1" bs="$_sz" count=1 seek=$_off \
				oflag=direct,seek_bytes conv=notrunc,nocreat status=none 2>>"$tmp/io.err"; then
				_wf=$((_wf + 1))
			elif ! timeout 150 dd if="$1" of="$tmp/back" bs="$_sz" count=1 skip=$_off \
				iflag=direct,skip_bytes status=none 2>>"$tmp/io.err"; then
				_rf=$((_rf + 1))
			elif cmp -s "$_p" "$tmp/back"; then
				_ok=$((_ok + 1))
			else
				_bad=$((_bad + 1))
				echo "mismatch: $_sz bytes at $_off" >>"$tmp/io.err"
			fi
		done
		_n=$((_n + 1))
	done
	echo "$_ok $_wf $_rf $_bad $_gone" >"$3"
}
io_pid=
io_start() { # DEV SIZES
	rm -f "$tmp/stop" "$tmp/io.res" "$tmp/io.err"
	io_loop "$1" "$2" "$tmp/io.res" &
	io_pid=$!
}
# io_stop: stops the loop; sets io_what; fails if it did not end within 90 s after injection
# stopped (a host I/O timeout, 30 s, and a reconnect fit in that) or found a mismatch.
io_stop() {
	touch "$tmp/stop"
	if ! wait_until 90 test -e "$tmp/io.res"; then
		io_what="I/O loop HUNG (no end 90 s after injection stopped)"
		return 1
	fi
	wait "$io_pid"
	io_pid=
	read -r _ok _wf _rf _bad _gone <"$tmp/io.res"
	io_what="$((_ok + _wf + _rf + _bad)) writes: $_ok read back and verified, $_wf failed, $_rf read-backs failed, $_bad mismatches"
	[ "$_gone" = 0 ] || io_what="$io_what, $_gone tries without the device"
	[ "$_bad" = 0 ]
}
# verify DEV: fresh random data written at 16 MiB, 8 KiB in-capsule and 128 KiB by R2T, each
# read back and compared.
verify() {
	for _sz in 8192 131072; do
		random_file "$tmp/v.$_sz" $_sz
		dd if="$tmp/v.$_sz" of="$1" bs=$_sz count=1 seek=$((16 << 20)) oflag=direct,seek_bytes \
			conv=notrunc,nocreat status=none && dd if="$1" of="$tmp/back" bs=$_sz count=1 \
			skip=$((16 << 20)) iflag=direct,skip_bytes status=none && cmp "$tmp/v.$_sz" "$tmp/back" ||
			return 1
	done
}
# honest CTRL: the honest host recovers with injection off: CTRL (if it still exists) is live
# again within 30 s, or a fresh controller connects; then verify. Sets rec_what; disconnects
# the controller it used.
honest() {
	_c=$1 _how="the case's controller"
	if [ -z "$_c" ] || [ ! -d "/sys/class/nvme/$_c" ]; then
		_how="a fresh controller"
		_c=$(connect 4450 "ctrl_loss_tmo=10") || {
			rec_what="NOT recovered: the connect failed"
			return 1
		}
	elif ! wait_until 30 live_state "$_c"; then
		rec_what="NOT recovered: $_c is $(cat "/sys/class/nvme/$_c/state") 30 s after injection stopped"
		disconnect "$_c"
		return 1
	fi
	_ok=1
	if ! wait_until 30 _ns_blk "$_c" 1 >/dev/null; then
		diag "$_c"
		_ok=0
	else
		verify "/dev/$(_ns_blk "$_c" 1)" 2>"$tmp/v.err" || {
			_ok=0
			sed "s/^/$ME: honest I\/O: /" "$tmp/v.err" | tail -n 5
		}
	fi
	disconnect "$_c" || _ok=0
	if [ $_ok = 1 ]; then rec_what="recovered ($_how: verified I/O)"; else rec_what="NOT recovered ($_how: verified I/O failed)"; fi
	[ $_ok = 1 ]
}

# --- the cases ---------------------------------------------------------------------------------
seq=0
# case_begin NAME PERCENT: notes the counters and marks the kernel log; injection is off.
case_begin() {
	seq=$((seq + 1)) cname="faults-$1-$2%" cpct=$2 cok=1 cwhat=""
	base=$(counters) t_case=$(centis) drops0=$(stat_of connections_dropped)
	retries0=$(stat_of accept_retries)
	kmsg "case $seq start: $cname"
}
bad() { cok=0; }
fail() { # WHAT: the case failed, WHAT says how
	cok=0 cwhat="$cwhat; $*"
}
# case_end CTRLS...: (injection off) the controllers left are gone within 30 s, the counters
# back; the host's I/O timeouts and reconnects in the log; writes the row.
case_end() {
	for _c in "$@"; do disconnect "$_c" || fail "$_c NOT removed in 60 s"; done
	wait_until 30 no_ctrls || fail "controllers left: $(nvmf_ctrls "$nqn")"
	if wait_until 30 counters_are "$base"; then
		[ "$base" = none ] || cwhat="$cwhat; live counters back"
	else fail "live counters NOT back: $(counters)(were $base)"; fi
	read -r _tmo _ka _icr _lost _rec _log <<-EOF
		$(kcount $seq)
	EOF
	# At 100 % nothing can be sent or accepted: Keep Alive and ICResp timeouts are inevitable,
	# and so is an I/O timeout (30 s) if the injection lasted that long (teardown's steps wait
	# for the host: a controller's deletion waits for its Property Set's answer, 60 s).
	{ [ "$_tmo" = 0 ] || { [ "$cpct" = 100 ] && [ "$inj_secs" -ge 30 ]; }; } &&
		{ [ "$cpct" = 100 ] || [ "$_ka" = 0 ]; } || bad
	# Below 100 %, an ICResp timeout must be a connection that the target dropped (the
	# connect case counts them: connections_dropped), not one left waiting. A failure before
	# the connection leaves the backlog (kernel_accept()'s sock_create_lite(), our hooks) is
	# retried 100 ms later (accept_retries), since the listener reports only new connections;
	# nvmet_tcp returns and serves it only when another one comes. A failure after it (the
	# queue, the core's sq) closes it, and the reset may fail to allocate too (tcp_close()
	# runs on our stack, inside the injection's filter): the host then waits for its timeout.
	# A connection whose accept failed is dropped by the listener instead if its port goes
	# away before the retry (teardown re-enables and removes port 51 under injection), with
	# the same reset: each such timeout is also a retried accept.
	[ "$_icr" = 0 ] || [ "$cpct" = 100 ] || [ "$_icr" -le $(($(dropped) + $(retried))) ] || bad
	if [ $injected = 0 ]; then
		bad
		_inj="NO failure injected (nothing exercised)"
	else _inj="$injected failures injected in $inj_secs s (slab $inj_slab, page $inj_page; $_log logged)"; fi
	row "$cname" "$(verdict $cok)" "$_inj; $cwhat; host: $_lost error recoveries, $_rec reconnects, $_tmo I/O, $_ka Keep Alive and $_icr ICResp timeouts; $(secs $(($(centis) - t_case))) s"
}

case_connect() { # PERCENT
	case_begin connect "$1"
	_ok=0 _fail=0 _slow=0 _i=0
	fi_on "$1"
	# At least nconn connects, more (up to 4 times) until a failure was injected.
	while [ $_i -lt $nconn ] || { [ "$(fi_count)" = 0 ] && [ $_i -lt $((4 * nconn)) ]; }; do
		_t0=$(centis)
		if _c=$(connect 4450 "ctrl_loss_tmo=2"); then
			_ok=$((_ok + 1))
			disconnect "$_c" || fail "$_c NOT removed while injecting"
		else _fail=$((_fail + 1)); fi
		_t=$(($(centis) - _t0))
		[ $_t -le $_slow ] || _slow=$_t
		_i=$((_i + 1))
	done
	fi_off
	_r=
	[ -z "$retries0" ] || _r=", $(retried) accepts retried, $(dropped) connections dropped"
	cwhat="$_i connects: $_ok connected (and disconnected), $_fail failed, slowest $(secs $_slow) s$_r$cwhat"
	honest "" || bad
	cwhat="$cwhat; $rec_what"
	case_end
}

case_io() { # NAME PERCENT SIZES OPTS
	case_begin "$1" "$2"
	_c=$(connect 4450 "ctrl_loss_tmo=60${4:+,$4}") || {
		row "$cname" "$(verdict 0)" "could not connect without injection"
		return
	}
	wait_until 30 _ns_blk "$_c" 1 >/dev/null || {
		diag "$_c"
		disconnect "$_c"
		row "$cname" "$(verdict 0)" "no namespace without injection"
		return
	}
	io_start "/dev/$(_ns_blk "$_c" 1)" "$3"
	fi_on "$2"
	sleep "$window"
	_w=$window # longer (up to 3 times) until a failure was injected
	while [ "$(fi_count)" = 0 ] && [ $_w -lt $((3 * window)) ]; do
		sleep 1
		_w=$((_w + 1))
	done
	fi_off
	io_stop || bad
	cwhat="$_w s of I/O while injecting: $io_what"
	# A failure must not be retried at once: a queue whose send fails for memory is woken
	# again by TCP right away, and without a pause it would try (and fail) thousands of
	# times a second (it did: 103744 failures in 10 s at 100 %).
	[ $((injected / _w)) -le $max_rate ] ||
		fail "$((injected / _w)) failures a second: something retries without a pause (at most $max_rate)"
	honest "$_c" || bad
	cwhat="$cwhat; $rec_what"
	case_end "$_c"
}

case_teardown() { # PERCENT
	case_begin teardown "$1"
	port_up 51 4451
	if ! a=$(connect 4451 "ctrl_loss_tmo=2") || ! b=$(connect 4450 "ctrl_loss_tmo=2") ||
		! wait_until 30 _ns_blk "$a" 1 >/dev/null; then
		row "$cname" "$(verdict 0)" "could not connect without injection"
		for _c in $(nvmf_ctrls "$nqn"); do disconnect "$_c"; done
		port_down 51
		return
	fi
	io_start "/dev/$(_ns_blk "$a" 1)" "8192 131072"
	fi_on "$1"
	nap
	_t0=$(centis) _pd="port 51 removed"
	port_down 51 || { _pd="port 51 NOT removed" && bad; }
	_t1=$(centis) _dc="$b deleted"
	disconnect "$b" || { _dc="$b NOT deleted" && bad; }
	_pd="$_pd in $(secs $((_t1 - _t0))) s" _dc="$_dc in $(secs $(($(centis) - _t1))) s"
	_pe="re-enable failed"
	(port_up 51 4451) 2>>"$tmp/port.err" && _pe="re-enabled"
	[ ! -d "$NVMET_CFS/ports/51" ] || port_down 51 || { _pe="$_pe, NOT removed" && bad; }
	fi_off
	wait_until 30 test ! -e "/sys/class/nvme/$a" || { _pd="$_pd, $a NOT gone" && bad; }
	io_stop || bad
	cwhat="under I/O on $a: $_pd, $_dc; port 51 $_pe and removed; $a's I/O: $io_what"
	honest "" || bad
	cwhat="$cwhat; $rec_what"
	case_end "$a" "$b"
}

say "$transport, ${RELI_LEVEL:-bounded}: steps $steps %; counters: $(counters)"
for p in $steps; do
	! want connect || case_connect "$p"
	! want io || case_io io "$p" 8192 ""
	! want r2t || case_io r2t "$p" 131072 ""
	! want digests || case_io digests "$p" "8192 131072" "hdr_digest,data_digest"
	! want teardown || case_teardown "$p"
done
fi_restore
say "done; counters: $(counters)"
exit 0
