import XCTest
@testable import VM

/// Sample console logs written from the kernel's printk formats (see Splat.swift's header).
final class SplatTests: XCTestCase {
    func testWarning7x() {
        let log = """
        [   12.345678] ------------[ cut here ]------------
        [   12.345999] WARNING: kernel/cgroup/dmem.c:612 at dmem_cgroup_uncharge+0x1a4/0x1f0, CPU#1: dmemfuzz-agent/73
        [   12.346100] Modules linked in: vkms vgem drm_shmem_helper
        [   12.346200] CPU: 1 UID: 0 PID: 73 Comm: dmemfuzz-agent Not tainted 7.3.0-dmemfuzz #1 PREEMPT(voluntary)
        [   12.346300] Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014
        [   12.346400] RIP: 0010:dmem_cgroup_uncharge+0x1a4/0x1f0
        [   12.346500] Code: 48 89 ef e8 ...
        [   12.346600] RSP: 0018:ffffc90000377c48 EFLAGS: 00010246
        [   12.346700] Call Trace:
        [   12.346710]  <TASK>
        [   12.346720]  ? __warn+0xcc/0x1f0
        [   12.346730]  ? dmem_cgroup_uncharge+0x1a4/0x1f0
        [   12.346740]  ttm_resource_free+0x88/0x120
        [   12.346750]  vgem_gem_free_object+0x40/0x90 [vgem]
        [   12.346760]  drm_gem_object_release_handle+0x6c/0xa0
        [   12.346770]  </TASK>
        [   12.346780] ---[ end trace 0000000000000000 ]---
        [   12.400000] random unrelated line
        """
        let s = SplatParser.parse(log)
        XCTAssertEqual(s.count, 1)
        XCTAssertEqual(s[0].kind, .warning)
        XCTAssertEqual(s[0].title, "WARNING in dmem_cgroup_uncharge")
        XCTAssertEqual(s[0].callTrace.first, "ttm_resource_free+0x88/0x120")
        XCTAssertEqual(s[0].callTrace.count, 3)
        XCTAssertTrue(s[0].raw.hasPrefix("------------[ cut here ]"))
        XCTAssertFalse(s[0].raw.contains("unrelated"))
    }

    func testWarningOldFormatAndLKDTM() {
        let log = """
        [    5.1] lkdtm: Performing direct entry WARNING
        [    5.2] ------------[ cut here ]------------
        [    5.3] WARNING: CPU: 0 PID: 80 at drivers/misc/lkdtm/bugs.c:110 lkdtm_WARNING+0x2a/0x30
        [    5.4] Call Trace:
        [    5.5]  <TASK>
        [    5.6]  lkdtm_do_action+0x1f/0x40
        [    5.7]  direct_entry+0x10c/0x150
        [    5.8]  full_proxy_write+0x54/0x80
        [    5.9]  vfs_write+0xf2/0x3c0
        [    5.9]  </TASK>
        [    6.0] ---[ end trace 0000000000000000 ]---
        """
        let s = SplatParser.parse(log)
        XCTAssertEqual(s.map(\.title), ["WARNING in lkdtm_WARNING"])
    }

    func testCRLFConsole() {
        let log = "Booting\r\n------------[ cut here ]------------\r\nWARNING: ../src/drivers/misc/lkdtm/bugs.c:164 at lkdtm_WARNING+0x16/0x1d, CPU#0: sh/40\r\nCall Trace:\r\n <TASK>\r\n lkdtm_do_action+0x50/0x5b\r\n </TASK>\r\n---[ end trace 0000000000000000 ]---\r\n"
        let s = SplatParser.parse(log)
        XCTAssertEqual(s.map(\.title), ["WARNING in lkdtm_WARNING"])
        XCTAssertEqual(s.first?.callTrace, ["lkdtm_do_action+0x50/0x5b"])
    }

