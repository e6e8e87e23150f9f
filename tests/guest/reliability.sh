#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# reliability TRANSPORT [level=bounded|full] [highmem=1] [parts=stages,hostile,faults,underload]
#
# The reliability suite against one target transport (nvmet_tcp or nvmet_tcp_rs): `make test`
# runs it bounded for both, `make stress` in full (scripts/stress); scripts/reliability-table
# puts the two runs' rows side by side. In one boot, over a brd ram disk:
#   honest   a kernel nvme-tcp host (two I/O queues) writes and verifies data (fio
#            --verify=crc32c on x86_64, dd and cmp on ARMv7) for as long as the hostile hosts
#            run: it must never see an error;
#   stages   hostile hosts at every stage of a connection (stages.py, python3: x86_64);
#   hostile  stalls, races and floods (hostile.py, python3: x86_64), then the honest host
#            verifies one more pass;
#   faults   allocations failing inside the transport module (faults.sh: the x86_64 debug
#            kernel has fault injection);
#   underload teardown under load: reconnect cycles, port removal, subsystem unlink and
#            namespace disable under fio, a host gone silent, rmmod while a port exists
#            (underload.sh);
#   highmem  with highmem=1, a verified pass whose data went through the kmap_local guard;
#   live     nvmet_tcp_rs's live counters (connections, data buffers, ports) at zero once
#            every host is gone.
# Every result is a row, printed as soon as it is known as "reliability-row: CASE<TAB>RESULT
# <TAB>WHAT" (ok or FAIL for nvmet_tcp_rs, seen for nvmet_tcp, whose results are only
# reported). The scenario fails if a row of nvmet_tcp_rs is not ok; any kernel splat fails the
# run (scripts/check-log).
ME=reliability
# shellcheck source=tests/guest/lib.sh
. "$(dirname "$0")/lib.sh"

TRANSPORT=${1:-}
[ -n "$TRANSPORT" ] || die "usage: reliability TRANSPORT [level=bounded|full] [highmem=1]"
shift
level=bounded highmem=0 parts=stages,hostile,faults,underload
for a in "$@"; do
	case $a in
	level=*) level=${a#*=} ;;
	parts=*) parts=${a#*=} ;;
	highmem=*) highmem=${a#*=} ;;
	*) die "unknown argument '$a'" ;;
	esac
done
case $level in bounded | full) ;; *) die "level is bounded or full" ;; esac
# part NAME: whether the parts= list has NAME.
part() { case ",$parts," in *",$1,"*) return 0 ;; esac; return 1; }

here=$(dirname "$0")
nqn=nqn.2014-08.org.nvmexpress:reliability
tmp=/tmp/reliability
stats=/sys/kernel/debug/nvmet_tcp_rs/stats
RELI_ROWS=$tmp/rows
RELI_LEVEL=$level
RELI_ARCH=$(uname -m | sed 's/^arm.*/armv7/')
RELI_MODPARAMS=
[ "$highmem" = 1 ] && RELI_MODPARAMS="highmem_buffers=1"
export TRANSPORT RELI_ROWS RELI_LEVEL RELI_ARCH RELI_MODPARAMS
mkdir -p "$tmp" || die "cannot create $tmp"
: >"$RELI_ROWS"

honest_ctrl=
# shellcheck disable=SC2317 # runs from the trap
cleanup() {
	rc=$?
	trap - EXIT
	kmsg "cleanup"
	touch "$tmp/stop"
	wait
	[ -z "$honest_ctrl" ] || nvmf_disconnect "$honest_ctrl"
	target_modules_unload "$TRANSPORT"
	exit "$rc"
}
trap cleanup EXIT

# The ram disk: the honest host uses its first 192 MiB, the hostile hosts 200..300 MiB, the
# other parts their own subsystems over the same disk, one after the other.
ram_kib=655360
[ "$RELI_ARCH" = armv7 ] && ram_kib=327680
# shellcheck disable=SC2086 # a word list
target_modules_load "$TRANSPORT" $ram_kib $RELI_MODPARAMS
nvmet_subsys_create "$nqn" 1 /dev/ram0
nvmet_port_create 1 tcp ipv4 127.0.0.1 4420
nvmet_port_add_subsys 1 "$nqn"

have_python=0
command -v python3 >/dev/null && have_python=1
have_fio=0
command -v fio >/dev/null && have_fio=1

# --- the honest host -----------------------------------------------------------------------

