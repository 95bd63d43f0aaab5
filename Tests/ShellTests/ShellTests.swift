import Foundation
import XCTest
@testable import Shell

final class ShellTests: XCTestCase {
    /// XCTAssertThrowsError takes no async expression: the error, or a failure when there was none.
    func error(_ argv: [String], file: StaticString = #filePath, line: UInt = #line) async -> Error? {
        do { _ = try await Shell.run(argv); XCTFail("\(argv) did not throw", file: file, line: line); return nil } catch { return error }
    }

    func testStdoutAndFailures() async throws {
        let a = try await Shell.run(["/bin/sh", "-c", "echo out; echo err >&2"])
        XCTAssertEqual(a, "out\n", "stderr is not in stdout")
        let b = try await Shell.run(["sh", "-c", "echo $0", "named"])
        XCTAssertEqual(b, "named\n", "a name is looked up in $PATH")
        let c = try await Shell.run(["/bin/sh", "-c", "echo out; echo err >&2"], mergeStderr: true)
        XCTAssertEqual(c, "out\nerr\n")
        let d = try await Shell.run(["pwd"], cwd: URL(fileURLWithPath: "/tmp"))
        XCTAssertEqual(d, "/tmp\n")
        let e = await error(["/bin/sh", "-c", "echo why >&2; exit 3"])
        XCTAssertEqual(e.map { "\($0)" }, "setup: /bin/sh -c echo why >&2; exit 3 exited 3: why\n")
        XCTAssertEqual(e as? ShellError, ShellError(command: "/bin/sh -c echo why >&2; exit 3", how: "exited 3", output: "why\n"))
        let merged = try? await Shell.run(["/bin/sh", "-c", "echo both; exit 1"], mergeStderr: true)
        XCTAssertNil(merged)
        let k = await error(["/bin/sh", "-c", "kill -9 $$"])
        XCTAssertTrue("\(k.map { "\($0)" } ?? "")".contains("killed by signal 9"), "\(String(describing: k))")
        let missing = await error(["/nonexistent/tool"])
        XCTAssertEqual((missing as? ShellError)?.how, "could not run")
        let unknown = await error(["dmemfuzz-no-such-tool"])
        XCTAssertEqual((unknown as? ShellError)?.how, "could not run")
    }

    /// A child that writes more than a pipe holds (64 KiB) to stderr before it closes stdout: a
    /// reader that drained stdout to EOF first, then stderr, never returned. A deadline makes a
    /// deadlock fail the test instead of hanging it.
    func testFullStderrPipeDoesNotDeadlock() async throws {
        let out = try await withDeadline(seconds: 30) {
            try await Shell.run(["/bin/sh", "-c", "head -c 1000000 /dev/zero | tr '\\0' e >&2; head -c 300000 /dev/zero | tr '\\0' o"])
        }
        XCTAssertEqual(out.count, 300_000)
    }

    /// More concurrent runs than the cooperative pool has threads (the CLI's setup may start
    /// several at once): each one awaits its child without holding a thread, so all finish. The
    /// synchronous wrapper this replaced blocked a pool thread per call, and swift-subprocess
    /// needs a free one to reap its child.
    func testFromMorePoolTasksThanThreads() async throws {
        let n = ProcessInfo.processInfo.activeProcessorCount * 4 + 2
        let outs = try await withDeadline(seconds: 60) {
            try await withThrowingTaskGroup(of: String.self) { group in
                for i in 0..<n { group.addTask { try await Shell.run(["/bin/sh", "-c", "sleep 0.2; echo \(i)"]) } }
                return try await group.reduce(into: [String]()) { $0.append($1) }
            }
        }
        XCTAssertEqual(Set(outs), Set((0..<n).map { "\($0)\n" }))
    }

    /// vm/build-kernel.sh's progress: every stderr line arrives, in order and before the child's
    /// end is known; stdout is kept whole; a failure is reported, not thrown.
    func testStreamingStderrHandsOverEachLine() async throws {
        var lines: [String] = []
        let r = try await Shell.streamingStderr(["/bin/sh", "-c", "echo one >&2; echo dir; echo two >&2; printf three >&2; exit 2"]) {
            lines.append($0)
        }
        XCTAssertEqual(lines, ["one", "two", "three"])
        XCTAssertEqual(r.stdout, "dir\n")
        XCTAssertEqual(r.ended, Termination(code: 2, signal: nil))
        XCTAssertEqual("\(r.ended)", "exited 2")
        XCTAssertFalse(r.ended.isSuccess)
    }

    /// The KVM probe: `until` is asked while the child runs, and the child is killed when it
    /// says yes or when the deadline passes (a child that would sleep for a minute is gone
    /// within the deadline).
    func testWatchStopsAtTheConditionOrTheDeadline() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("dmemfuzz-watch-\(getpid())")
        try? FileManager.default.removeItem(at: file)
        defer { try? FileManager.default.removeItem(at: file) }
        var pid: Int32 = 0
        let t0 = ContinuousClock.now
        let seen = await Shell.watch(["/bin/sh", "-c", "sleep 0.3; echo up > \(file.path); exec sleep 60"], deadline: .seconds(20),
                                     started: { pid = $0 }) { FileManager.default.fileExists(atPath: file.path) }
        XCTAssertTrue(seen)
        XCTAssertLessThan(ContinuousClock.now - t0, .seconds(15))
        XCTAssertGreaterThan(pid, 0)
        XCTAssertNotEqual(kill(pid, 0), 0, "the child is killed and reaped")
        let never = await Shell.watch(["/bin/sleep", "60"], deadline: .milliseconds(300)) { false }
        XCTAssertFalse(never)
        XCTAssertLessThan(ContinuousClock.now - t0, .seconds(30))
    }

    /// `body`'s result, or a failure after `seconds` (the test then stops waiting for it).
    func withDeadline<T: Sendable>(seconds: Int, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask { try await Task.sleep(for: .seconds(seconds)); return nil }
            guard let first = try await group.next(), let value = first else {
                group.cancelAll()
                XCTFail("no result within \(seconds) s")
                throw CancellationError()
            }
            group.cancelAll()
            return value
        }
    }
}