    func testKernelBUGWithOopsAndPanic() {
        let log = """
        [   20.000001] lkdtm: Performing direct entry BUG
        [   20.000002] ------------[ cut here ]------------
        [   20.000003] kernel BUG at drivers/misc/lkdtm/bugs.c:99!
        [   20.000004] Oops: invalid opcode: 0000 [#1] SMP KASAN
        [   20.000005] CPU: 0 UID: 0 PID: 81 Comm: sh Not tainted 7.3.0 #1
        [   20.000006] RIP: 0010:lkdtm_BUG+0x5/0x10
        [   20.000007] Call Trace:
        [   20.000008]  <TASK>
        [   20.000009]  lkdtm_do_action+0x1f/0x40
        [   20.000010]  direct_entry+0x10c/0x150
        [   20.000011]  </TASK>
        [   20.000012] Modules linked in:
        [   20.000013] ---[ end trace 0000000000000000 ]---
        [   20.000014] RIP: 0010:lkdtm_BUG+0x5/0x10
        [   20.000015] Kernel panic - not syncing: Fatal exception
        [   20.000016] ---[ end Kernel panic - not syncing: Fatal exception ]---
        """
        let s = SplatParser.parse(log)
        XCTAssertEqual(s.map(\.title), ["kernel BUG in lkdtm_BUG", "Kernel panic - not syncing: Fatal exception"])
        XCTAssertEqual(s.map(\.kind), [.bug, .panic])
    }

    func testKASAN() {
        let log = """
        [   30.1] ==================================================================
        [   30.2] BUG: KASAN: slab-use-after-free in dmemcg_pool_put+0x7c/0x90
        [   30.3] Read of size 8 at addr ffff888012345678 by task dmemfuzz-agent/91
        [   30.4]
        [   30.5] CPU: 1 UID: 0 PID: 91 Comm: dmemfuzz-agent Not tainted 7.3.0 #1
        [   30.6] Call Trace:
        [   30.7]  <TASK>
        [   30.8]  dump_stack_lvl+0x64/0x80
        [   30.9]  print_report+0xc4/0x630
        [   31.0]  kasan_report+0xb5/0xf0
        [   31.1]  dmemcg_pool_put+0x7c/0x90
        [   31.2]  dmem_cgroup_uncharge+0x10/0x1f0
        [   31.3]  </TASK>
        [   31.4]
        [   31.5] Allocated by task 70:
        [   31.6]  kasan_save_stack+0x1c/0x40
        [   31.7] The buggy address belongs to the object at ffff888012345600
        [   31.8] ==================================================================
        [   31.9] after
        """
        let s = SplatParser.parse(log)
        XCTAssertEqual(s.count, 1)
        XCTAssertEqual(s[0].kind, .kasan)
        XCTAssertEqual(s[0].title, "KASAN: slab-use-after-free Read in dmemcg_pool_put")
        XCTAssertEqual(s[0].callTrace.first, "dump_stack_lvl+0x64/0x80")
        XCTAssertFalse(s[0].raw.contains("after\n") || s[0].raw.hasSuffix("after"))
    }

    func testLockdepCircularAndRecursive() {
        let log = """
        [   40.0] ======================================================
        [   40.1] WARNING: possible circular locking dependency detected
        [   40.2] 7.3.0 #1 Not tainted
        [   40.3] ------------------------------------------------------
        [   40.4] dmemfuzz-agent/77 is trying to acquire lock:
        [   40.5] ffffffff82a1b0e8 (dmemcg_lock){+.+.}-{3:3}, at: dmem_cgroup_try_charge+0x5a/0x2c0
        [   40.6]
        [   40.7] but task is already holding lock:
        [   40.8] ffff88800a1c2d30 (&bo->lock){+.+.}-{3:3}, at: ttm_bo_validate+0x40/0x120
        [   40.9]
        [   41.0] -> #1 (&bo->lock){+.+.}-{3:3}:
        [   41.1]        __mutex_lock+0x9c/0x930
        [   41.2]        ttm_bo_validate+0x40/0x120
        [   41.3] stack backtrace:
        [   41.4] CPU: 0 UID: 0 PID: 77 Comm: dmemfuzz-agent Not tainted 7.3.0 #1
        [   41.5] Call Trace:
        [   41.6]  <TASK>
        [   41.7]  dump_stack_lvl+0x64/0x80
        [   41.8]  print_circular_bug+0x2e1/0x300
        [   41.9]  __lock_acquire+0x1d6f/0x2f30
        [   42.0]  lock_acquire+0xd1/0x2e0
        [   42.1]  __mutex_lock+0x9c/0x930
        [   42.2]  dmem_cgroup_try_charge+0x5a/0x2c0
        [   42.3]  </TASK>
        [   42.4] agent: next request
        [   50.0] ============================================
        [   50.1] WARNING: possible recursive locking detected
        [   50.2] 7.3.0 #1 Not tainted
        [   50.3] --------------------------------------------
        [   50.4] sh/80 is trying to acquire lock:
        [   50.5] ffff888 (&pool->lock){....}-{2:2}, at: dmemcg_pool_reset+0x20/0x90
        [   50.6] stack backtrace:
        [   50.7] Call Trace:
        [   50.8]  <TASK>
        [   50.9]  dump_stack_lvl+0x64/0x80
        [   51.0]  </TASK>
        """
        let s = SplatParser.parse(log)
        XCTAssertEqual(s.map(\.title), ["possible deadlock in dmem_cgroup_try_charge", "possible deadlock in dmemcg_pool_reset"])
        XCTAssertEqual(s.map(\.kind), [.lockdep, .lockdep])
        XCTAssertFalse(s[0].raw.contains("next request"))
    }

