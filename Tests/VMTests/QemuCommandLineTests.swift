import Foundation
import Kernel
import XCTest
@testable import VM

/// The exact qemu argv of a guest: what it sees (and a snapshot keys on), the host-side ends in
/// its work directory, and the `-incoming` of a restore.
final class QemuCommandLineTests: XCTestCase {
    func kernel() throws -> KernelBuild {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dmemfuzz-cmdline-\(UUID().uuidString)")
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("modroot/lib/modules/7.3.4"), withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: dir.appendingPathComponent("bzImage").path, contents: Data())
        return try KernelBuild(dir: dir)
    }

    func testArgvOfABootAndOfARestore() throws {
        let kb = try kernel()
        var cfg = QemuConfig(kernel: kb, initramfs: URL(fileURLWithPath: "/c/initramfs.cpio.gz"))
        cfg.memoryMB = 2048
        cfg.cpus = 1
        cfg.vgemParams = "dmem_regions=2 dmem_size=268435456"
        cfg.cmdline = ["", "slub_debug=FZ"]
        let cl = QemuCommandLine(config: cfg, accel: .kvm, workDir: URL(fileURLWithPath: "/tmp/dmemfuzz-vm-1-2"))
        XCTAssertEqual(cl.guest, [
            "-accel", "kvm", "-m", "2048", "-smp", "1,sockets=1,cores=1,threads=1",
            "-nographic", "-monitor", "none", "-no-reboot", "-nic", "none",
            "-kernel", kb.dir.path + "/bzImage", "-initrd", "/c/initramfs.cpio.gz",
            "-append", "console=ttyS0 panic=-1 loglevel=7 printk.time=1 rdinit=/init dmemfuzz.vgem=\"dmem_regions=2 dmem_size=268435456\" slub_debug=FZ",
            "-device", "virtio-serial-pci,id=vs0",
            "-device", "virtserialport,bus=vs0.0,chardev=agent,name=dmemfuzz",
        ])
        XCTAssertEqual(cl.host, [
            "-chardev", "file,id=con0,path=/tmp/dmemfuzz-vm-1-2/console.log,append=on", "-serial", "chardev:con0",
            "-chardev", "socket,id=agent,path=/tmp/dmemfuzz-vm-1-2/agent.sock,server=on,wait=off",
            "-qmp", "unix:/tmp/dmemfuzz-vm-1-2/qmp.sock,server=on,wait=off",
        ])
        XCTAssertEqual(cl.arguments(), cl.guest + cl.host)
        XCTAssertEqual(cl.arguments(restoring: URL(fileURLWithPath: "/k/snapshots/ab.mig")),
                       cl.guest + cl.host + ["-incoming", "exec:cat '/k/snapshots/ab.mig'"])
        XCTAssertEqual(cl.consoleURL.path, "/tmp/dmemfuzz-vm-1-2/console.log")
    }

    func testDefaultsAndTheSnapshotKeyIgnoresHostPaths() throws {
        let kb = try kernel()
        let cfg = QemuConfig(kernel: kb, initramfs: URL(fileURLWithPath: "/c/i.cpio"))
        let a = QemuCommandLine(config: cfg, accel: .tcg, workDir: URL(fileURLWithPath: "/tmp/a"))
        let b = QemuCommandLine(config: cfg, accel: .tcg, workDir: URL(fileURLWithPath: "/tmp/b"))
        XCTAssertEqual(Array(a.guest.prefix(6)), ["-accel", "tcg,thread=multi", "-m", "1024", "-smp", "2,sockets=2,cores=1,threads=1"])
        XCTAssertEqual(QemuCommandLine.append(cfg), "console=ttyS0 panic=-1 loglevel=7 printk.time=1 rdinit=/init")
        XCTAssertEqual(a.guest, b.guest)
        XCTAssertNotEqual(a.host, b.host)
        let store = SnapshotStore(kernel: kb)
        XCTAssertEqual(store.entry(guestArgs: a.guest, host: .tcg, kernel: kb).state, store.entry(guestArgs: b.guest, host: .tcg, kernel: kb).state)
        var two = cfg
        two.memoryMB = 512
        let c = QemuCommandLine(config: two, accel: .tcg, workDir: URL(fileURLWithPath: "/tmp/a"))
        XCTAssertNotEqual(store.entry(guestArgs: c.guest, host: .tcg, kernel: kb).state, store.entry(guestArgs: a.guest, host: .tcg, kernel: kb).state)
    }

    func testPoolMachinesShareTheConfigAndNotTheWorkDir() throws {
        let kb = try kernel()
        var cfg = QemuConfig(kernel: kb, initramfs: URL(fileURLWithPath: "/c/i.cpio"))
        cfg.snapshots = false
        let pool = QemuPool(config: cfg)
        XCTAssertFalse(pool.canRestore)
        let m1 = pool.machine(), m2 = pool.machine()
        XCTAssertNotEqual(m1.workDir, m2.workDir)
        XCTAssertEqual(m1.kernel.dir, kb.dir)
        XCTAssertFalse(m1.isRunning)
        XCTAssertFalse(m1.canSnapshot, "not started, snapshots off")
    }
}
