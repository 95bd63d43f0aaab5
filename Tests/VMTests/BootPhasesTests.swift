import Foundation
import XCTest
@testable import VM

/// On a real console: the boot log this project's 7.3.4 KASAN + lockdep guest printed under TCG
/// (testdata/boot-7.3.4-tcg.console, saved with its snapshot, a kernel build running beside it).
final class BootPhasesTests: XCTestCase {
    func testPhasesOfARealColdBoot() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("testdata/boot-7.3.4-tcg.console")
        let console = String(decoding: try Data(contentsOf: url), as: UTF8.self)
        let p = BootPhases(console: console, readyUptime: 34.24)
        // Landmarks in that log: "Unpacking initramfs..." at 7.708223, "Freeing initrd memory"
        // at 21.141062, "Run /init as init process" at 29.481584, the agent started at 31.72,
        // ready at 34.24 (its hello after the restore said so).
        XCTAssertEqual(p.phases.map(\.name), BootPhases.landmarks.map(\.name) + ["init to agent start (static binary exec)", "agent: module loads, cgroup setup, ready"])
        let s = p.phases.map(\.seconds)
        XCTAssertEqual(s[0], 7.708223, accuracy: 1e-6)
        XCTAssertEqual(s[1], 21.141062 - 7.708223, accuracy: 1e-6)   // 13.43 s: the largest phase
        XCTAssertEqual(s[2], 29.481584 - 21.141062, accuracy: 1e-6)
        XCTAssertEqual(s[3], 31.72 - 29.481584, accuracy: 1e-6)
        XCTAssertEqual(s[4], 34.24 - 31.72, accuracy: 1e-6)
        XCTAssertEqual(s.reduce(0, +), 34.24, accuracy: 1e-6)
    }

    func testMissingLandmarksAreLeftOut() {
        let p = BootPhases(console: "[    0.000000] Linux version 7.3.4\n[    2.500000] Run /init as init process\n", readyUptime: nil)
        XCTAssertEqual(p.phases, [BootPhases.Phase(name: "remaining initcalls", seconds: 2.5)])
        XCTAssertEqual(BootPhases(console: "", readyUptime: nil).phases, [])
    }
}