    func testRefcountUnderflow7x() {
        let log = """
        [   60.0] ------------[ cut here ]------------
        [   60.1] WARNING: lib/refcount.c:28 at refcount_warn_saturate+0x9c/0x110, CPU#1: dmemfuzz-agent/88
        [   60.2] refcount_t: underflow; use-after-free.
        [   60.3] Modules linked in: vgem
        [   60.4] RIP: 0010:refcount_warn_saturate+0x9c/0x110
        [   60.5] Call Trace:
        [   60.6]  <TASK>
        [   60.7]  dmemcg_pool_put+0x5d/0x90
        [   60.8]  dmem_cgroup_pool_state_put+0x1a/0x30
        [   60.9]  </TASK>
        [   61.0] ---[ end trace 0000000000000000 ]---
        """
        let s = SplatParser.parse(log)
        XCTAssertEqual(s.count, 1)
        XCTAssertEqual(s[0].kind, .refcount)
        XCTAssertEqual(s[0].title, "refcount bug (underflow) in dmemcg_pool_put")
    }

    func testRefcountOldFormatMessageBeforeHeader() {
        let log = """
        [   60.0] ------------[ cut here ]------------
        [   60.1] refcount_t: addition on 0; use-after-free.
        [   60.2] WARNING: CPU: 1 PID: 88 at lib/refcount.c:25 refcount_warn_saturate+0x9c/0x110
        [   60.5] Call Trace:
        [   60.7]  dmemcg_pool_get+0x5d/0x90
        [   61.0] ---[ end trace 0000000000000000 ]---
        """
        let s = SplatParser.parse(log)
        XCTAssertEqual(s.map(\.title), ["refcount bug (addition on 0) in dmemcg_pool_get"])
    }

    func testListCorruptionBUG() {
        let log = """
        [   70.0] list_del corruption, ffff888003b4c108->next is LIST_POISON1 (dead000000000100)
        [   70.1] ------------[ cut here ]------------
        [   70.2] kernel BUG at lib/list_debug.c:56!
        [   70.3] Oops: invalid opcode: 0000 [#1] SMP
        [   70.4] RIP: 0010:__list_del_entry_valid_or_report+0x87/0xc0
        [   70.5] Call Trace:
        [   70.6]  <TASK>
        [   70.7]  dmemcg_free_rcu+0x31/0x80
        [   70.8]  </TASK>
        [   70.9] ---[ end trace 0000000000000000 ]---
        """
        let s = SplatParser.parse(log)
        XCTAssertEqual(s.map(\.title), ["list_del corruption in dmemcg_free_rcu"])
        XCTAssertEqual(s[0].kind, .listCorruption)
    }

