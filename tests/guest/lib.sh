# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=sh
#
# Helpers for the guest scenarios (tests/guest/*.sh), sourced, POSIX sh: busybox ash on
# ARMv7, the host's dash on x86_64. scripts/vm-run's init exports:
#   VMRUN_ARCH     x86_64 or armv7
#   VMRUN_MODDIR   the --module .ko files
#   VMRUN_OUT      files for the host (x86_64 only)
# A scenario sets ME (its name, for messages) before sourcing this file.

: "${ME:=scenario}"
: "${VMRUN_MODDIR:=/nonexistent}"

say() { echo "$ME: $*"; }
warn() { echo "$ME: warning: $*" >&2; }
die() {
	echo "$ME: FAIL: $*" >&2
	exit 1
}
# run CMD...: runs CMD, dies if it fails.
run() {
	"$@" || die "'$*' failed (rc $?)"
}
# nap: a short sleep; falls back to whole seconds if sleep cannot do fractions.
nap() { sleep 0.2 2>/dev/null || sleep 1; }
# wait_until SECS CMD...: polls CMD until it succeeds; fails after about SECS seconds.
wait_until() {
	_wu_end=$(($(cut -d. -f1 /proc/uptime) + $1))
	shift
	until "$@"; do
		[ "$(cut -d. -f1 /proc/uptime)" -lt "$_wu_end" ] || return 1
		nap
	done
}
# kmsg TEXT: marks a step in the kernel log, so splats can be placed in the scenario.
kmsg() { echo "$ME: $*" >/dev/kmsg 2>/dev/null || true; }

# ---- modules ----------------------------------------------------------------------------

# Kernel module names use underscores; file names and modprobe aliases may use dashes.
modname() { echo "$1" | tr - _; }
module_loaded() { grep -q "^$(modname "$1") " /proc/modules; }
# The --module file for NAME, if vm-run was given one.
extra_ko() {
	for _f in "$VMRUN_MODDIR/$1.ko" "$VMRUN_MODDIR/$(modname "$1").ko" \
		"$VMRUN_MODDIR/$(echo "$1" | tr _ -).ko"; do
		[ -f "$_f" ] && echo "$_f" && return 0
	done
	return 1
}
# load_module NAME [PARAM=VALUE...]: insmod's NAME from the --module files (after
# modprobe'ing what it depends on), or modprobe's it from the kernel's own modules.
load_module() {
	_lm=$1
	shift
	module_loaded "$_lm" && return 0
	if _ko=$(extra_ko "$_lm"); then
		# No depmod data for extra modules: read "depends=" from the .ko's modinfo.
		_deps=$(tr '\000' '\n' <"$_ko" | sed -n 's/^depends=//p' | tr , ' ')
		for _d in $_deps; do
			run modprobe "$_d"
		done
		say "insmod $_ko $*"
		run insmod "$_ko" "$@"
	else
		run modprobe "$_lm" "$@"
	fi
	module_loaded "$_lm" || die "module $_lm is not loaded after loading it"
}
# unload_module NAME: rmmod's NAME if loaded. Retries briefly, since a module's last
# references may drop in work items that run after the teardown that started them.
unload_module() {
	_um=$(modname "$1")
	module_loaded "$_um" || return 0
	_tries=0
	until rmmod "$_um" 2>/dev/null; do
		_tries=$((_tries + 1))
		[ $_tries -lt 25 ] || {
			rmmod "$_um"
			die "cannot unload $_um (refcnt $(cat "/sys/module/$_um/refcnt" 2>/dev/null))"
		}
		nap
	done
	[ $_tries = 0 ] || warn "$_um unloaded only after $_tries retries"
}
# unload_modules_except SNAPSHOT: unloads every module not listed in SNAPSHOT (a copy of
# /proc/modules), users first. Catches modules loaded on the kernel's request_module().
unload_modules_except() {
	while :; do
		_left="" _progress=""
		# Column 3 of /proc/modules is the use count.
		# shellcheck disable=SC2013 # module names have no spaces
		for _m in $(awk '{ print $1 }' /proc/modules); do
			grep -q "^$_m " "$1" && continue
			_left=1
			if [ "$(awk -v m="$_m" '$1 == m { print $3 }' /proc/modules)" = 0 ]; then
				rmmod "$_m" && _progress=1
			fi
		done
		[ -n "$_left" ] || return 0
		[ -n "$_progress" ] || {
			awk '{ print "  " $0 }' /proc/modules >&2
			die "modules left loaded that cannot be unloaded"
		}
	done
}

