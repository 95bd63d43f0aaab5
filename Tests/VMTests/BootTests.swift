import Foundation
import XCTest
import DmemModel
import Trace
import Kernel
@testable import VM

/// Boots the real kernel (vm/build-kernel.sh's build). Without one these tests skip, unless
/// DMEMFUZZ_REQUIRE_KERNEL is set (CI), where the skip becomes a failure.
enum Guest {
    static let vgemSize: UInt64 = 268_435_456

    static func kernel() throws -> KernelBuild {
        if let kb = KernelBuild.existing() { return kb }
        let msg = "no kernel build (vm/KERNEL_READY, $DMEMFUZZ_KERNEL or ~/.cache/dmemfuzz/build/*): run vm/build-kernel.sh"
        if ProcessInfo.processInfo.environment["DMEMFUZZ_REQUIRE_KERNEL"] != nil {
            XCTFail(msg + " (DMEMFUZZ_REQUIRE_KERNEL is set)")
            throw VMError.setup(msg)
        }
        throw XCTSkip(msg + "; set DMEMFUZZ_REQUIRE_KERNEL=1 to fail instead")
    }

    static func boot(_ cmdline: [String] = ["dmemfuzz.vgem=\"dmem_regions=2 dmem_size=268435456\""], snapshots: Bool = true) async throws -> QemuMachine {
        let kb = try kernel()
        let initrd = try await Initramfs.build(kernel: kb, agent: try await Initramfs.agentBinary())
        var cfg = QemuConfig(kernel: kb, initramfs: initrd)
        cfg.cmdline = cmdline
        cfg.snapshots = snapshots
        try await cfg.prepare()
        let vm = QemuMachine(config: cfg)
        try vm.start()
        print(String(format: "BENCH boot-to-agent-ready %.2f s (%@, guest uptime %@ s)", vm.readySeconds ?? -1, vm.accel.rawValue,
                     vm.guestReadyUptime.map { String($0) } ?? "?"))
        if let out = ProcessInfo.processInfo.environment["DMEMFUZZ_BENCH_OUT"] {
            let line = String(format: "boot_to_agent_ready_seconds %.3f %@\n", vm.readySeconds ?? -1, vm.accel.rawValue)
            if let h = FileHandle(forWritingAtPath: out) { h.seekToEndOfFile(); h.write(Data(line.utf8)); h.closeFile() }
            else { FileManager.default.createFile(atPath: out, contents: Data(line.utf8)) }
        }
        return vm
    }

    /// No QEMU of this VM is left (its unique work dir is in QEMU's argv).
    static func assertNoQemu(_ vm: QemuMachine, file: StaticString = #filePath, line: UInt = #line) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/pgrep")
        p.arguments = ["-f", vm.workDir.lastPathComponent]
        p.standardOutput = FileHandle.nullDevice
        try? p.run(); p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 1, "a qemu of \(vm.workDir.path) is still running", file: file, line: line)
    }
}

final class BootTests: XCTestCase {
    /// One op in trace syntax through the typed client, its outcome printed as a trace prints it.
    func exec(_ vm: QemuMachine, _ line: String) throws -> String {
        TracePrinter.outcome(try vm.agent.exec(try TraceParser().parseStep(Substring(line)).op))
    }
    /// A cgroup file's contents, read by the agent (`read` op).
    func read(_ vm: QemuMachine, _ cgroup: String, _ file: String) throws -> String {
        let o = try vm.agent.exec(.read(CgroupPath(parsing: Substring(cgroup))!, file: file))
        return String(decoding: o.data ?? [], as: UTF8.self)
    }

    /// Removes the VM's work dir when the test passed; otherwise says where the console log is.
    func finish(_ vm: QemuMachine) {
        if (testRun?.totalFailureCount ?? 1) == 0 { vm.cleanup() } else { print("console log: \(vm.consoleURL.path)") }
    }

