#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# bench [rounds=N] [runtime=SECS] [only=WORKLOAD]
#
# Throughput of nvmet_tcp_rs (the --module file) against the C nvmet_tcp, interleaved in this
# one guest. A null_blk device without memory backing (so that the transport is what costs)
# is exported over NVMe/TCP on 127.0.0.1 and read and written by fio through the kernel's
# nvme-tcp host, one job per workload. Every round runs both targets, in alternating order
# (C first, then ours first), so that drift over the run touches both alike. Each run checks
# that the traffic went through the target it is named for. Prints one "bench: run" line per
# run and "bench: summary" lines: per workload the median of each target and the ratio
# ours/C (above 1: ours is faster), with the guest's busy CPU share during the runs.
ME=bench
# shellcheck source=tests/guest/lib.sh
. "$(dirname "$0")/lib.sh"

rounds=3 runtime=10 only=""
for a in "$@"; do
	case $a in
	rounds=*) rounds=${a#*=} ;;
	runtime=*) runtime=${a#*=} ;;
	only=*) only=${a#*=} ;;
	*) die "unknown argument '$a'" ;;
	esac
done
for v in "$rounds" "$runtime"; do
	case $v in
	0* | *[!0-9]* | "") die "rounds= and runtime= want whole numbers above 0" ;;
	esac
done
command -v fio >/dev/null || die "fio missing"
extra_ko nvmet_tcp_rs >/dev/null || die "no nvmet_tcp_rs.ko among the --module files"

# name:fio arguments. 128 KiB writes are above the 16 KiB in-capsule limit: R2T and H2CData.
WORKLOADS="randread-4k:--rw=randread,--bs=4k,--iodepth=32
randwrite-4k:--rw=randwrite,--bs=4k,--iodepth=32
read-128k:--rw=read,--bs=128k,--iodepth=8
write-128k:--rw=write,--bs=128k,--iodepth=8"
[ -z "$only" ] || WORKLOADS=$(echo "$WORKLOADS" | grep "^$only:") || die "no workload '$only'"

NQN=nqn.2026-11.io.nvmet-tcp-rs:bench
RESULTS=/tmp/bench.results
: >"$RESULTS"

run modprobe null_blk nr_devices=1 gb=16
wait_until 10 test -b /dev/nullb0 || die "/dev/nullb0 did not appear"
run modprobe nvmet
run modprobe nvme_tcp
nvmet_subsys_create "$NQN" 1 /dev/nullb0

# busy_ticks: prints "busy total" CPU ticks of all CPUs so far (/proc/stat).
busy_ticks() {
	awk '$1 == "cpu" { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t; exit }' /proc/stat
}
rs_bytes() {
	awk '$1 == "bytes_sent" || $1 == "bytes_placed_page_address" { s += $2 } END { printf "%.0f\n", s }' \
		/sys/kernel/debug/nvmet_tcp_rs/stats
}