# writable_copies DIR...: binds a writable copy (in /run) over each DIR of the read-only root
# (x86_64: scripts/setup makes sure the directories exist on the host).
writable_copies() {
	for _d in "$@"; do
		[ -d "$_d" ] || die "no $_d to bind a writable copy over (run scripts/setup)"
		_rw=/run/rw$(echo "$_d" | tr / -)
		run mkdir -p "$_rw"
		run cp -a "$_d/." "$_rw/"
		run mount --bind "$_rw" "$_d"
	done
}

# ---- ours installed in place of the C module (x86_64: scripts/install) -------------------

# ours: whether the loaded nvmet_tcp is ours (only ours has this debugfs directory).
ours() { [ -d /sys/kernel/debug/nvmet_tcp_rs ]; }
# install_ours: installs the --module nvmet-tcp.ko as make install does (vm-run's copy of
# scripts/install), on writable copies of /lib/modules and /etc/depmod.d.
install_ours() {
	writable_copies /lib/modules /etc/depmod.d
	run "$VMRUN_DIR/scripts/install" "$VMRUN_MODDIR/nvmet-tcp.ko"
}
# nvmetcli ARGS...: nvmetcli (the copy in $NVMETCLI_DIR, with $NVMETCLI_PYTHONPATH for its
# Python dependency; scripts/third-party) run as a user runs it.
nvmetcli() {
	(cd "$NVMETCLI_DIR" && PYTHONPATH=$NVMETCLI_PYTHONPATH python3 ./nvmetcli "$@")
}

# ---- a target with a ram disk ------------------------------------------------------------

# target_modules_load TRANSPORT RAM_KIB [PARAM=VALUE...]: a brd ram disk (/dev/ram0 of
# RAM_KIB KiB), nvmet, TRANSPORT with PARAMs, and the nvme-tcp host. Notes the modules loaded
# before in $MODULES_BEFORE for target_modules_unload.
target_modules_load() {
	MODULES_BEFORE=/tmp/$ME.modules.before
	cat /proc/modules >"$MODULES_BEFORE"
	_tr=$1 _kib=$2
	shift 2
	load_module brd rd_nr=1 rd_size="$_kib" max_part=0
	wait_until 10 test -b /dev/ram0 || die "/dev/ram0 did not appear"
	load_module nvmet
	load_module "$_tr" "$@"
	[ "$(modname "$_tr")" != nvmet_tcp_rs ] ||
		kunit_check nvmet_tcp_rs_placement nvmet_tcp_rs_addr nvmet_tcp_rs_completions \
			nvmet_tcp_rs_req
	load_module nvme_tcp
}
# kunit_check SUITE...: in a kernel with KUnit, each SUITE of the module just loaded ran and
# all of its cases passed (its KTAP results in debugfs). The ARMv7 kernel has no KUnit:
# nothing to check there.
kunit_check() {
	_kd=/sys/kernel/debug/kunit
	[ -d $_kd ] || return 0
	for _ks in "$@"; do
		[ -r "$_kd/$_ks/results" ] || die "the KUnit suite $_ks did not run"
		sed "s/^/$ME: kunit: /" "$_kd/$_ks/results"
		! grep -q 'not ok' "$_kd/$_ks/results" || die "the KUnit suite $_ks failed"
		grep -qE "^ok [0-9]+ $_ks\$" "$_kd/$_ks/results" ||
			die "the KUnit suite $_ks has no result"
	done
}
# target_modules_unload TRANSPORT: removes all target configuration and unloads every module
# loaded since target_modules_load, so that unload bugs show up as splats.
target_modules_unload() {
	nvmet_teardown
	unload_module "$1"
	unload_module nvme_tcp
	unload_module nvmet
	unload_module brd
	[ -z "${MODULES_BEFORE:-}" ] || unload_modules_except "$MODULES_BEFORE"
}

# ---- NVMe target (configfs, like nvmetcli and blktests) ---------------------------------

NVMET_CFS=/sys/kernel/config/nvmet

