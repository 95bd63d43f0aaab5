import XCTest
@testable import VM

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
