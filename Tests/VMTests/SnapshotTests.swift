import Foundation
import XCTest
import Kernel
@testable import VM

/// The snapshot key and the store's bookkeeping, on a fake build directory (no QEMU: the restore
/// itself is `BootTests.testSnapshotRestoreIsTheBootState`, on the real kernel).
final class SnapshotTests: XCTestCase {
    func build() throws -> KernelBuild {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dmemfuzz-snaptest-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("modroot/lib/modules/7.3.4"), withIntermediateDirectories: true)
        try Data("kernel".utf8).write(to: dir.appendingPathComponent("bzImage"))
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return try KernelBuild(dir: dir)
    }

    let args = ["-m", "1024", "-append", "console=ttyS0 dmemfuzz.vgem=\"dmem_regions=2\""]

    func testKeyCoversGuestArgumentsAccelQemuAndKernelImage() throws {
        let kb = try build()
        let store = SnapshotStore(kernel: kb)
        let e = store.entry(guestArgs: args, host: .tcg, kernel: kb)
        XCTAssertEqual(e.state.path, store.entry(guestArgs: args, host: .tcg, kernel: kb).state.path, "stable")
        XCTAssertEqual(e.state.deletingLastPathComponent().path, kb.dir.appendingPathComponent("snapshots").path)
        XCTAssertEqual(e.state.pathExtension, "mig")
        XCTAssertEqual(e.console.deletingPathExtension().lastPathComponent, e.state.deletingPathExtension().lastPathComponent)
        // Another module parameter, memory size or accelerator is another guest.
        XCTAssertNotEqual(e.state, store.entry(guestArgs: ["-m", "1024", "-append", "console=ttyS0 dmemfuzz.vgem=\"dmem_regions=3\""], host: .tcg, kernel: kb).state)
        XCTAssertNotEqual(e.state, store.entry(guestArgs: ["-m", "2048"] + args.dropFirst(2), host: .tcg, kernel: kb).state)
        XCTAssertNotEqual(e.state, store.entry(guestArgs: args, host: .kvm, kernel: kb).state)
        // Another QEMU (its migration format may differ) is another snapshot.
        XCTAssertNotEqual(e.state, store.entry(guestArgs: args, host: QemuHost(accel: .tcg, qemuVersion: "QEMU emulator version 8.2.0"), kernel: kb).state)
        // Argument boundaries count: ["-m", "1024"] is not ["-m1", "024"].
        XCTAssertNotEqual(store.entry(guestArgs: ["-m", "1024"], host: .tcg, kernel: kb).state,
                          store.entry(guestArgs: ["-m1", "024"], host: .tcg, kernel: kb).state)
        // A rebuilt kernel image (new size) invalidates it.
        try Data("kernel, rebuilt".utf8).write(to: kb.bzImage)
        XCTAssertNotEqual(e.state, store.entry(guestArgs: args, host: .tcg, kernel: kb).state)
    }

    func testAnEntryExistsOnlyWithItsConsoleAndPruneKeepsTheRecentlyUsed() throws {
        let kb = try build()
        let store = SnapshotStore(kernel: kb)
        try FileManager.default.createDirectory(at: store.dir, withIntermediateDirectories: true)
        var entries: [SnapshotStore.Entry] = []
        for i in 0..<(SnapshotStore.keep + 2) {
            let e = store.entry(guestArgs: ["-m", "\(128 + i)"], host: .tcg, kernel: kb)
            try Data("state".utf8).write(to: e.state)
            XCTAssertFalse(e.exists, "no console yet")
            try Data("console".utf8).write(to: e.console)
            XCTAssertTrue(e.exists)
            try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: Double(i - 100))], ofItemAtPath: e.state.path)
            entries.append(e)
        }
        store.touch(entries[0])  // the oldest, used now
        store.prune()
        let kept = entries.map(\.exists)
        XCTAssertEqual(kept.filter { $0 }.count, SnapshotStore.keep)
        XCTAssertTrue(kept[0], "used just now")
        XCTAssertFalse(kept[1]); XCTAssertFalse(kept[2])
        XCTAssertFalse(FileManager.default.fileExists(atPath: entries[1].console.path), "its console goes with it")
        XCTAssertTrue(kept[SnapshotStore.keep + 1])
    }
}

extension QemuHost {
    static let tcg = QemuHost(accel: .tcg, qemuVersion: "QEMU emulator version 7.2.19 (Debian 1:7.2+dfsg-7+deb12u16)")
    static let kvm = QemuHost(accel: .kvm, qemuVersion: tcg.qemuVersion)
}