# one_target ROUND TARGET: brings TARGET up, runs every workload through it, takes it down.
one_target() {
	_round=$1 _tr=$2
	load_module "$_tr"
	case $_tr in
	nvmet_tcp) ! module_loaded nvmet_tcp_rs || die "both transports loaded" ;;
	nvmet_tcp_rs) ! module_loaded nvmet_tcp || die "both transports loaded" ;;
	esac
	nvmet_port_create 1 tcp ipv4 127.0.0.1 4420
	nvmet_port_add_subsys 1 "$NQN"
	_ctrl=$(nvmf_connect 127.0.0.1 4420 "$NQN") || exit 1
	_dev=$(nvme_ns_dev "$_ctrl" 1) || exit 1
	echo "$WORKLOADS" | while IFS=: read -r _wl _args; do
		[ "$_tr" != nvmet_tcp_rs ] || _rs0=$(rs_bytes)
		_cpu0=$(busy_ticks)
		# shellcheck disable=SC2046 # the workload's arguments, one word each
		_out=$(fio --name="$_wl" --filename="$_dev" --direct=1 --ioengine=libaio \
			--time_based --runtime="$runtime" --ramp_time=2 --numjobs=1 \
			--output-format=terse --terse-version=3 $(echo "$_args" | tr , ' ')) ||
			die "fio $_wl through $_tr failed"
		_cpu1=$(busy_ticks)
		if [ "$_tr" = nvmet_tcp_rs ]; then
			[ "$(rs_bytes)" -gt "$_rs0" ] || die "$_wl moved no bytes through nvmet_tcp_rs"
		fi
		# Terse v3: fields 7/8 are read KiB/s and IOPS, 48/49 the same for writes.
		echo "$_out" | tail -n1 | awk -F';' -v r="$_round" -v t="$_tr" -v w="$_wl" \
			-v c0="$_cpu0" -v c1="$_cpu1" '{
			split(c0, a, " "); split(c1, b, " ")
			busy = (b[2] > a[2]) ? 100 * (b[1] - a[1]) / (b[2] - a[2]) : 0
			iops = $8 + $49; kibs = $7 + $48
			printf "%s %s %s %d %.1f %.0f\n", r, t, w, iops, kibs / 1024, busy
		}' >>"$RESULTS"
		tail -n1 "$RESULTS" | awk '{ printf "run: round %s %-12s %-12s %8d IOPS %8.1f MiB/s  busy %s%%\n", $1, $2, $3, $4, $5, $6 }' |
			while read -r _l; do say "$_l"; done
	done || exit 1
	nvmf_disconnect "$_ctrl"
	run rm "$NVMET_CFS/ports/1/subsystems/$NQN"
	run rmdir "$NVMET_CFS/ports/1"
	unload_module "$_tr"
}

say "$rounds rounds, ${runtime} s per workload (after 2 s of ramp), null_blk, nvme-tcp over 127.0.0.1"
r=1
while [ $r -le "$rounds" ]; do
	if [ $((r % 2)) = 1 ]; then order="nvmet_tcp nvmet_tcp_rs"; else order="nvmet_tcp_rs nvmet_tcp"; fi
	for tr in $order; do
		kmsg "round $r: $tr"
		one_target $r "$tr"
	done
	r=$((r + 1))
done

# Medians per workload and target, and the ratio ours/C of the medians.
say "summary: median of $rounds rounds; ratio = nvmet_tcp_rs / nvmet_tcp"
awk '
function median(key,   n, i, j, v, t) {
	n = cnt[key]
	for (i = 1; i <= n; i++) v[i] = val[key, i]
	for (i = 2; i <= n; i++) { t = v[i]; for (j = i - 1; j >= 1 && v[j] > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
	return (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
{
	k = $3 SUBSEP $2; cnt[k]++; val[k, cnt[k]] = $4; bsum[k] += $6
	m = $3 SUBSEP $2 SUBSEP "mib"; cnt[m]++; val[m, cnt[m]] = $5
	if (!($3 in seen)) { seen[$3] = 1; order[++nw] = $3 }
}
END {
	printf "summary: %-12s %10s %10s %7s %9s %9s %9s\n", "workload", "C IOPS", "rs IOPS", "ratio", "C MiB/s", "rs MiB/s", "busy C/rs"
	for (i = 1; i <= nw; i++) {
		w = order[i]
		c = median(w SUBSEP "nvmet_tcp"); r = median(w SUBSEP "nvmet_tcp_rs")
		cm = median(w SUBSEP "nvmet_tcp" SUBSEP "mib"); rm = median(w SUBSEP "nvmet_tcp_rs" SUBSEP "mib")
		bc = bsum[w SUBSEP "nvmet_tcp"] / cnt[w SUBSEP "nvmet_tcp"]
		br = bsum[w SUBSEP "nvmet_tcp_rs"] / cnt[w SUBSEP "nvmet_tcp_rs"]
		printf "summary: %-12s %10d %10d %7.2f %9.1f %9.1f %4.0f/%.0f%%\n", w, c, r, (c > 0 ? r / c : 0), cm, rm, bc, br
	}
}' "$RESULTS" | while read -r l; do say "$l"; done

nvmet_teardown
unload_module nvme_tcp
unload_module nvmet
unload_module null_blk
say "done"
