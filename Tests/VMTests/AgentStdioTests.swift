import Foundation
import XCTest
import AgentProtocol
import DmemModel
import Trace
@testable import VM

/// The real agent binary (`dmemfuzz-agent --stdio`: no mounts, no module loads) driven through
/// `AgentClient` over pipes. Only requests that leave the host as it was: reads, a shell echo, a
/// file in a temporary directory.
final class AgentStdioTests: XCTestCase {
    final class PipeTransport: AgentTransport {
        let process = Process()
        let input = Pipe(), output = Pipe()
        var buffer: [UInt8] = []
        init(_ binary: URL) throws {
            process.executableURL = binary
            process.arguments = ["--stdio"]
            process.standardInput = input
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            try process.run()
        }
        func send(_ text: String) throws { try input.fileHandleForWriting.write(contentsOf: Data((text + "\n").utf8)) }
        func readLine(timeout: Double) throws -> String {
            let fd = output.fileHandleForReading.fileDescriptor
            let end = Date().addingTimeInterval(timeout)
            while true {
                if let i = buffer.firstIndex(of: 10) {
                    defer { buffer.removeFirst(i + 1) }
                    return String(decoding: buffer[..<i], as: UTF8.self)
                }
                var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard Date() < end, poll(&pfd, 1, 100) >= 0 else { throw VMError.hung("agent: no line within \(timeout) s") }
                guard pfd.revents != 0 else { continue }
                var chunk = [UInt8](repeating: 0, count: 65536)
                let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                guard n > 0 else { throw VMError.protocolError("agent closed its stdout") }
                buffer.append(contentsOf: chunk[0..<n])
            }
        }
        func close() { try? input.fileHandleForWriting.close(); process.waitUntilExit() }
    }

    /// The `dmemfuzz-agent` that `swift build`/`swift test` built next to this bundle.
    func agentBinary() throws -> URL {
        let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let candidates = [Bundle(for: Self.self).bundleURL.deletingLastPathComponent().appendingPathComponent("dmemfuzz-agent"),
                          package.appendingPathComponent(".build/debug/dmemfuzz-agent")]
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
            throw XCTSkip("dmemfuzz-agent not built (looked at \(candidates.map(\.path)))")
        }
        return found
    }

    func testTheAgentAnswersEveryHarmlessVerb() throws {
        let t = try PipeTransport(try agentBinary())
        defer { t.close() }
        guard case .ready? = try? AgentReply.decode(try t.readLine(timeout: 10), answering: nil) else { return XCTFail("no ready line") }
        let agent = AgentClient(t)
        XCTAssertFalse(try agent.hello().release.isEmpty)
        XCTAssertEqual(try agent.cover(), [], "no KCOV asked for: no edges")
        XCTAssertEqual(try agent.interfaces(), "", "--stdio probes nothing")
        XCTAssertEqual(try agent.shell("echo hi; exit 3").status, 3)
        XCTAssertEqual(try agent.shell("printf 'a b\\n'").output, "a b\n")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("agent-stdio-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("put")
        try agent.put(file.path, [0, 1, 2, 255])
        XCTAssertEqual(Array(try Data(contentsOf: file)), [0, 1, 2, 255])
        XCTAssertThrowsError(try agent.put(dir.appendingPathComponent("no/such/dir").path, [1]))
        // An op the agent runs: a read below a cgroup that is not there (ENOENT, nothing changes).
        let missing = CgroupPath.root.child("dmemfuzz-no-such-cgroup-\(getpid())")
        XCTAssertEqual(try agent.exec(.read(missing, file: "dmem.max")), .err(.ENOENT))
        XCTAssertEqual(try agent.batch([.read(missing, file: "dmem.max"), .rmdir(missing)]),
                       [.outcome(.err(.ENOENT)), .outcome(.err(.ENOENT))])
        XCTAssertEqual(try agent.stats().map(\.verb), ["read", "rmdir"])
        XCTAssertEqual(try agent.stats(), [], "the counters restart")
        // Lines the protocol does not have are refused, and the agent keeps serving.
        XCTAssertEqual(try agent.raw(.hello).count, 1)
        try t.send("modprobe vgem")
        XCTAssertEqual(try AgentReply.decode(try t.readLine(timeout: 10), answering: .exec), .fail("unknown request: modprobe"))
        // A batch with an unreadable op: N refusals, none of its ops run.
        try t.send("batch 2\nread \(missing) dmem.max\nbogus op")
        for _ in 0..<2 {
            guard case .fail = try AgentReply.decode(try t.readLine(timeout: 10), answering: .batch) else { return XCTFail("not refused") }
        }
        XCTAssertEqual(try agent.stats(), [], "nothing of the refused batch ran")
        XCTAssertNotNil(try agent.hello())
        try agent.poweroff()
    }
}
