#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# blktests TARGET trtype=tcp|loop blktests=DIR [tests=nvme/003,nvme/004,...] [bdtypes=device,file]
#          [test_timeout=SECS] [multipath=Y|N] (x86_64)
#
# Runs blktests (DIR, from scripts/third-party, unmodified) with NVMET_TRTYPES=trtype: the
# whole nvme group, or the tests named, one ./check per test, each killed after test_timeout
# seconds (1800 by default; a killed test is a failed row). TARGET says which TCP target transport the name
# nvmet_tcp means, as blktests loads it (modprobe nvmet-tcp):
#   nvmet_tcp      the kernel's C module;
#   nvmet_tcp_rs   ours, installed as make install does (scripts/install, the --module
#                  nvmet-tcp.ko) on writable copies of /lib/modules and /etc/depmod.d.
# With trtype=loop and TARGET nvmet_tcp_rs, ours is loaded before the run and stays loaded
# throughout, beside the loop transport.
#
# Prints "blktests-row: TEST<TAB>STATUS<TAB>DETAIL" per test and copies ./check's output and
# results directory to $VMRUN_OUT/blktests. Fails only if ./check produced no result: which
# failures count is for scripts/blktests-table to say, beside the C target's run (the harness
# still fails a run on any kernel splat).
#
# With a PCI NVMe controller in the guest (vm-run --nvme-disk), its namespace is TEST_DEVS, and
# /dev/char has udev's links to the character devices.
# The guest must have booted with nvme_core.multipath as multipath= says (Y by default).
#
# What the guest lacks for blktests, and is given here: /dev/fd (./check uses process
# substitution, and without it runs nothing and exits 0), /dev/loop-control before the loop
# module is loaded (a system's `kmod static-nodes` makes it, and its first open loads loop:
# nvme/016, 047 and 051 call losetup without loading loop first), an `udevadm` that returns
# at once (no udevd runs: devtmpfs makes the nodes, so `udevadm settle` has nothing to wait
# for), a tmpfs on /mnt (the XFS tests mount there), and multipath on
# (nvme_core.multipath=Y, vm-run --append; blktests' default and distributions'). Under TCG
# the defaults would run for hours:
# 350 MiB images (NVME_IMG_SIZE, the least nvme/012 takes), fio capped at 20 s (TIMEOUT) and
# 20 namespaces for the create/delete loops (NVME_NUM_ITER) keep what each test does and
# bound how long.
ME=blktests
# shellcheck source=tests/guest/lib.sh
. "$(dirname "$0")/lib.sh"

target=${1:-}
shift || true
trtype="" bt="" tests="" bdtypes="" tmo=1800 mpath=Y
for a in "$@"; do
	case $a in
	test_timeout=*) tmo=${a#*=} ;;
	multipath=*) mpath=${a#*=} ;;
	trtype=*) trtype=${a#*=} ;;
	blktests=*) bt=${a#*=} ;;
	tests=*) tests=$(echo "${a#*=}" | tr , ' ') ;;
	bdtypes=*) bdtypes=$(echo "${a#*=}" | tr , ' ') ;;
	*) die "unknown argument '$a'" ;;
	esac
done
case $target in nvmet_tcp | nvmet_tcp_rs) ;; *) die "TARGET is nvmet_tcp or nvmet_tcp_rs" ;; esac
case $trtype in tcp | loop) ;; *) die "trtype=tcp or trtype=loop" ;; esac
[ "$VMRUN_ARCH" = x86_64 ] || die "x86_64 only: it needs the host's tools"
[ -x "$bt/check" ] || die "no blktests in '$bt'"
module_loaded nvme_core || run modprobe nvme_core
[ "$(cat /sys/module/nvme_core/parameters/multipath)" = "$mpath" ] ||
	die "nvme_core multipath is not $mpath (boot with nvme_core.multipath=$mpath)"