# nvmet_subsys_create NQN NSID DEVICE: an any-host subsystem with one enabled namespace.
nvmet_subsys_create() {
	_s=$NVMET_CFS/subsystems/$1
	run mkdir "$_s"
	echo 1 >"$_s/attr_allow_any_host" || die "cannot set attr_allow_any_host"
	run mkdir "$_s/namespaces/$2"
	echo "$3" >"$_s/namespaces/$2/device_path" || die "cannot set device_path $3"
	echo 1 >"$_s/namespaces/$2/enable" || die "cannot enable namespace $2 ($3)"
}
# nvmet_port_create ID TRTYPE ADRFAM TRADDR TRSVCID
nvmet_port_create() {
	_p=$NVMET_CFS/ports/$1
	run mkdir "$_p"
	echo "$2" >"$_p/addr_trtype" || die "cannot set addr_trtype $2"
	echo "$3" >"$_p/addr_adrfam" || die "cannot set addr_adrfam $3"
	echo "$4" >"$_p/addr_traddr" || die "cannot set addr_traddr $4"
	echo "$5" >"$_p/addr_trsvcid" || die "cannot set addr_trsvcid $5"
}
# nvmet_port_add_subsys PORTID NQN: the symlink enables the port (the transport listens).
nvmet_port_add_subsys() {
	ln -s "$NVMET_CFS/subsystems/$2" "$NVMET_CFS/ports/$1/subsystems/$2" ||
		die "cannot add $2 to port $1 (is the transport loaded and the address free?)"
}
# nvmet_teardown: removes every port, subsystem, namespace and host, in dependency order.
# Tolerates a partial setup, so it can run from a failing scenario's cleanup.
nvmet_teardown() {
	[ -d "$NVMET_CFS" ] || return 0
	for _l in "$NVMET_CFS"/ports/*/subsystems/*; do
		[ -L "$_l" ] || continue
		rm "$_l" || die "cannot remove port link $_l"
	done
	for _p in "$NVMET_CFS"/ports/*; do
		[ -d "$_p" ] || continue
		# Referrals and ANA groups (nvmetcli makes them) are directories of their own;
		# group 1 is the port's, which goes with it.
		for _r in "$_p"/referrals/* "$_p"/ana_groups/*; do
			[ -d "$_r" ] && [ "$_r" != "$_p/ana_groups/1" ] || continue
			rmdir "$_r" || die "cannot remove $_r"
		done
		rmdir "$_p" || die "cannot remove port $_p"
	done
	for _s in "$NVMET_CFS"/subsystems/*; do
		[ -d "$_s" ] || continue
		for _n in "$_s"/namespaces/*; do
			[ -d "$_n" ] || continue
			echo 0 >"$_n/enable" || die "cannot disable namespace $_n"
			rmdir "$_n" || die "cannot remove namespace $_n"
		done
		for _h in "$_s"/allowed_hosts/*; do
			[ -L "$_h" ] || continue
			rm "$_h" || die "cannot remove allowed host link $_h"
		done
		rmdir "$_s" || die "cannot remove subsystem $_s"
	done
	for _h in "$NVMET_CFS"/hosts/*; do
		[ -d "$_h" ] || continue
		rmdir "$_h" || die "cannot remove host $_h"
	done
}

# scenario_teardown [CTRL...]: for a scenario's EXIT trap: disconnects the host controllers
# CTRL, removes the target's configuration and unloads every module loaded since the
# snapshot in $MODULES_BEFORE, so that unload bugs show up as splats.
scenario_teardown() {
	kmsg "teardown"
	for _c in "$@"; do nvmf_disconnect "$_c"; done
	nvmet_teardown
	unload_modules_except "$MODULES_BEFORE"
	say "teardown done, all modules unloaded"
}

# ---- NVMe host (nvme-tcp) ---------------------------------------------------------------

# How to connect: nvme-cli where the guest has it (x86_64, the host's), else the raw
# /dev/nvme-fabrics interface (ARMv7). connect=raw in a scenario's args forces the latter.
: "${NVMF_CONNECT:=}"
if [ -z "$NVMF_CONNECT" ]; then
	if command -v nvme >/dev/null 2>&1; then NVMF_CONNECT=nvme-cli; else NVMF_CONNECT=raw; fi
fi

# nvmf_ctrls NQN: the controllers (nvmeN) connected to subsystem NQN.
nvmf_ctrls() {
	for _c in /sys/class/nvme/nvme*; do
		[ -r "$_c/subsysnqn" ] || continue
		[ "$(cat "$_c/subsysnqn")" = "$1" ] && basename "$_c"
	done
	return 0
}
# NVMF_OPTS: extra connect options in the kernel's fabrics syntax, e.g.
# "hdr_digest,data_digest,nr_io_queues=2,queue_size=64,hostnqn=NQN,disable_sqflow".
: "${NVMF_OPTS:=}"
# nvmf_cli_opts: NVMF_OPTS as nvme-cli arguments.
nvmf_cli_opts() {
	echo "$NVMF_OPTS" | tr ',' '\n' | while IFS='=' read -r _k _v; do
		case $_k in
		'') ;;
		hdr_digest | data_digest | disable_sqflow) echo "--$(echo "$_k" | tr _ -)" ;;
		*) echo "--$(echo "$_k" | tr _ -)=$_v" ;;
		esac
	done
}
# nvmf_connect TRADDR TRSVCID NQN: connects over TCP with NVMF_OPTS and prints the
# controller (nvmeN).
nvmf_connect() {
	case $NVMF_CONNECT in
	nvme-cli)
		# shellcheck disable=SC2046 # one word per option
		nvme connect -t tcp -a "$1" -s "$2" -n "$3" $(nvmf_cli_opts) >&2 ||
			die "nvme connect to $1:$2 $3 failed"
		_ctrl=$(nvmf_ctrls "$3" | tail -n1)
		;;
	raw)
		# One write of the options creates the controller; reading the same open file
		# back gives "instance=N,cntlid=M" (drivers/nvme/host/fabrics.c).
		[ -c /dev/nvme-fabrics ] || die "/dev/nvme-fabrics missing (nvme-fabrics not loaded?)"
		exec 3<>/dev/nvme-fabrics || die "cannot open /dev/nvme-fabrics"
		if ! printf '%s' "nqn=$3,transport=tcp,traddr=$1,trsvcid=$2${NVMF_OPTS:+,$NVMF_OPTS}" >&3; then
			exec 3>&-
			die "connect to $1:$2 $3 failed (see the kernel log)"
		fi
		IFS= read -r _reply <&3
		exec 3>&-
		_inst=$(echo "$_reply" | sed -n 's/^instance=\([0-9]*\),.*/\1/p')
		[ -n "$_inst" ] || die "unexpected /dev/nvme-fabrics reply '$_reply'"
		_ctrl=nvme$_inst
		;;
	*) die "unknown NVMF_CONNECT=$NVMF_CONNECT" ;;
	esac
	if [ -z "$_ctrl" ] || [ ! -d "/sys/class/nvme/$_ctrl" ]; then
		die "no controller for $3 after connect"
	fi
	echo "$_ctrl"
}
# nvmf_disconnect CTRL: deletes the host controller CTRL (synchronous).
nvmf_disconnect() {
	[ -d "/sys/class/nvme/$1" ] || return 0
	case $NVMF_CONNECT in
	nvme-cli) nvme disconnect -d "$1" >&2 || die "nvme disconnect -d $1 failed" ;;
	*) echo 1 >"/sys/class/nvme/$1/delete_controller" || die "cannot delete controller $1" ;;
	esac
	wait_until 30 test ! -e "/sys/class/nvme/$1" || die "controller $1 still there after disconnect"
}
_ns_blk() { # CTRL NSID: prints the namespace's block device name once it exists.
	for _b in /sys/class/nvme/"$1"/nvme*n*; do
		[ -r "$_b/nsid" ] || continue
		[ "$(cat "$_b/nsid")" = "$2" ] || continue
		_n=$(basename "$_b")
		case $_n in
		*c*n*) # a multipath path device: the disk is the subsystem's head
			_n=$(echo "$_n" | sed 's/^nvme\([0-9]*\)c[0-9]*n\([0-9]*\)$/nvme\1n\2/') ;;
		esac
		[ -b "/dev/$_n" ] || return 1
		echo "$_n"
		return 0
	done
	return 1
}
# nvme_ns_dev CTRL NSID: waits for the namespace's block device and prints /dev/...
nvme_ns_dev() {
	wait_until 30 _ns_blk "$1" "$2" >/dev/null || die "no block device for $1 namespace $2"
	echo "/dev/$(_ns_blk "$1" "$2")"
}

