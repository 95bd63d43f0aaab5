import Foundation
import XCTest
@testable import Shell

final class ShellTests: XCTestCase {
    func testStdoutAndFailures() throws {
        XCTAssertEqual(try Shell.run(["/bin/sh", "-c", "echo out; echo err >&2"]), "out\n", "stderr is not in stdout")
        XCTAssertEqual(try Shell.run(["sh", "-c", "echo $0", "named"]), "named\n", "a name is looked up in $PATH")
        XCTAssertEqual(try Shell.run(["/bin/sh", "-c", "echo out; echo err >&2"], mergeStderr: true), "out\nerr\n")
        XCTAssertEqual(try Shell.run(["pwd"], cwd: URL(fileURLWithPath: "/tmp")), "/tmp\n")
        XCTAssertThrowsError(try Shell.run(["/bin/sh", "-c", "echo why >&2; exit 3"])) {
            XCTAssertEqual("\($0)", "setup: /bin/sh -c echo why >&2; exit 3 exited 3: why\n")
            XCTAssertEqual($0 as? ShellError, ShellError(command: "/bin/sh -c echo why >&2; exit 3", how: "exited 3", output: "why\n"))
        }
        XCTAssertThrowsError(try Shell.run(["/bin/sh", "-c", "kill -9 $$"])) {
            XCTAssertTrue("\($0)".contains("killed by signal 9"), "\($0)")
        }
        XCTAssertThrowsError(try Shell.run(["/nonexistent/tool"]))
        XCTAssertThrowsError(try Shell.run(["dmemfuzz-no-such-tool"]))
    }

    /// A child that writes more than a pipe holds (64 KiB) to stderr before it closes stdout:
    /// reading stdout to EOF first, then stderr, never returned. Run off the main thread with a
    /// deadline, so a deadlock fails the test instead of hanging it.
    func testFullStderrPipeDoesNotDeadlock() throws {
        let done = expectation(description: "Shell.run returned")
        let result = LockedBox<String>()
        Thread {
            result.set((try? Shell.run(["/bin/sh", "-c", "head -c 1000000 /dev/zero | tr '\\0' e >&2; head -c 300000 /dev/zero | tr '\\0' o"])) ?? "threw")
            done.fulfill()
        }.start()
        wait(for: [done], timeout: 30)
        XCTAssertEqual(result.get()?.count, 300_000)
    }

    /// Called from inside async code (the CLI's commands are async) with the cooperative pool
    /// busy: every pool thread blocked in a Shell.run at once still finishes.
    func testFromEveryPoolThreadAtOnce() async throws {
        let n = ProcessInfo.processInfo.activeProcessorCount + 2
        let outs = try await withThrowingTaskGroup(of: String.self) { group in
            for i in 0..<n { group.addTask { try Shell.run(["/bin/sh", "-c", "sleep 0.2; echo \(i)"]) } }
            return try await group.reduce(into: [String]()) { $0.append($1) }
        }
        XCTAssertEqual(Set(outs), Set((0..<n).map { "\($0)\n" }))
    }
}

final class LockedBox<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: T?
    func set(_ v: T) { lock.lock(); value = v; lock.unlock() }
    func get() -> T? { lock.lock(); defer { lock.unlock() }; return value }
}