# A PCI NVMe controller (vm-run --nvme-disk) is blktests' TEST_DEVS, for the device tests: its
# namespace, not a multipath node (it has one controller), is what they want.
test_devs=""
for c in /sys/bus/pci/devices/*/class; do
	[ "$(cat "$c")" = 0x010802 ] || continue
	module_loaded nvme || run modprobe nvme
	for _ in $(seq 30); do
		for n in /sys/class/nvme/nvme*; do
			[ "$(cat "$n/transport" 2>/dev/null)" = pcie ] || continue
			for d in "$n"/nvme*n1; do [ -e "/dev/${d##*/}" ] && test_devs=/dev/${d##*/}; done
		done
		[ -z "$test_devs" ] || break
		sleep 1
	done
	[ -n "$test_devs" ] || die "the PCI NVMe controller has no namespace after 30 s"
	# udev's /dev/char/MAJ:MIN links: blktests names TEST_DEVS' controller by one (the
	# passthru tests write it to nvmet's device_path).
	run mkdir -p /dev/char
	for d in /sys/dev/char/*; do
		n=$(sed -n 's/^DEVNAME=//p' "$d/uevent")
		[ -z "$n" ] || [ ! -e "/dev/$n" ] || ln -sfn "../$n" "/dev/char/${d##*/}" ||
			die "cannot link /dev/char/${d##*/}"
	done
	say "TEST_DEVS=$test_devs (the PCI NVMe controller's namespace)"
	break
done

[ -e /dev/fd ] || run ln -s /proc/self/fd /dev/fd
[ -e /dev/loop-control ] || run mknod -m 660 /dev/loop-control c 10 237
for s in 0:stdin 1:stdout 2:stderr; do
	[ -e "/dev/${s#*:}" ] || run ln -s "/proc/self/fd/${s%%:*}" "/dev/${s#*:}"
done
run mkdir -p /run/blktests-bin
printf '#!/bin/sh\nexit 0\n' >/run/blktests-bin/udevadm && chmod 755 /run/blktests-bin/udevadm ||
	die "cannot make the udevadm stand-in"
PATH=/run/blktests-bin:$PATH
export PATH
run mount -t tmpfs -o mode=755 tmpfs /mnt

if [ "$target" = nvmet_tcp_rs ]; then
	install_ours
	run modprobe nvmet_tcp
	ours || die "modprobe nvmet_tcp did not load ours"
	kunit_check nvmet_tcp_rs_placement nvmet_tcp_rs_addr nvmet_tcp_rs_completions nvmet_tcp_rs_req
	say "ok: nvmet_tcp is ours ($(modinfo -F filename nvmet_tcp))"
	# blktests loads and unloads it per test; with the loop transport it stays loaded.
	[ "$trtype" = loop ] || run modprobe -r nvmet_tcp
else
	run modprobe nvmet_tcp
	! ours || die "nvmet_tcp is ours, not the C module"
	run modprobe -r nvmet_tcp
fi

out=/tmp/blktests
run mkdir -p $out
# blktests checks kmemleak after each test (the kernel has IKCONFIG), clearing it before: an
# object from boot that kmemleak has not reported yet (the kernel's own, under start_kernel,
# which init's own check tells apart) would be blamed on the first test. It is reported and
# cleared now. kmemleak's pr_info "N new suspected memory leaks" is kept off the console from
# here on, as init does for its own check (the console prints records late, so the level
# cannot be put back safely): blktests reads kmemleak itself and fails the test that leaked,
# and warnings and errors still reach the console. KUnit's results were checked above.
kml=/sys/kernel/debug/kmemleak
if [ -w $kml ]; then
	echo 6 >/proc/sys/kernel/printk || die "cannot set the console loglevel"
	echo scan >$kml && echo clear >$kml || die "cannot scan and clear kmemleak"
fi
# With ours held loaded beside loop, nvmet cannot be unloaded after each test: blktests would
# wait 50 s for it every time.
patience=50
[ "$trtype" = loop ] && [ "$target" = nvmet_tcp_rs ] && patience=2
[ -n "$tests" ] || tests=$(cd "$bt/tests" && ls -d nvme/[0-9][0-9][0-9])
kmsg "check $(echo $tests) (trtype $trtype, $target, at most $tmo s each)"

# An awk function: the condition of one of ./check's lines for test t, spelled as in the results
# directory's name: "nvme/005 (tr=tcp bd=device) (...)" is tr_tcp_bd_device,
# "nvme/033 => nvme0n1 (tr=tcp) (...)" nvme0n1_tr_tcp, "nvme/032 => nvme0n1 (...)" nvme0n1.
cond_of='function cond_of(line, t,   rest, w, c, cc) {
	rest = substr(line, length(t) + 2); c = ""
	if (rest ~ /^=> /) {
		rest = substr(rest, 4); split(rest, w, " "); c = w[1]; rest = substr(rest, length(w[1]) + 2)
	}
	if (match(rest, /^\([^)]*=[^)]*\)/)) {
		cc = substr(rest, 2, RLENGTH - 2); gsub(/[ =]/, "_", cc); c = c (c == "" ? "" : "_") cc
	}
	return c
}'

