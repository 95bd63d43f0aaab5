import Foundation

/// Child processes that run to completion (strip, ldd, nm, gcc, readelf, swift build). stdout and
/// stderr are read at the same time, stderr on a thread of its own: reading stdout to EOF first
/// deadlocked once a child filled its stderr pipe (64 KiB) before closing stdout.
///
/// Not swift-subprocess: its `run` is async and spawns an unstructured Task (withUncancelledTask)
/// that needs a free thread of the cooperative pool, while Shell's callers are synchronous
/// (QemuMachine.start, Session.init, Initramfs) and often run on that pool, so waiting for it
/// from there deadlocks once the callers hold every pool thread (one on a one-CPU host).
/// `testFromEveryPoolThreadAtOnce` is that case.
package enum Shell {
    /// Runs argv (argv[0] an absolute path or a name looked up in $PATH) and returns its stdout;
    /// throws `ShellError` with the command, how it ended and its stderr's tail when it fails.
    /// `mergeStderr`: the child's stderr joins its stdout (2>&1), kept off dmemfuzz's own stderr
    /// and shown only in the error when the child fails.
    @discardableResult
    package static func run(_ argv: [String], mergeStderr: Bool = false, cwd: URL? = nil) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: argv[0].hasPrefix("/") ? argv[0] : "/usr/bin/env")
        p.arguments = argv[0].hasPrefix("/") ? Array(argv.dropFirst()) : argv
        if let cwd { p.currentDirectoryURL = cwd }
        p.standardInput = FileHandle.nullDevice
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = mergeStderr ? out : err
        try p.run()
        let stderr = Collected()
        if !mergeStderr {
            Thread { stderr.finish(err.fileHandleForReading.readDataToEndOfFile()) }.start()
        }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let edata = mergeStderr ? data : stderr.wait()
        p.waitUntilExit()
        guard p.terminationReason == .exit && p.terminationStatus == 0 else {
            let how = p.terminationReason == .uncaughtSignal ? "killed by signal \(p.terminationStatus)" : "exited \(p.terminationStatus)"
            throw ShellError(command: argv.joined(separator: " "), how: how, output: String(String(decoding: edata, as: UTF8.self).suffix(2000)))
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// One pipe's whole output, handed from its reader thread to the waiting one.
    final class Collected: @unchecked Sendable {  // `data` is written before `done` is signalled, read after
        private var data = Data()
        private let done = DispatchSemaphore(value: 0)
        func finish(_ d: Data) { data = d; done.signal() }
        func wait() -> Data { done.wait(); return data }
    }
}

/// A child process of `Shell.run` that failed: what ran, how it ended ("exited 3", "killed by
/// signal 9") and the tail of what it said. Said as a setup error: every caller runs a tool it
/// needs to set up a guest (gcc, strip, readelf, swift build).
public struct ShellError: Error, Equatable, CustomStringConvertible {
    public var command: String
    public var how: String
    public var output: String
    public var description: String { "setup: \(command) \(how): \(output)" }
}
