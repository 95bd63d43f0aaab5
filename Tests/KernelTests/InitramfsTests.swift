import Foundation
import XCTest
@testable import Kernel

final class InitramfsTests: XCTestCase {
    func run(_ argv: [String], stdin: Data? = nil, cwd: URL? = nil) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: argv[0])
        p.arguments = Array(argv.dropFirst())
        if let cwd { p.currentDirectoryURL = cwd }
        let out = Pipe(), inp = Pipe()
        p.standardOutput = out; p.standardInput = inp; p.standardError = FileHandle.nullDevice
        try p.run()
        if let stdin { inp.fileHandleForWriting.write(stdin) }
        inp.fileHandleForWriting.closeFile()
        let d = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: d, as: UTF8.self)
    }

    func testCpioRoundTripsThroughGNUCpio() throws {
        var c = CpioWriter()
        c.directory("/bin")
        c.file("/bin/hello", contents: Data("hello world\n".utf8))
        c.symlink("/bin/sh", target: "/bin/busybox")
        c.charDevice("/dev/console", major: 5, minor: 1)
        let data = c.finish()
        XCTAssertEqual(data.count % 4, 0)
        let list = try run(["/usr/bin/cpio", "-itv"], stdin: data)
        XCTAssertTrue(list.contains("bin/hello"), list)
        XCTAssertTrue(list.contains("bin/sh -> /bin/busybox"), list)
        XCTAssertTrue(list.contains("5,"), list)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cpio-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        _ = try run(["/usr/bin/cpio", "-id", "--no-absolute-filenames"], stdin: data, cwd: dir)
        XCTAssertEqual(try String(contentsOf: dir.appendingPathComponent("bin/hello"), encoding: .utf8), "hello world\n")
    }

    func testModuleClosure() {
        let dep = """
        kernel/drivers/gpu/drm/vgem/vgem.ko: kernel/drivers/gpu/drm/drm_shmem_helper.ko
        kernel/drivers/gpu/drm/vkms/vkms.ko: kernel/drivers/gpu/drm/drm_kms_helper.ko kernel/drivers/gpu/drm/drm_shmem_helper.ko
        kernel/drivers/gpu/drm/drm_kms_helper.ko:
        kernel/drivers/gpu/drm/drm_shmem_helper.ko:
        kernel/drivers/other/other.ko:
        """
        XCTAssertEqual(Initramfs.moduleClosure(["vgem", "vkms", "lkdtm"], dep: dep), [
            "kernel/drivers/gpu/drm/drm_kms_helper.ko", "kernel/drivers/gpu/drm/drm_shmem_helper.ko",
            "kernel/drivers/gpu/drm/vgem/vgem.ko", "kernel/drivers/gpu/drm/vkms/vkms.ko",
        ])
    }
}
