import AgentProtocol
import Foundation
import Kernel
import Log
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// One QEMU guest running the agent: start (from the snapshot or a boot), the agent's line
/// transport with deadlines (`agent` speaks the protocol over it), stop. The console is
/// QemuConsole.swift's, the argv QemuCommandLine's. Every exit path tears QEMU down (SIGTERM,
/// then SIGKILL); SIGINT/SIGTERM of the host process too (QemuProcess.swift).
public final class QemuMachine: Machine {
    public static let qemuBinary = QemuCommandLine.binary
    public let config: QemuConfig
    public let workDir: URL
    public var consoleURL: URL { workDir.appendingPathComponent("console.log") }
    /// The accelerator `QemuConfig.prepare` chose (TCG until then).
    public var accel: Accel { config.host?.accel ?? .tcg }
    /// Seconds from QEMU start to the agent's `ready` line.
    public private(set) var readySeconds: Double?
    /// Guest uptime (s) when the agent was ready, from its `ready` line.
    public private(set) var guestReadyUptime: Double?
    public private(set) var release: String?
    public private(set) var bootKind: BootKind = .cold
    var process: Process?
    private var sock: Int32 = -1
    private var buffer: [UInt8] = []
    /// This guest's argv (known once `start` has chosen the accelerator).
    public private(set) var commandLine: QemuCommandLine?

