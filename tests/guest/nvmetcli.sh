#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# nvmetcli TRANSPORT nvmetcli=DIR pythonpath=DIR (x86_64): a target set up as its users set it
# up, with nvmetcli and nvme-cli, against TRANSPORT: nvmet_tcp (the C module) or nvmet_tcp_rs
# (ours, installed first with scripts/install from the --module nvmet-tcp.ko, so that nvmet's
# own request for nvmet-transport-3 loads it). DIR are from scripts/third-party.
#
# - nvmetcli restore of tests/guest/nvmetcli.json: two ports (IPv4 with inline_data_size 8192,
#   IPv6), two subsystems (a ram disk for one allowed host, a file for any host), two ANA
#   groups, and a referral from the first port to the second;
# - nvme discover from the allowed host and from another host: each sees what it may;
# - nvme connect with --hdr-digest --data-digest --nr-io-queues=2 --queue-size=64 to the ram
#   disk (the queues checked in sysfs), a refused connect from the other host, a connect over
#   IPv6 to the file; data verified through both; nvme list shows both; the ANA log shows the
#   ram disk's group non-optimized; nvme disconnect;
# - nvme connect-all through the discovery controller reaches both subsystems;
# - nvmetcli save: the saved file holds every value restored, and restoring it and saving again
#   gives the same file (the round trip);
# - nvmetcli clear leaves nothing in configfs, and the modules unload.
ME=nvmetcli
# shellcheck source=tests/guest/lib.sh
. "$(dirname "$0")/lib.sh"

transport=${1:-}
shift || true
NVMETCLI_DIR="" NVMETCLI_PYTHONPATH=""
for a in "$@"; do
	case $a in
	nvmetcli=*) NVMETCLI_DIR=${a#*=} ;;
	pythonpath=*) NVMETCLI_PYTHONPATH=${a#*=} ;;
	*) die "unknown argument '$a'" ;;
	esac
done
case $transport in nvmet_tcp | nvmet_tcp_rs) ;; *) die "usage: nvmetcli nvmet_tcp|nvmet_tcp_rs nvmetcli=DIR pythonpath=DIR" ;; esac
[ "$VMRUN_ARCH" = x86_64 ] || die "x86_64 only: it needs the host's tools"
[ -f "$NVMETCLI_DIR/nvmetcli" ] || die "no nvmetcli in '$NVMETCLI_DIR'"
[ -d "$NVMETCLI_PYTHONPATH" ] || die "no python path '$NVMETCLI_PYTHONPATH'"
json=$(dirname "$0")/nvmetcli.json
tmp=/tmp/nvmetcli
run mkdir -p $tmp

host_a=$(sed -n 's/.*"nqn": "\(nqn.2014-08.org.nvmexpress:uuid:[^"]*\)".*/\1/p' "$json" | head -n1)
host_b=nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-0000000000bb
ram_nqn=nqn.2014-08.org.nvmexpress:nvmet-tcp-rs-ram
file_nqn=nqn.2014-08.org.nvmexpress:nvmet-tcp-rs-file
[ -n "$host_a" ] || die "no host NQN in $json"

MODULES_BEFORE=$tmp/modules.before
cat /proc/modules >"$MODULES_BEFORE"
# shellcheck disable=SC2317 # runs from the trap
cleanup() {
	rc=$?
	trap - EXIT
	# shellcheck disable=SC2046 # one controller name a word
	scenario_teardown $(nvmf_ctrls $ram_nqn) $(nvmf_ctrls $file_nqn)
	exit "$rc"
}
trap cleanup EXIT

[ "$transport" != nvmet_tcp_rs ] || install_ours

# The backing devices: a 64 MiB ram disk and a 64 MiB file.
load_module brd rd_nr=1 rd_size=65536 max_part=0
wait_until 10 test -b /dev/ram0 || die "/dev/ram0 did not appear"
run truncate -s 64M $tmp/ns1.img

kmsg "nvmetcli restore"
nvmetcli restore "$json" >$tmp/restore.out 2>&1 || {
	cat $tmp/restore.out >&2
	die "nvmetcli restore failed"
}
[ ! -s $tmp/restore.out ] || {
	cat $tmp/restore.out >&2
	die "nvmetcli restore reported errors"
}
module_loaded nvmet_tcp || die "nvmetcli restore did not get nvmet_tcp loaded"
if [ "$transport" = nvmet_tcp_rs ]; then
	ours || die "the loaded nvmet_tcp is the C module, not ours"
else
	! ours || die "the loaded nvmet_tcp is ours, not the C module"
fi
say "ok: nvmetcli restore of $(basename "$json"); nvmet loaded $transport for the TCP ports"
load_module nvme_tcp