    /// A guest restored from the snapshot (Sources/VM/Snapshot.swift) is the booted guest: the
    /// same release, capacity and dmem interfaces as a cold boot, the boot log at the head of its
    /// console, timers that run, and a cgroup tree it can change.
    func testSnapshotRestoreIsTheBootState() async throws {
        let cold = try await Guest.boot(snapshots: false)
        XCTAssertEqual(cold.bootKind, .cold)
        let want = (try cold.agent.hello(), try read(cold, "/", "dmem.capacity"), try cold.agent.interfaces())
        cold.poweroff(); Guest.assertNoQemu(cold); finish(cold)
        let first = try await Guest.boot()  // restores, or boots and saves the snapshot
        first.poweroff(); finish(first)

        let vm = try await Guest.boot()
        defer { vm.poweroff(); Guest.assertNoQemu(vm); finish(vm) }
        XCTAssertEqual(vm.bootKind, .restored)
        let hello = try vm.agent.hello()
        XCTAssertEqual(hello.release, want.0.release)
        XCTAssertEqual(hello.capacity, want.0.capacity)
        // Which modules loaded and how (their load times are the saved boot's, not the cold one's).
        func loaded(_ m: String) -> String { m.replacingOccurrences(of: #"\(\d+ms\)"#, with: "", options: .regularExpression) }
        XCTAssertEqual(loaded(hello.modules), loaded(want.0.modules))
        XCTAssertTrue(loaded(hello.modules).contains("vgem=ok"), hello.modules)
        XCTAssertEqual(try read(vm, "/", "dmem.capacity"), want.1)
        XCTAssertEqual(try vm.agent.interfaces(), want.2)
        XCTAssertTrue(vm.console.contains("Linux version"), "the boot log heads a restored console")
        let (st, out) = try vm.agent.shell("sleep 0.2 && mkdir /sys/fs/cgroup/snap && cat /sys/fs/cgroup/snap/dmem.max && rmdir /sys/fs/cgroup/snap")
        XCTAssertEqual(st, 0, out)
        XCTAssertTrue(out.contains("vgem/region0 max"), out)
    }

    /// One guest for the non-destructive checks.
    /// Issue 12: the guest brings up every vCPU QEMU offers (two, one socket each: see
    /// QemuCommandLine.smp), and a racing group's members really leave the barrier together on
    /// them: two charges on one cgroup, each in its own actor pinned to its own CPU.
    func testEveryVCPUIsOnlineAndAGroupRunsOnBoth() async throws {
        let vm = try await Guest.boot()
        defer { vm.poweroff(); Guest.assertNoQemu(vm); finish(vm) }
        let online = try vm.agent.shell("cat /sys/devices/system/cpu/online")
        XCTAssertEqual(online.status, 0)
        XCTAssertEqual(online.output.trimmingCharacters(in: .whitespacesAndNewlines), "0-1")
        XCTAssertEqual(try exec(vm, "mkdir /r"), "ok")
        XCTAssertEqual(try exec(vm, "spawn a1 /r"), "ok")
        XCTAssertEqual(try exec(vm, "spawn a2 /r"), "ok")
        // 1 MiB of headroom for two 768 KiB buffers: at /r's limit TTM evicts the other one, or
        // skips it while its allocation still holds it and fails (LinearizeTests).
        XCTAssertEqual(try exec(vm, "write /r dmem.max \"vgem/region0 1M\""), "ok")
        let o = try exec(vm, "par { alloc a1 vgem/region0 768K b1 | alloc a2 vgem/region0 768K b2 }")
        XCTAssertTrue(["{ ok | ok } evicted b1", "{ ok | ok } evicted b2", "{ ok | ENOSPC }", "{ ENOSPC | ok }"].contains(o), o)
        XCTAssertTrue(try read(vm, "/r", "dmem.current").hasPrefix("vgem/region0 786432\n"))
        // A root op (a forked runner) and an actor op in one group.
        XCTAssertEqual(try exec(vm, "mkdir /r2"), "ok")
        XCTAssertEqual(try exec(vm, "par { rmdir /r2 | alloc a1 vkms/default 4096 b3 }"), "{ ok | ok }")
        XCTAssertEqual(try exec(vm, "read /r2 dmem.current"), "ENOENT")
    }

    func testRegionsChargesAndVkmsConfigfs() async throws {
        let vm = try await Guest.boot()
        defer { vm.poweroff(); Guest.assertNoQemu(vm); finish(vm) }

        // dmem.capacity lists the vgem regions with the configured size.
        let cap = try read(vm, "/", "dmem.capacity")
        print("dmem.capacity:\n\(cap)")
        XCTAssertTrue(cap.contains("vgem/region0 \(Guest.vgemSize)"), cap)
        XCTAssertTrue(cap.contains("vgem/region1 \(Guest.vgemSize)"), cap)
        XCTAssertTrue(cap.contains("vkms/default"), cap)

        // An actor in a child cgroup allocates; the charge shows in the child's and the root's dmem.current.
        XCTAssertEqual(try exec(vm, "mkdir /t"), "ok")
        XCTAssertEqual(try exec(vm, "spawn a1 /t"), "ok")
        XCTAssertEqual(try exec(vm, "alloc a1 vgem/region0 1048576 b1"), "ok")
        let cur = try read(vm, "/t", "dmem.current")
        XCTAssertTrue(cur.contains("vgem/region0 1048576"), cur)
        let rootCur = try read(vm, "/", "dmem.current")
        XCTAssertTrue(rootCur.contains("vgem/region0 1048576"), rootCur)
        XCTAssertEqual(try exec(vm, "resident b1"), "1")
        // vkms dumb buffers are charged too.
        XCTAssertEqual(try exec(vm, "alloc a1 vkms/default 65536 b2"), "ok")
        XCTAssertTrue(try read(vm, "/t", "dmem.current").contains("vkms/default 65536"))
        // A limit below usage makes the next allocation fail with the kernel's errno (evicting b1 first).
        XCTAssertEqual(try exec(vm, "free b1"), "ok")
        XCTAssertTrue(try read(vm, "/t", "dmem.current").contains("vgem/region0 0"))
        XCTAssertEqual(try vm.agent.batch([.exit(1), .rmdir(CgroupPath.root.child("t")), .dying(.root)]),
                       [.outcome(.ok), .outcome(.ok), .outcome(.number(0))])

        // A vkms configfs device registers vkms/<name>; disabling it removes the region.
        XCTAssertEqual(try exec(vm, "register vkms/dev1 67108864"), "ok")
        XCTAssertTrue(try read(vm, "/", "dmem.capacity").contains("vkms/dev1"))
        XCTAssertEqual(try exec(vm, "unregister vkms/dev1"), "ok")
        let after = try read(vm, "/", "dmem.capacity")
        XCTAssertFalse(after.contains("vkms/dev1"), after)
        XCTAssertTrue(after.contains("vgem/region0"), after)

        // state dump covers every cgroup's dmem files.
        XCTAssertTrue(try vm.agent.state().contains("== / dmem.capacity"))
        XCTAssertEqual(vm.splats().map(\.title), [])

        // LKDTM WARNING is detected with its title; the guest keeps serving.
        let (st, _) = try vm.agent.shell("echo WARNING > /sys/kernel/debug/provoke-crash/DIRECT")
        XCTAssertEqual(st, 0)
        XCTAssertEqual(vm.awaitSplats().map(\.title), ["WARNING in lkdtm_WARNING"])
        XCTAssertEqual(try exec(vm, "mkdir /after-warn"), "ok")
    }

    func testLKDTMBugAndWatchdog() async throws {
        let vm = try await Guest.boot()
        defer { vm.stop(); Guest.assertNoQemu(vm); finish(vm) }
        // CONFIG_PANIC_ON_OOPS=n (vm/dmemfuzz.config): the guest outlives BUG(), only the shell dies.
        let (st, _) = try vm.agent.shell("echo BUG > /sys/kernel/debug/provoke-crash/DIRECT")
        XCTAssertNotEqual(st, 0, "the shell that hit BUG() is killed")
        let titles = vm.awaitSplats().map(\.title)
        XCTAssertEqual(titles.first, "kernel BUG in lkdtm_BUG", "\(titles)")
        XCTAssertEqual(vm.splats().first?.kind, .bug)
        guard vm.isRunning else { return XCTFail("the guest died after an oops (CONFIG_PANIC_ON_OOPS=n); console: \(vm.consoleURL.path)") }
        // A guest that stops answering is declared hung within the deadline.
        let t0 = Date()
        XCTAssertThrowsError(try vm.agent.shell("sleep 30", timeout: 2)) { e in
            guard case VMError.hung = e else { return XCTFail("\(e)") }
        }
        XCTAssertLessThan(Date().timeIntervalSince(t0), 4)
        vm.stop()
        XCTAssertFalse(vm.isRunning)
    }
}