# ---- data -------------------------------------------------------------------------------

# blockdev_bytes DEV: the size of block device /dev/NAME in bytes.
blockdev_bytes() {
	echo $(($(cat "/sys/class/block/$(basename "$1")/size") * 512))
}
# random_file FILE BYTES
random_file() {
	dd if=/dev/urandom of="$1" bs="$2" count=1 iflag=fullblock status=none ||
		die "cannot make $2 random bytes"
}
# busybox dd page-aligns only buffers of a page or more, and when the kernel refuses
# O_DIRECT (EINVAL, e.g. for a misaligned buffer) it quietly retries without it. So the
# dd calls below use a block of at least a page and count bytes (iflag=count_bytes), and
# check in the device's I/O statistics that the bytes really went to the device: a read
# served from the page cache (possible while anything else holds the device open) would
# not show there.
_dio_bs() { if [ "$1" -ge 4096 ]; then echo "$1"; else echo 4096; fi; }
# _bdev_stat DEV N: sets _stat to field N of DEV's I/O statistics (3 sectors read, 7
# sectors written), or to nothing if DEV keeps none (brd does not). No forks: this runs
# around every I/O, and a fork costs a lot in a KASAN guest under TCG.
_bdev_stat() {
	_st=/sys/class/block/${1##*/} _stat=""
	[ -r "$_st/queue/iostats" ] || return 0
	read -r _io <"$_st/queue/iostats"
	[ "$_io" = 1 ] || return 0
	read -r _f1 _f2 _f3 _f4 _f5 _f6 _f7 _rest <"$_st/stat"
	case $2 in
	3) _stat=$_f3 ;;
	7) _stat=$_f7 ;;
	esac
}
# _bdev_moved DEV N BEFORE BYTES: whether field N grew by BYTES/512 or more since BEFORE.
_bdev_moved() {
	[ -n "$3" ] || return 0
	_bdev_stat "$1" "$2"
	[ $((_stat - $3)) -ge $(($4 / 512)) ]
}
# write_direct FILE DEV OFFSET: writes FILE to DEV at byte OFFSET in one O_DIRECT write.
write_direct() {
	_sz=$(wc -c <"$1")
	_bdev_stat "$2" 7
	_w0=$_stat
	dd if="$1" of="$2" bs="$(_dio_bs "$_sz")" count="$_sz" seek="$3" iflag=count_bytes \
		oflag=seek_bytes,direct conv=notrunc,fsync status=none || return 1
	_bdev_moved "$2" 7 "$_w0" "$_sz" || {
		warn "$2 did not see the $_sz-byte write at $3 (O_DIRECT dropped?)"
		return 1
	}
}
# read_direct DEV OFFSET BYTES FILE: reads BYTES at byte OFFSET of DEV, one O_DIRECT read.
read_direct() {
	_bdev_stat "$1" 3
	_r0=$_stat
	dd if="$1" of="$4" bs="$(_dio_bs "$3")" count="$3" skip="$2" \
		iflag=skip_bytes,count_bytes,direct status=none || return 1
	_bdev_moved "$1" 3 "$_r0" "$3" || {
		warn "the $3-byte read at $2 did not reach $1 (O_DIRECT dropped, read from the page cache?)"
		return 1
	}
}