# discover HOSTNQN TRADDR TRSVCID: the discovery log's entries, one "SUBTYPE TRSVCID SUBNQN"
# line each (SUBTYPE as nvme-cli names it: a referral is a "discovery subsystem referral").
discover() {
	nvme discover -t tcp -a "$2" -s "$3" --hostnqn="$1" -o json >$tmp/discover.json ||
		die "nvme discover at $2:$3 as $1 failed"
	python3 -c 'import json, sys
for r in json.load(open(sys.argv[1]))["records"]:
    print(r["subtype"], r["trsvcid"].strip(), r["subnqn"])' $tmp/discover.json | sort
}
kmsg "discover"
seen=$(discover "$host_a" 127.0.0.1 4420 | tr '\n' ';')
case $seen in
*"4420 $ram_nqn;"*) ;;
*) die "host A's discovery log lacks the ram disk's subsystem: $seen" ;;
esac
case $seen in *"4420 $file_nqn;"*) ;; *) die "host A's discovery log lacks the file's subsystem: $seen" ;; esac
case $seen in *"4421 "*) ;; *) die "host A's discovery log lacks the referral to port 4421: $seen" ;; esac
say "ok: nvme discover as host A: $seen"
seen_b=$(discover "$host_b" 127.0.0.1 4420 | tr '\n' ';')
case $seen_b in *"$ram_nqn"*) die "host B, not allowed, sees the ram disk's subsystem: $seen_b" ;; esac
case $seen_b in *"4420 $file_nqn;"*) ;; *) die "host B's discovery log lacks the file's subsystem: $seen_b" ;; esac
say "ok: nvme discover as host B: $seen_b"
seen6=$(discover "$host_a" ::1 4421 | tr '\n' ';')
case $seen6 in *"4421 $file_nqn;"*) ;; *) die "the IPv6 port's discovery log lacks the file's subsystem: $seen6" ;; esac
say "ok: nvme discover on [::1]:4421: $seen6"

kmsg "connect"
nvme connect -t tcp -a 127.0.0.1 -s 4420 -n $ram_nqn --hostnqn="$host_a" --hdr-digest --data-digest \
	--nr-io-queues=2 --queue-size=64 >&2 || die "nvme connect with digests to the ram disk failed"
ram_ctrl=$(nvmf_ctrls $ram_nqn)
[ -n "$ram_ctrl" ] || die "no controller for $ram_nqn after nvme connect"
qc=$(cat "/sys/class/nvme/$ram_ctrl/queue_count") sq=$(cat "/sys/class/nvme/$ram_ctrl/sqsize")
[ "$qc" = 3 ] || die "queue_count $qc, not 3 (admin + --nr-io-queues=2)"
[ "$sq" = 63 ] || die "sqsize $sq, not 63 (--queue-size=64)"
say "ok: nvme connect --hdr-digest --data-digest --nr-io-queues=2 --queue-size=64: $ram_ctrl, $qc queues of $((sq + 1))"
! nvme connect -t tcp -a 127.0.0.1 -s 4420 -n $ram_nqn --hostnqn="$host_b" >/dev/null 2>&1 ||
	die "host B, not allowed, connected to the ram disk"
say "ok: host B's connect to the ram disk was refused"
nvme connect -t tcp -a ::1 -s 4421 -n $file_nqn --hostnqn="$host_a" >&2 ||
	die "nvme connect over IPv6 to the file failed"
file_ctrl=$(nvmf_ctrls $file_nqn)
[ -n "$file_ctrl" ] || die "no controller for $file_nqn after nvme connect"

ram_dev=$(nvme_ns_dev "$ram_ctrl" 1) || exit 1
file_dev=$(nvme_ns_dev "$file_ctrl" 1) || exit 1
verify_io_region "$ram_dev" 0 $tmp 8
# The file's namespace has tmpfs's 4 KiB blocks (nvmet takes the file's block size): whole
# blocks only, in-capsule (up to 16 KiB on that port) and by R2T.
off=0
for size in 4096 12288 16384 20480 1048576 4194304; do
	random_file $tmp/f "$size"
	write_direct $tmp/f "$file_dev" $off || die "O_DIRECT write of $size bytes at $off to $file_dev failed"
	read_direct "$file_dev" $off "$size" $tmp/fb || die "O_DIRECT read of $size bytes at $off failed"
	cmp $tmp/f $tmp/fb >&2 || die "data read back from $file_dev differs: $size bytes at $off"
	off=$((off + 4194304))
done
say "ok: verified 8 writes to $ram_dev (ram disk, digests) and 6 to $file_dev (file, IPv6)"
listed=$(nvme list)
for serial in 5e7a11ce0ff1ce01 5e7a11ce0ff1ce02; do
	echo "$listed" | grep -q "$serial" || die "nvme list does not show serial $serial: $listed"