    public init(config: QemuConfig) {
        self.config = config
        // Short path: AF_UNIX socket paths are limited to 108 bytes.
        let base = URL(fileURLWithPath: "/tmp")
        self.workDir = base.appendingPathComponent("dmemfuzz-vm-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
    }
    /// Keep the work directory (console log, QEMU's stderr) when the machine goes away: for the
    /// commands that print its path (`boot`, `shell`) and after an error that names the console
    /// log (QEMU exited, no `ready`). Otherwise it goes, else every test and minimization guest
    /// left a directory in /tmp (182 after a day's runs).
    public var keepWorkDir = false
    deinit {
        stop()
        if !keepWorkDir { try? FileManager.default.removeItem(at: workDir) }
    }

    public var kernel: KernelBuild { config.kernel }
    public var vgemParams: String? { config.vgemParams }
    public var vkmsParams: String? { config.vkmsParams }
    public var isRunning: Bool { process?.isRunning ?? false }

    /// The snapshot entry of this guest's configuration (nil: snapshots off).
    var snapshotEntry: SnapshotStore.Entry? {
        guard config.snapshots, let commandLine else { return nil }
        guard let host = config.host else { return nil }
        return SnapshotStore(kernel: config.kernel).entry(guestArgs: commandLine.guest, host: host, kernel: config.kernel)
    }

    public func start() throws {
        try FileManager.default.createDirectory(at: workDir, withIntermediateDirectories: true)
        guard let host = config.host else {
            throw VMError.setup("the guest's QemuConfig was not prepared (QemuConfig.prepare runs qemu --version and the accelerator probe)")
        }
        let cl = QemuCommandLine(config: config, accel: host.accel, workDir: workDir)
        commandLine = cl
        let snapshot = snapshotEntry
        if let snapshot, snapshot.exists {
            do {
                try launch(cl, restoring: snapshot)
                SnapshotStore(kernel: config.kernel).touch(snapshot)
                return
            } catch {
                // A snapshot this QEMU cannot load: drop it and boot.
                let qerr = (try? String(contentsOf: workDir.appendingPathComponent("qemu.stderr"), encoding: .utf8)) ?? ""
                config.log.warning("dmemfuzz: guest snapshot \(snapshot.state.lastPathComponent) not restored, booting instead: \(error) \(qerr.suffix(300))")
                stop()
                try? FileManager.default.removeItem(at: snapshot.state)
                try? FileManager.default.removeItem(at: snapshot.console)
            }
        }
        try launch(cl, restoring: nil)
        if let snapshot, !snapshot.exists {
            do { try saveSnapshot(snapshot, qmpPath: cl.qmpSocket) } catch {
                config.log.warning("dmemfuzz: guest snapshot not saved (every guest boots): \(error)")
            }
        }
    }

    /// Starts QEMU with `cl` (restoring `snapshot` when given), connects to the agent and waits
    /// for it: its `ready` line after a boot, its `hello` reply after a restore.
    private func launch(_ cl: QemuCommandLine, restoring snapshot: SnapshotStore.Entry?) throws {
        let fm = FileManager.default
        try? fm.removeItem(at: consoleURL)
        try? fm.removeItem(atPath: cl.agentSocket)
        try? fm.removeItem(atPath: cl.qmpSocket)
        buffer = []
        if let snapshot { try fm.copyItem(at: snapshot.console, to: consoleURL) } else { fm.createFile(atPath: consoleURL.path, contents: nil) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.qemuBinary)
        p.arguments = cl.arguments(restoring: snapshot?.state)
        p.standardInput = FileHandle.nullDevice
        FileManager.default.createFile(atPath: workDir.appendingPathComponent("qemu.stderr").path, contents: nil)
        let err = try FileHandle(forWritingTo: workDir.appendingPathComponent("qemu.stderr"))
        p.standardOutput = err; p.standardError = err
        let t0 = Date()
        try p.run()
        process = p
        VMReaper.add(p.processIdentifier)

        // Connect as soon as QEMU has created the socket (before the guest writes `ready`).
        do { sock = try Self.connect(cl.agentSocket, deadline: 10, while: { p.isRunning }) } catch let e as VMError {
            if case .timeout = e { stop(); throw e }
            try failExited()
        }
        if snapshot != nil {
            // The restored agent sits in its request loop: its hello says it runs.
            try resumeRestored(qmpPath: cl.qmpSocket)
            let h = try agent.hello()
            readySeconds = Date().timeIntervalSince(t0)
            release = h.release
            guestReadyUptime = h.uptime
            bootKind = .restored
            return
        }
        let line: String
        do { line = try readLine(timeout: config.readyTimeout) } catch VMError.hung {
            stop()
            keepWorkDir = true
            throw VMError.timeout("the agent did not say ready within \(Int(config.readyTimeout)) s; console log: \(consoleURL.path)")
        } catch { stop(); throw error }
        guard case let .ready(r, up)? = try? AgentReply.decode(line, answering: nil) else {
            stop(); throw VMError.protocolError("expected ready, got \(line)")
        }
        readySeconds = Date().timeIntervalSince(t0)
        release = r
        guestReadyUptime = up
        bootKind = .cold
    }

    public func send(_ text: String) throws {
        guard sock >= 0 else { throw VMError.protocolError("not connected") }
        let bytes = Array((text + "\n").utf8)
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(sock, $0.baseAddress! + off, $0.count - off, Int32(MSG_NOSIGNAL)) }
            if n < 0 { if errno == EINTR { continue }; if isRunning { throw VMError.protocolError("send: errno \(errno)") }; try failExited() }
            off += n
        }
    }

    /// The next line from the agent; the guest is declared hung after `timeout` seconds.
    public func readLine(timeout: Double) throws -> String {
        let end = Date().addingTimeInterval(timeout)
        while true {
            if let i = buffer.firstIndex(of: 10) {
                let line = String(decoding: buffer[..<i], as: UTF8.self)
                buffer.removeFirst(i + 1)
                return line
            }
            let left = end.timeIntervalSinceNow
            if left <= 0 {
                if !isRunning { try failExited() }
                throw VMError.hung("no answer within \(timeout) s")
            }
            var pfd = pollfd(fd: sock, events: Int16(POLLIN), revents: 0)
            let r = poll(&pfd, 1, Int32(min(left, 0.25) * 1000) + 1)
            if r < 0 && errno != EINTR { throw VMError.protocolError("poll: errno \(errno)") }
            if r > 0 {
                var chunk = [UInt8](repeating: 0, count: 65536)
                let n = chunk.withUnsafeMutableBytes { recv(sock, $0.baseAddress, $0.count, 0) }
                if n > 0 { buffer.append(contentsOf: chunk[0..<n]); continue }
                if n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN) {
                    // QEMU closed the socket: it is exiting.
                    QemuProcess.waitExit(process, timeout: 5)
                    try failExited()
                }
            }
            if r == 0 && !isRunning { try failExited() }
        }
    }

    /// Asks the agent to power off (QEMU exits through -no-reboot), then makes sure QEMU is gone.
    public func poweroff(timeout: Double = 15) {
        if isRunning && sock >= 0 {
            try? agent.poweroff(timeout: timeout)
            QemuProcess.waitExit(process, timeout: timeout)
        }
        stop()
    }

    /// SIGTERM, then SIGKILL after `grace` s; idempotent. Keeps the work dir (console log) around.
    /// `grace` 0 kills at once: for a guest that is thrown away (a reboot), where QEMU's SIGTERM
    /// shutdown only costs time (a restored guest used up the whole 3 s).
    public func stop(grace: Double = 3) {
        if sock >= 0 { close(sock); sock = -1 }
        if let p = process { QemuProcess.terminate(p, grace: grace); VMReaper.remove(p.processIdentifier) }
    }

    /// Removes the work directory (console log included).
    public func cleanup() { stop(); try? FileManager.default.removeItem(at: workDir) }

    public var canSnapshot: Bool { snapshotEntry != nil && isRunning }

    /// Saves this running guest as its configuration's snapshot (`start` does it after a boot).
    public func saveSnapshot() throws {
        guard let entry = snapshotEntry, let commandLine else { throw VMError.setup("snapshots are off for this guest") }
        try saveSnapshot(entry, qmpPath: commandLine.qmpSocket)
    }

    /// Throws `exitedError()` and keeps the work directory: the error names its console log.
    func failExited() throws -> Never {
        keepWorkDir = true
        throw exitedError()
    }

    func exitedError() -> VMError {
        let status = process.map { $0.isRunning ? -1 : $0.terminationStatus } ?? -1
        let c = console
        let qerr = (try? String(contentsOf: workDir.appendingPathComponent("qemu.stderr"), encoding: .utf8)) ?? ""
        return .qemuExited(status: status, consoleTail: String((qerr + c).suffix(3000)), consoleLog: consoleURL.path)
    }

    /// Connects to the unix socket QEMU is about to create at `path`, retrying every 10 ms for
    /// `deadline` seconds while `alive()` holds: `VMError.timeout` when the time runs out,
    /// `VMError.protocolError` when QEMU went away first.
    static func connect(_ path: String, deadline: Double, while alive: () -> Bool = { true }) throws -> Int32 {
        let end = Date().addingTimeInterval(deadline)
        while true {
            guard alive() else { throw VMError.protocolError("qemu exited before \(path) accepted") }
            if let fd = connect(path) { return fd }
            if Date() > end { throw VMError.timeout("connect \(path)") }
            usleep(10_000)
        }
    }

    static func connect(_ path: String) -> Int32? {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.prefix(raw.count - 1).enumerated() { raw[i] = b }
        }
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if r == 0 { return fd }
        close(fd)
        return nil
    }
}