# ---- verified I/O -----------------------------------------------------------------------

# io_plan DEVSIZE [light]: OFFSET:SIZE pairs that do not overlap, so a final pass can re-read
# them all. Each size from 512 B to 4 MiB goes at a page-aligned offset and two that are
# only sector-aligned (one crossing a page boundary), and an 8 KiB+512 write ends at the
# device's very last byte. The sizes sit on either side of the in-capsule limits the matrix
# uses (8 KiB and the default 16 KiB), so each port sees both in-capsule and R2T writes.
# "light" puts each size at one sector-aligned offset only.
io_plan() {
	_skews="0 512 3584"
	[ "${2:-}" = light ] && _skews=3584
	_cursor=0
	for _size in 512 4096 8704 15872 16384 16896 65536 1048576 4194304; do
		for _skew in $_skews; do
			_off=$(((_cursor + 1048575) / 1048576 * 1048576 + _skew))
			echo "$_off:$_size"
			_cursor=$((_off + _size))
		done
	done
	_tail=$(($1 - 8704))
	[ $_cursor -le $_tail ] || die "the I/O plan needs $_cursor bytes; the device is too small"
	echo "$_tail:8704"
}
# io_write_verify DEV RAW TMP PLAN [CORRUPT]: for each OFFSET:SIZE of PLAN, writes random
# data to DEV with O_DIRECT, reads it back over DEV and from the backing device RAW, and
# compares. CORRUPT=N overwrites a sector of RAW behind the target's back after write N
# (to show that the comparison works). Keeps the patterns in TMP for io_reread.
io_write_verify() {
	_i=0
	for _e in $4; do
		_off=${_e%:*} _size=${_e#*:}
		random_file "$3/pat.$_i" "$_size"
		write_direct "$3/pat.$_i" "$1" "$_off" || die "O_DIRECT write of $_size bytes at $_off failed"
		if [ "${5:-}" = $_i ]; then
			say "corrupting 512 bytes at $_off on $2 behind the target"
			random_file "$3/junk" 512
			write_direct "$3/junk" "$2" "$_off" || die "cannot corrupt $2"
		fi
		read_direct "$1" "$_off" "$_size" "$3/back" || die "O_DIRECT read of $_size bytes at $_off failed"
		cmp "$3/pat.$_i" "$3/back" >&2 || die "data read back differs: $_size bytes at offset $_off"
		read_direct "$2" "$_off" "$_size" "$3/back" || die "cannot read $2 at $_off"
		cmp "$3/pat.$_i" "$3/back" >&2 || die "$2 differs from what was written: $_size bytes at offset $_off"
		_i=$((_i + 1))
	done
}
# io_reread DEV TMP PLAN: re-reads every region of PLAN: a later write must not have
# clobbered an earlier one.
io_reread() {
	_i=0
	for _e in $3; do
		_off=${_e%:*} _size=${_e#*:}
		read_direct "$1" "$_off" "$_size" "$2/back" || die "O_DIRECT re-read of $_size bytes at $_off failed"
		cmp "$2/pat.$_i" "$2/back" >&2 || die "re-read differs: $_size bytes at offset $_off"
		rm -f "$2/pat.$_i"
		_i=$((_i + 1))
	done
}
# verify_io_plan DEV RAW TMP [light]: the plan, written, verified and re-read.
verify_io_plan() {
	_plan=$(io_plan "$(blockdev_bytes "$1")" "${4:-}") || return 1
	io_write_verify "$1" "$2" "$3" "$_plan"
	io_reread "$1" "$3" "$_plan"
}
# verify_io_region DEV OFFSET TMP COUNT: COUNT verified writes of mixed sizes (4 KiB+512 up
# to 1 MiB) from OFFSET on, each read back over DEV; for parallel hosts on disjoint regions.
verify_io_region() {
	_n=0 _off=$2
	while [ $_n -lt "$4" ]; do
		_size=$(((_n % 4 + 1) * 4096 + 512))
		[ $((_n % 3)) = 2 ] && _size=1048576
		random_file "$3/r.$_n" "$_size"
		write_direct "$3/r.$_n" "$1" "$_off" || die "O_DIRECT write of $_size bytes at $_off failed"
		read_direct "$1" "$_off" "$_size" "$3/rb.$_n" || die "O_DIRECT read of $_size bytes at $_off failed"
		cmp "$3/r.$_n" "$3/rb.$_n" >&2 || die "data read back differs: $_size bytes at offset $_off"
		rm -f "$3/r.$_n" "$3/rb.$_n"
		_off=$((_off + 2097152)) _n=$((_n + 1))
	done
}

# ---- the reliability suite's table ---------------------------------------------------------

# row CASE RESULT WHAT...: one line of the reliability table (tests/guest/reliability.sh) in
# $RELI_ROWS: RESULT is ok or FAIL (for nvmet_tcp_rs), seen (nvmet_tcp: only reported);
# WHAT says what the target did. Also printed: with $RELI_ROWS, as the table's line
# "reliability-row: CASE<TAB>RESULT<TAB>WHAT" at once, so that a run that hangs later (the C
# target's release hang) still has its rows in the console.
row() {
	_case=$1 _res=$2
	shift 2
	say "$_res $_case: $*"
	[ -z "${RELI_ROWS:-}" ] || {
		printf '%s\t%s\t%s\n' "$_case" "$_res" "$*" >>"$RELI_ROWS"
		printf 'reliability-row: %s\t%s\t%s\n' "$_case" "$_res" "$*"
	}
}
# verdict PASSED: ok or FAIL for nvmet_tcp_rs ($TRANSPORT), seen for nvmet_tcp.
verdict() {
	if [ "${TRANSPORT:-}" != nvmet_tcp_rs ]; then echo seen; elif [ "$1" = 1 ]; then echo ok; else echo FAIL; fi
}