done
say "ok: nvme list shows both namespaces"
# The ANA log page of the ram disk's controller: its namespace is in group 2, non-optimized.
nvme ana-log "/dev/$ram_ctrl" -o json >$tmp/ana.json || die "nvme ana-log /dev/$ram_ctrl failed"
state=$(python3 -c 'import json, sys
for d in json.load(open(sys.argv[1]))["ANA DESC LIST "]:
    if d["grpid"] == 2:
        print(d["state"], *[n["nsid"] for n in d["NSIDS"]])' $tmp/ana.json) ||
	die "cannot read the ANA log: $(cat $tmp/ana.json)"
[ "$state" = "non-optimized 1" ] || die "ANA group 2 is '$state', not non-optimized with namespace 1"
say "ok: the ANA log shows group 2 non-optimized, with namespace 1"
for c in "$ram_ctrl" "$file_ctrl"; do
	nvme disconnect -d "$c" >&2 || die "nvme disconnect -d $c failed"
done
[ -z "$(nvmf_ctrls $ram_nqn)$(nvmf_ctrls $file_nqn)" ] || die "controllers left after nvme disconnect"
say "ok: nvme disconnect"

kmsg "connect-all"
nvme connect-all -t tcp -a 127.0.0.1 -s 4420 --hostnqn="$host_a" >&2 || die "nvme connect-all failed"
for nqn in $ram_nqn $file_nqn; do
	[ -n "$(nvmf_ctrls $nqn)" ] || die "nvme connect-all did not connect to $nqn"
done
say "ok: nvme connect-all connected $(nvmf_ctrls $ram_nqn | wc -l) controller(s) to the ram disk, $(nvmf_ctrls $file_nqn | wc -l) to the file"
for nqn in $ram_nqn $file_nqn; do
	nvme disconnect -n $nqn >&2 || die "nvme disconnect -n $nqn failed"
done
[ -z "$(nvmf_ctrls $ram_nqn)$(nvmf_ctrls $file_nqn)" ] || die "controllers left after nvme disconnect -n"

kmsg "save"
nvmetcli save $tmp/saved.json || die "nvmetcli save failed"
# Every value of the restored file is in the saved one (which adds the defaults).
python3 -c 'import json, sys
def missing(want, got, path):
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return [path]
        return [m for k, v in want.items() for m in missing(v, got.get(k), path + "/" + k)]
    if isinstance(want, list):
        if not isinstance(got, list) or len(want) != len(got):
            return [path]
        key = lambda e: json.dumps(e, sort_keys=True) if not isinstance(e, dict) else str(e.get("nqn", e.get("portid", e.get("grpid", e.get("name", e.get("nsid"))))))
        got = sorted(got, key=key)
        return [m for i, (w, g) in enumerate(zip(sorted(want, key=key), got)) for m in missing(w, g, path + "[%d]" % i)]
    return [] if str(want) == str(got) else [path + ": %r != %r" % (want, got)]
m = missing(json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), "")
print("\n".join(m))
sys.exit(1 if m else 0)' "$json" $tmp/saved.json >&2 || die "nvmetcli save lost or changed the values above"
nvmetcli clear || die "nvmetcli clear failed"
nvmetcli restore $tmp/saved.json >&2 || die "nvmetcli restore of the saved file failed"
nvmetcli save $tmp/saved2.json || die "the second nvmetcli save failed"
cmp $tmp/saved.json $tmp/saved2.json >&2 || {
	diff $tmp/saved.json $tmp/saved2.json >&2
	die "restore and save of the saved file changed it"
}
say "ok: nvmetcli save holds every restored value, and a second restore/save gives the same $(wc -l <$tmp/saved.json) lines"

kmsg "clear"
if ours; then
	sed "s/^/$ME: stats: /" /sys/kernel/debug/nvmet_tcp_rs/stats
fi
nvmetcli clear || die "nvmetcli clear failed"
for d in ports subsystems hosts; do
	[ -z "$(ls "$NVMET_CFS/$d")" ] || die "nvmetcli clear left $NVMET_CFS/$d/$(ls "$NVMET_CFS/$d" | head -n1)"
done
if ours; then
	for c in connections_active data_buffers_live ports_live; do
		n=$(awk -v c=$c '$1 == c { print $2 }' /sys/kernel/debug/nvmet_tcp_rs/stats)
		[ "$n" = 0 ] || die "after nvmetcli clear, $c is '$n', not 0"
	done
fi
run modprobe -r nvmet_tcp
run modprobe -r nvme_tcp
! module_loaded nvmet_tcp || die "nvmet_tcp is still loaded"
! module_loaded nvmet || die "nvmet is still loaded after modprobe -r nvmet_tcp"
[ ! -d /sys/kernel/debug/nvmet_tcp_rs ] || die "our debugfs directory outlived the module"
say "ok: nvmetcli clear left nothing in configfs; nvmet_tcp and nvmet unloaded"
if [ "$transport" = nvmet_tcp_rs ]; then
	run "$VMRUN_DIR/scripts/install" --uninstall
fi
exit 0
