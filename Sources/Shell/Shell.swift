import Foundation
import Subprocess
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// Child processes that run to completion (strip, ldd, nm, gcc, readelf, swift build,
/// vm/build-kernel.sh, the KVM probe), through swift-subprocess. Every call is `async`: a
/// process is an I/O edge, and swift-subprocess's monitoring needs a free thread of the
/// cooperative pool, so it is never waited for from synchronous code that may hold one (an
/// earlier synchronous wrapper deadlocked once every pool thread waited in it;
/// `testFromMorePoolTasksThanThreads` is that case). The children a guest needs (readelf for the
/// KCOV ranges, the accel probe, `qemu --version`) therefore run once, before any guest starts
/// (`QemuConfig.prepare`), and a guest's start spawns only QEMU.
///
/// QEMU itself is the one child that is not run here: it lives as long as its `QemuMachine`
/// object, is killed from `deinit` and from the signal reaper, and its console and agent are
/// sockets, not pipes; swift-subprocess's executions are scoped to one `async` call.
package enum Shell {
    /// The most of a child's stdout (or stderr) kept: `readelf -sW vmlinux` of a KASAN kernel is
    /// ~25 MB; swift-subprocess fails a child that writes more instead of truncating it.
    package static let outputLimit = 256 << 20

    /// Runs argv (argv[0] an absolute path or a name looked up in $PATH) and returns its stdout;
    /// throws `ShellError` with the command, how it ended and its stderr's tail when it fails.
    /// `mergeStderr`: the child's stderr joins its stdout (2>&1), kept off dmemfuzz's own stderr
    /// and shown only in the error when the child fails.
    @discardableResult
    package static func run(_ argv: [String], mergeStderr: Bool = false, cwd: URL? = nil) async throws -> String {
        let exe = executable(argv), args = Arguments(Array(argv.dropFirst()))
        let dir = cwd.map { FilePath($0.path) }
        let status: TerminationStatus, out: String, err: String
        do {
            if mergeStderr {
                let r = try await Subprocess.run(exe, arguments: args, workingDirectory: dir,
                                                 output: .string(limit: outputLimit), error: .combinedWithOutput)
                (status, out, err) = (r.terminationStatus, r.standardOutput ?? "", r.standardOutput ?? "")
            } else {
                let r = try await Subprocess.run(exe, arguments: args, workingDirectory: dir,
                                                 output: .string(limit: outputLimit), error: .string(limit: outputLimit))
                (status, out, err) = (r.terminationStatus, r.standardOutput ?? "", r.standardError ?? "")
            }
        } catch {
            throw ShellError(command: argv.joined(separator: " "), how: "could not run", output: "\(error)")
        }
        guard status.isSuccess else {
            throw ShellError(command: argv.joined(separator: " "), how: "\(Termination(status))", output: String(err.suffix(2000)))
        }
        return out
    }

    /// Runs argv and hands each line of its stderr to `line` as it comes (a build's progress);
    /// returns how it ended and its whole stdout. A failed exit is the caller's to judge.
    package static func streamingStderr(_ argv: [String], line: (String) -> Void) async throws -> (ended: Termination, stdout: String) {
        let r = try await Subprocess.run(executable(argv), arguments: Arguments(Array(argv.dropFirst())),
                                         input: .none, output: .string(limit: outputLimit), error: .sequence) { execution in
            for try await l in execution.standardError.strings() { line(l) }
        }
        return (Termination(r.terminationStatus), r.standardOutput ?? "")
    }

    /// Starts argv with its output discarded and asks `until` every `poll` until it says yes or
    /// `deadline` has passed, then kills the child (SIGKILL: a KVM guest stuck in firmware ignores
    /// SIGTERM for long). `started` gets the child's pid. True when `until` said yes; false when
    /// the deadline passed or the child could not start.
    package static func watch(_ argv: [String], deadline: Duration, poll: Duration = .milliseconds(50),
                              started: (Int32) -> Void = { _ in }, until: () -> Bool) async -> Bool {
        let r = try? await Subprocess.run(executable(argv), arguments: Arguments(Array(argv.dropFirst())),
                                          input: .none, output: .discarded, error: .discarded) { execution -> Bool in
            started(execution.processIdentifier.value)
            let end = ContinuousClock.now + deadline
            var seen = false
            while ContinuousClock.now < end {
                if until() { seen = true; break }
                try? await Task.sleep(for: poll)
            }
            try? execution.send(signal: .kill)
            return seen
        }
        return r?.closureResult ?? false
    }

    static func executable(_ argv: [String]) -> Executable {
        argv[0].hasPrefix("/") ? .path(FilePath(argv[0])) : .name(argv[0])
    }
}

/// How a child ended, said as "exited 3" or "killed by signal 9" (swift-subprocess's
/// TerminationStatus, kept inside Shell).
package struct Termination: Equatable, CustomStringConvertible, Sendable {
    /// The exit code; nil when a signal ended the child.
    package var code: Int32?
    package var signal: Int32?
    package var isSuccess: Bool { code == 0 }
    package init(code: Int32?, signal: Int32?) { self.code = code; self.signal = signal }
    init(_ s: TerminationStatus) {
        switch s {
        case .exited(let c): code = c
        case .signaled(let n): signal = n
        }
    }
    package var description: String { code.map { "exited \($0)" } ?? "killed by signal \(signal ?? 0)" }
}

/// A child process of `Shell.run` that failed: what ran, how it ended ("exited 3", "killed by
/// signal 9", "could not run") and the tail of what it said. Said as a setup error: every caller
/// runs a tool it needs to set up a guest (gcc, strip, readelf, swift build).
public struct ShellError: Error, Equatable, CustomStringConvertible {
    public var command: String
    public var how: String
    public var output: String
    public var description: String { "setup: \(command) \(how): \(output)" }
}