# honest_loop DEV: writes and verifies the first 192 MiB (fio: 64 MiB per pass, crc32c, mixed
# sizes, iodepth 16; without fio one pass of the dd plan) until $tmp/stop exists. Counts
# passes and verified MiB in $tmp/honest; exits 1 at the first failure.
honest_loop() {
	_pass=0 _mib=0
	while [ ! -e "$tmp/stop" ]; do
		_off=$(((_pass % 3) * 64))
		if [ $have_fio = 1 ]; then
			fio --name=honest --filename="$1" --direct=1 --ioengine=libaio --iodepth=16 \
				--rw=randwrite --bssplit=4k/50:64k/30:1m/20 --offset=${_off}m --size=64m \
				--verify=crc32c --verify_fatal=1 --do_verify=1 --randrepeat=0 \
				--output="$tmp/honest.fio" >/dev/null 2>&1 || {
				echo "fail pass $_pass (fio)" >>"$tmp/honest"
				cat "$tmp/honest.fio" >&2
				return 1
			}
			_mib=$((_mib + 64))
		else
			mkdir -p "$tmp/h"
			verify_io_region "$1" $((_off << 20)) "$tmp/h" 4 || {
				echo "fail pass $_pass (dd)" >>"$tmp/honest"
				return 1
			}
			_mib=$((_mib + 4))
		fi
		_pass=$((_pass + 1))
		echo "$_pass $_mib" >"$tmp/honest"
	done
}
honest_pid=
honest_start() {
	rm -f "$tmp/stop" "$tmp/honest"
	honest_ctrl=$(NVMF_OPTS="nr_io_queues=2,reconnect_delay=1" nvmf_connect 127.0.0.1 4420 "$nqn") ||
		exit 1
	_dev=$(nvme_ns_dev "$honest_ctrl" 1) || exit 1
	honest_loop "$_dev" &
	honest_pid=$!
}
# honest_stop PART: stops the honest host after PART and records its row.
honest_stop() {
	# At least one whole pass (or its failure) first.
	wait_until 600 test -s "$tmp/honest" || true
	touch "$tmp/stop"
	_ok=1
	wait "$honest_pid" || _ok=0
	_h=$(cat "$tmp/honest" 2>/dev/null)
	case $_h in "" | fail*) _ok=0 ;; esac
	[ -d "/sys/class/nvme/$honest_ctrl" ] || _ok=0
	row "honest-host-$1" "$(verdict $_ok)" \
		"a kernel host beside the $1 part: ${_h:-no pass finished} (passes, MiB written and verified)"
	nvmf_disconnect "$honest_ctrl"
	honest_ctrl=
}

# --- the parts -----------------------------------------------------------------------------

strict=
[ "$TRANSPORT" = nvmet_tcp_rs ] && strict=--strict
if part stages && [ $have_python = 1 ]; then
	honest_start
	kmsg "part stages"
	python3 "$here/stages.py" 127.0.0.1 4420 "$nqn" $strict
	honest_stop stages
fi
if part hostile && [ $have_python = 1 ]; then
	# hostile.py checks global gauges (data buffers live, R2Ts deferred) that an honest
	# host's I/O would move: it runs after it, and a host verifies afterwards.
	kmsg "part hostile"
	python3 "$here/hostile.py" 127.0.0.1 4420 "$nqn" $strict
	honest_start
	honest_stop hostile
fi

if part faults && [ -d /sys/kernel/debug/failslab ]; then
	kmsg "part faults"
	sh "$here/faults.sh" || row faults-part "$(verdict 0)" "faults.sh could not run to its end"
fi

if part underload; then
	# Without the suite's own port and subsystem, so that rmmod-busy can also show that the
	# module unloads once no port is left.
	nvmet_teardown
	kmsg "part underload"
	sh "$here/underload.sh" || row underload-part "$(verdict 0)" "underload.sh could not run to its end"
fi

# --- highmem placement ---------------------------------------------------------------------

# underload's rmmod-busy reloads the module, which zeroes its counters: a verified pass of
# its own shows that the kmap_local guard placed data.
if [ "$highmem" = 1 ] && [ "$TRANSPORT" = nvmet_tcp_rs ]; then
	[ -d "$NVMET_CFS/subsystems/$nqn" ] || nvmet_subsys_create "$nqn" 1 /dev/ram0
	[ -d "$NVMET_CFS/ports/1" ] || nvmet_port_create 1 tcp ipv4 127.0.0.1 4420
	[ -L "$NVMET_CFS/ports/1/subsystems/$nqn" ] || nvmet_port_add_subsys 1 "$nqn"
	honest_ctrl=$(NVMF_OPTS="nr_io_queues=2" nvmf_connect 127.0.0.1 4420 "$nqn") || exit 1
	_dev=$(nvme_ns_dev "$honest_ctrl" 1) || exit 1
	mkdir -p "$tmp/hm"
	_ok=0
	verify_io_region "$_dev" 0 "$tmp/hm" 4 && _ok=1
	nvmf_disconnect "$honest_ctrl"
	honest_ctrl=
	_n=$(awk '$1 == "bytes_placed_highmem_guard" { print $2 }' $stats)
	[ "${_n:-0}" -gt 0 ] || _ok=0
	row highmem "$(verdict $_ok)" "highmem_buffers=1: 4 writes (4 KiB to 1 MiB) verified, ${_n:-0} bytes placed through kmap_local_page"
fi

# --- live counters -------------------------------------------------------------------------

if [ "$TRANSPORT" = nvmet_tcp_rs ]; then
	live() { awk -v n="$1" '$1 == n { print $2 }' $stats; }
	zero() { [ "$(live connections_active)" = 0 ] && [ "$(live data_buffers_live)" = 0 ]; }
	_ok=0
	wait_until 30 zero && _ok=1
	row live-counters "$(verdict $_ok)" "with no host left: connections_active $(live connections_active), data_buffers_live $(live data_buffers_live), ports_live $(live ports_live)"
	sed "s/^/$ME: stats: /" $stats
fi

# --- the rows ------------------------------------------------------------------------------

n=$(wc -l <"$RELI_ROWS")
bad=$(grep -c "	FAIL	" "$RELI_ROWS")
say "$TRANSPORT $level: $n rows, $bad FAIL"
[ "$bad" = 0 ]
