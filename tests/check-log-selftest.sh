#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Self-test of scripts/check-log: real-looking splats must fail it, clean boot noise and
# the scenarios' own output must not. Keeps the checker from silently matching nothing.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
check=$top/scripts/check-log
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bad=0 n=0

# expect RC NAME TEXT: check-log on a log of TEXT (after some clean boot lines) exits RC.
expect() {
	local want=$1 name=$2 text=$3 rc=0
	n=$((n + 1))
	{
		printf '[    0.000000] Linux version 7.3.4 (root@host) #1 SMP PREEMPT_DYNAMIC\r\n'
		printf '[    0.512345] kmemleak: Kernel memory leak detector initialized (mempool available: 15700)\n'
		printf '%s\n' "$text"
		printf 'VMRUN-RESULT: pass\n'
	} >"$tmp/log"
	"$check" "$tmp/log" >"$tmp/out" 2>&1 || rc=$?
	if [[ $rc != "$want" ]]; then
		echo "FAIL: $name: check-log exited $rc, expected $want" >&2
		sed 's/^/  | /' "$tmp/out" >&2
		bad=$((bad + 1))
	fi
}

# --- splats: must fail ---
expect 1 warn '[   12.345678] ------------[ cut here ]------------
[   12.345690] WARNING: CPU: 1 PID: 77 at drivers/nvme/target/core.c:123 nvmet_sq_destroy+0x1c/0x30 [nvmet]
[   12.345700] Modules linked in: nvmet_tcp nvmet brd'
expect 1 warn-only-line '[   12.345690] WARNING: CPU: 1 PID: 77 at kernel/foo.c:1 bar+0x1/0x2'
expect 1 bug-null '[    3.100000] BUG: kernel NULL pointer dereference, address: 0000000000000008'
expect 1 kasan '[   40.000001] ==================================================================
[   40.000002] BUG: KASAN: slab-use-after-free in nvmet_tcp_io_work+0x12/0x340 [nvmet_tcp]'
expect 1 kfence '[   40.000002] BUG: KFENCE: out-of-bounds read in foo+0x1/0x2'
expect 1 kunit-case '[   20.100000]     not ok 2 chunk_covers_its_range'
expect 1 kunit-suite '[   20.100001] not ok 1 nvmet_tcp_rs_placement'
expect 0 kunit-pass '[   20.100000]     ok 1 lowmem_chunk_and_local_mapping_agree
[   20.100001] ok 1 nvmet_tcp_rs_placement'

expect 1 oops-arm '[   22.000000] 8<--- cut here ---
[   22.000001] Unable to handle kernel NULL pointer dereference at virtual address 00000004 when read
[   22.000100] Internal error: Oops: 5 [#1] SMP ARM'
expect 1 oops-x86 '[    9.000000] Oops: general protection fault, probably for non-canonical address 0xdffffc0000000001: 0000 [#1] SMP KASAN'
expect 1 panic '[    9.100000] Kernel panic - not syncing: Fatal exception'
expect 1 lockdep-circular '[    5.000000] ======================================================
[    5.000001] WARNING: possible circular locking dependency detected
[    5.000002] 7.3.4 #1 Not tainted'
expect 1 lockdep-inconsistent '[    5.000001] WARNING: inconsistent lock state'
expect 1 lockdep-rcu '[    5.000001] WARNING: suspicious RCU usage'
expect 1 lockdep-off '[    5.000001] INFO: lockdep is turned off.'
expect 1 lockdep-key '[    5.000001] INFO: trying to register non-static key.'
expect 1 kmemleak-printk '[   70.000000] kmemleak: 2 new suspected memory leaks (see /sys/kernel/debug/kmemleak)'
expect 1 kmemleak-report 'unreferenced object 0xffff888012345678 (size 64):
  comm "kworker/0:1", pid 42, jiffies 4294937296
  backtrace (crc 0):'
expect 1 kmemleak-pool '[    1.000000] kmemleak: Memory pool empty, consider increasing CONFIG_DEBUG_KMEMLEAK_MEM_POOL_SIZE'
expect 1 hung-task '[  150.000000] INFO: task kworker/u4:2:88 blocked for more than 30 seconds.'
expect 1 refcount '[   12.000000] refcount_t: underflow; use-after-free.'
expect 1 list-corruption '[   12.000000] list_del corruption, ffff888003a1b2c0->next is LIST_POISON1 (dead000000000100)'
expect 1 list-add '[   12.000000] list_add corruption. prev->next should be next (ffff888003a1b2c0)'
expect 1 ubsan '[   12.000000] UBSAN: shift-out-of-bounds in drivers/nvme/target/tcp.c:99:10'
expect 1 rcu-stall '[   60.000000] rcu: INFO: rcu_sched detected stalls on CPUs/tasks:'
expect 1 rcu-preempt-stall '[   60.000000] rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:'
expect 1 soft-lockup '[   60.000000] watchdog: BUG: soft lockup - CPU#1 stuck for 26s! [kworker/1:1:50]'
expect 1 sleep-atomic '[    7.000000] BUG: sleeping function called from invalid context at mm/slub.c:4000'
expect 1 slub '[    7.000000] BUG kmalloc-64 (Not tainted): Poison overwritten'
expect 1 kernel-bug '[    7.000000] kernel BUG at drivers/nvme/target/tcp.c:1234!'
expect 1 stack-dump '[    7.000000] Call Trace:'
expect 1 mid-line 'writing 4096 bytes at 512...[   12.345690] WARNING: CPU: 0 PID: 1 at x.c:1 y+0x0/0x1'
expect 1 crlf $'[   12.345690] BUG: KASAN: double-free in kfree+0x0/0x1\r'

# --- clean: must pass ---
expect 0 clean ''
expect 0 boot-noise '[    0.000000] kasan: KernelAddressSanitizer initialized (generic)
[    0.100000] kfence: initialized - using 2097152 bytes for 255 objects at 0x(____ptrval____)-0x(____ptrval____)
[    0.200000] Lock dependency validator: Copyright (c) 2006 Red Hat, Inc., Ingo Molnar
[    0.300000] kmemleak: Automatic memory scanning thread started
[    0.400000] RETBleed: WARNING: Spectre v2 mitigation leaves CPU vulnerable to RETBleed attacks, data leaks possible!
[    8.000000] nvmet: adding nsid 1 to subsystem nqn.2014-08.org.example:vmrun
[    8.100000] nvmet_tcp: enabling port 1 (127.0.0.1:4420)
[    8.200000] nvme nvme0: creating 2 I/O queues.
[    8.300000] nvme nvme0: Removing ctrl: NQN "nqn.2014-08.org.example:vmrun"'
expect 0 test-output 'WARNING: this line comes from a test script
BUG: so does this one, and Oops too
io-verify: Kernel panic is just words here; KASAN: none
blocked for more than a second is fine in user output'
expect 0 kmemleak-empty-scan 'vmrun: kmemleak scan: no leaks reported'
# The guest init lists an object allocated under start_kernel under another name.
expect 0 kmemleak-boot-time 'vmrun: kmemleak report (a boot-time object is the kernel'"'"'s own, allocated under start_kernel):
boot-time object 0xff11000000158580 (size 8):
  comm "swapper/0", pid 0, jiffies 4294892346
  backtrace (crc bea23b04):
    ramfs_init_fs_context+0x46/0xd0
    start_kernel+0x2da/0x340
vmrun: kmemleak: no leaks reported'

if ((bad)); then
	echo "check-log selftest: $bad of $n cases failed" >&2
	exit 1
fi
echo "check-log selftest: all $n cases passed"