    func testNullDerefGPFUbsanStallsHungSoftLockup() {
        let log = """
        [   80.0] BUG: kernel NULL pointer dereference, address: 0000000000000010
        [   80.1] #PF: supervisor read access in kernel mode
        [   80.2] Oops: Oops: 0000 [#1] SMP
        [   80.3] RIP: 0010:dmem_cgroup_calculate_protection+0x22/0x150
        [   80.4] ---[ end trace 0000000000000000 ]---
        [   81.0] Oops: general protection fault, probably for non-canonical address 0xdffffc0000000002: 0000 [#2] SMP KASAN
        [   81.1] KASAN: null-ptr-deref in range [0x0000000000000010-0x0000000000000017]
        [   81.2] RIP: 0010:get_cg_pool_locked+0x4e/0x3a0
        [   81.3] ---[ end trace 0000000000000000 ]---
        [   82.0] UBSAN: shift-out-of-bounds in kernel/cgroup/dmem.c:300:20
        [   82.1] shift exponent 64 is too large for 64-bit type 'unsigned long'
        [   82.2] Call Trace:
        [   82.3]  <TASK>
        [   82.4]  dump_stack_lvl+0x64/0x80
        [   82.5]  __ubsan_handle_shift_out_of_bounds+0x1e7/0x390
        [   82.6]  dmem_cgroup_region_capacity_show+0x90/0x100
        [   82.7]  </TASK>
        [   82.8] ---[ end trace ]---
        [   90.0] rcu: INFO: rcu_preempt self-detected stall on CPU
        [   90.1] rcu: 	1-....: (2100 ticks this GP)
        [   90.2] RIP: 0010:dmem_cgroup_try_charge+0x100/0x2c0
        [   90.3] Call Trace:
        [   90.4]  <IRQ>
        [   90.5]  rcu_dump_cpu_stacks+0x10/0x20
        [   90.6]  </IRQ>
        [   90.7]  <TASK>
        [   90.8]  dmem_cgroup_try_charge+0x100/0x2c0
        [   90.9]  </TASK>
        [  100.0] INFO: task dmemfuzz-agent:73 blocked for more than 122 seconds.
        [  100.1]       Not tainted 7.3.0 #1
        [  100.2] Call Trace:
        [  100.3]  <TASK>
        [  100.4]  __schedule+0x3ff/0xb50
        [  100.5]  schedule+0x37/0xd0
        [  100.6]  dmem_cgroup_uncharge+0x44/0x1f0
        [  100.7]  </TASK>
        [  110.0] watchdog: BUG: soft lockup - CPU#0 stuck for 26s! [dmemfuzz-agent:73]
        [  110.1] RIP: 0010:dmemcg_reset_pool+0x33/0x60
        [  110.2] Call Trace:
        [  110.3]  <TASK>
        [  110.4]  dmem_cgroup_region_unregister+0x77/0x100
        [  110.5]  </TASK>
        """
        let s = SplatParser.parse(log)
        XCTAssertEqual(s.map(\.title), [
            "BUG: kernel NULL pointer dereference in dmem_cgroup_calculate_protection",
            "general protection fault in get_cg_pool_locked",
            "UBSAN: shift-out-of-bounds in dmem_cgroup_region_capacity_show",
            "INFO: rcu detected stall in dmem_cgroup_try_charge",
            "INFO: task hung in dmem_cgroup_uncharge",
            "BUG: soft lockup in dmemcg_reset_pool",
        ])
        XCTAssertEqual(s.map(\.kind), [.oops, .oops, .ubsan, .rcuStall, .hungTask, .softLockup])
    }

    func testSleepingInAtomicAndCleanLog() {
        XCTAssertEqual(SplatParser.parse("[ 0.1] Linux version 7.3.0\n[ 0.2] Run /init as init process\n").count, 0)
        let log = """
        [    3.0] BUG: sleeping function called from invalid context at kernel/locking/mutex.c:580
        [    3.1] in_atomic(): 1, irqs_disabled(): 0, non_block: 0, pid: 73, name: agent
        [    3.2] Call Trace:
        [    3.3]  <TASK>
        [    3.4]  dump_stack_lvl+0x64/0x80
        [    3.5]  __might_resched+0x1c6/0x230
        [    3.6]  dmem_cgroup_unregister_region+0x4a/0x1a0
        [    3.7]  </TASK>
        """
        XCTAssertEqual(SplatParser.parse(log).map(\.title), ["BUG: sleeping function called from invalid context in dmem_cgroup_unregister_region"])
    }
}

/// A guest that went away is one line: the panic message, else the last console line.
final class QemuExitMessageTests: XCTestCase {
    func testPanicLineAndConsoleLogPath() {
        let tail = "[    4.1] Run /nonexistent as init process\r\n[    4.2] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)\r\n[    4.3] ---[ end Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0) ]---\r\n"
        XCTAssertEqual("\(VMError.qemuExited(status: 0, consoleTail: tail, consoleLog: "/tmp/x/console.log"))",
                       "qemu exited (status 0): Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0); console log: /tmp/x/console.log")
        XCTAssertEqual(VMError.why("qemu-system-x86_64: terminating on signal 9\n"), "last console line: qemu-system-x86_64: terminating on signal 9")
        XCTAssertEqual(VMError.why(""), "nothing on the console")
    }
}