# rows TEST OUTPUT RC: TEST's rows, one per condition. results/<dev>_<cond>/TEST has status and
# runtime; the reason a test did not run is only in ./check's OUTPUT, indented under its line.
rows() {
	t=$1 o=$2 rc=$3 any=0
	for f in $out/results/*/"$t"; do
		[ -f "$f" ] || continue
		any=1 found=$((found + 1))
		cond=$(basename "$(dirname "$(dirname "$f")")" | sed 's/^nodev//; s/^_//')
		status=$(awk -F'\t' '$1 == "status" { print $2 }' "$f")
		detail=$(awk -F'\t' '$1 == "runtime" { r = $2 } $1 == "reason" { why = " (" $2 ")" }
			END { printf "%s%s", r, why }' "$f")
		if [ "$status" = "not run" ]; then
			# The reason under the "[not run]" line of this row's condition.
			detail=$(awk -v t="$t" -v cond="$cond" "$cond_of"'
				index($0, t " ") == 1 && /\[not run\]/ { on = (cond_of($0, t) == cond); next }
				on && /^    / { sub(/^ +/, ""); printf "%s%s", sep, $0; sep = "; "; next }
				{ on = 0 }' "$o" | head -c 300)
		fi
		[ "$status" != fail ] || failed=$((failed + 1))
		printf 'blktests-row: %s%s\t%s\t%s\n' "$t" "${cond:+ ($cond)}" "$status" "$detail"
	done
	[ "$any" = 0 ] || return 0
	if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
		# The condition of the test that was running: that of its last line.
		cond=$(awk -v t="$t" "$cond_of"'
			index($0, t " ") == 1 { c = cond_of($0, t) } END { print c }' "$o")
		found=$((found + 1)) failed=$((failed + 1))
		printf 'blktests-row: %s%s\tfail\t%s\n' "$t" "${cond:+ ($cond)}" \
			"timed out after $tmo s (./check killed)"
	else
		# Skipped as a group, or a device test with no TEST_DEVS.
		printf 'blktests-row: %s\tnot run\t%s\n' "$t" "no result (a device test: no TEST_DEVS)"
	fi
}

# One ./check per test, bounded by test_timeout: timeout kills ./check's process group with
# whatever the test left running (nvme/061 leaves a one-day fio behind when it fails, and
# ./check never returns). Each test's rows are printed as soon as it ends, so a run stopped
# early still has the rows of the tests it finished.
t0=$(cut -d' ' -f1 /proc/uptime)
found=0 failed=0
for t in $tests; do
	o=$out/$(echo "$t" | tr / _).out
	(cd "$bt" && env TEST_DEVS="$test_devs" NVMET_TRTYPES="$trtype" NVMET_BLKDEV_TYPES="${bdtypes:-device file}" \
		NVME_IMG_SIZE=350m TIMEOUT=20 NVME_NUM_ITER=20 LOGGER_PROG=true \
		MODPROBE_PATIENT_RM_TIMEOUT_SECONDS=$patience \
		timeout -k 30 "$tmo" ./check -o $out/results "$t" >"$o" 2>&1 </dev/null)
	rc=$?
	cat "$o"
	cat "$o" >>$out/check.out
	if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
		warn "$t: ./check timed out after $tmo s; killing what it left and disconnecting"
		pkill -KILL -x fio 2>/dev/null
		nvme disconnect-all >/dev/null 2>&1
	fi
	rows "$t" "$o" "$rc"
done
t1=$(cut -d' ' -f1 /proc/uptime)
secs=$(echo "$t1 $t0" | awk '{ printf "%d", $1 - $2 }')
say "./check ran for $secs s"
if [ "$target" = nvmet_tcp_rs ] && [ "$trtype" = loop ]; then
	ours || die "our nvmet_tcp did not stay loaded through the loop run"
	run modprobe -r nvmet_tcp
fi
[ -z "$VMRUN_OUT" ] || cp -r $out "$VMRUN_OUT/" || warn "cannot copy $out to $VMRUN_OUT"
say "$found results, $failed failed, in $secs s"
[ "$found" -gt 0 ] || die "./check produced no result"
exit 0
