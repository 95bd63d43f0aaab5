import AgentProtocol
import Foundation
import Kernel
import Log
import Logging
import Shell
import Splat
#if canImport(Glibc)
import Glibc
#endif

public enum Accel: String, CaseIterable, Sendable {
    case kvm, tcg

    /// $DMEMFUZZ_ACCEL's choice: nil when unset or empty; a value that is neither is a setup
    /// error (it used to be ignored, so a typo silently meant "probe").
    public static func fromEnvironment(_ value: String?) throws -> Accel? {
        guard let value, !value.isEmpty else { return nil }
        guard let a = Accel(rawValue: value) else { throw VMError.setup("DMEMFUZZ_ACCEL='\(value)': want kvm or tcg") }
        return a
    }

    /// KVM if it works here, else TCG. Nested KVM can hang in SeaBIOS, so a KVM boot must print
    /// "Linux version" within `deadline` seconds. The verdict is cached per host kernel + QEMU.
    /// $DMEMFUZZ_ACCEL=kvm|tcg overrides.
    public static func probe(kernel: KernelBuild, deadline: Double = 3) throws -> Accel {
        let env = ProcessInfo.processInfo.environment
        if let a = try fromEnvironment(env["DMEMFUZZ_ACCEL"]) { return a }
        guard access("/dev/kvm", R_OK | W_OK) == 0 else { return .tcg }
        var u = utsname(); uname(&u)
        let host = withUnsafeBytes(of: u.release) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        let key = "\(host)|\(VirtualMachine.qemuVersion)"
        let cacheDir = URL(fileURLWithPath: env["DMEMFUZZ_CACHE"] ?? (NSHomeDirectory() + "/.cache/dmemfuzz"))
        let cacheFile = cacheDir.appendingPathComponent("accel-verdict")
        if let text = try? String(contentsOf: cacheFile, encoding: .utf8) {
            let parts = text.trimmingCharacters(in: .whitespacesAndNewlines).components(separatedBy: "\t")
            if parts.count == 2 && parts[0] == key, let a = Accel(rawValue: parts[1]) { return a }
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dmemfuzz-kvmprobe-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = dir.appendingPathComponent("console.log")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: VirtualMachine.qemuBinary)
        p.arguments = ["-accel", "kvm", "-m", "256", "-smp", "1", "-display", "none", "-monitor", "none",
                       "-serial", "file:\(log.path)", "-no-reboot", "-nic", "none",
                       "-kernel", kernel.bzImage.path, "-append", "console=ttyS0 panic=-1"]
        p.standardOutput = FileHandle.nullDevice; p.standardError = FileHandle.nullDevice
        var verdict = Accel.tcg
        if (try? p.run()) != nil {
            VMReaper.add(p.processIdentifier)
            let end = Date().addingTimeInterval(deadline)
            while Date() < end && p.isRunning {
                if let t = try? String(contentsOf: log, encoding: .utf8), t.contains("Linux version") { verdict = .kvm; break }
                usleep(50_000)
            }
            VirtualMachine.terminate(p, grace: 0)  // a KVM guest stuck in firmware ignores SIGTERM for long
        }
        try? FileManager.default.createDirectory(at: cacheDir, withIntermediateDirectories: true)
        try? "\(key)\t\(verdict.rawValue)\n".write(to: cacheFile, atomically: true, encoding: .utf8)
        return verdict
    }
}

public struct VMConfig: Sendable {
    public var kernel: KernelBuild
    public var initramfs: URL
    public var memoryMB = 1024
    /// Where the VM's own messages go (a snapshot not restored or not saved).
    public var log: Logger = .dmemfuzz()
    public var cpus = 2
    /// Module parameters the agent loads vgem and vkms with (`dmem_regions=2 dmem_size=268435456`);
    /// nil: the test patches' defaults. They go on the kernel command line as dmemfuzz.vgem=/vkms=.
    public var vgemParams: String?
    public var vkmsParams: String?
    /// Extra kernel command line words.
    public var cmdline: [String] = []
    public var accel: Accel? = nil
    /// Start from (and save) a snapshot of the booted guest instead of booting every time.
    public var snapshots = true
    /// Boot (QEMU start to agent `ready`) deadline, seconds.
    public var readyTimeout: Double = 180
    public init(kernel: KernelBuild, initramfs: URL) { self.kernel = kernel; self.initramfs = initramfs }
}

/// One QEMU guest running the agent: start, the agent's line transport with deadlines (`agent`
/// speaks the protocol over it), console log, stop. Every exit path tears QEMU down (SIGTERM,
/// then SIGKILL); SIGINT/SIGTERM of the host process too.
public final class VirtualMachine: AgentTransport {
    public static let qemuBinary = "/usr/bin/qemu-system-x86_64"
    /// `qemu-system-x86_64 --version`'s first line.
    public static let qemuVersion: String = (try? Shell.run([qemuBinary, "--version"]).split(separator: "\n").first.map(String.init)) ?? "?"
    public let config: VMConfig
    public let workDir: URL
    public var consoleURL: URL { workDir.appendingPathComponent("console.log") }
    public private(set) var accel: Accel = .tcg
    /// Seconds from QEMU start to the agent's `ready` line.
    public private(set) var readySeconds: Double?
    /// Guest uptime (s) when the agent was ready, from its `ready` line.
    public private(set) var guestReadyUptime: Double?
    public private(set) var release: String?
    /// How the guest came up: booted, or restored from a snapshot of a booted guest.
    public enum BootKind: String, Sendable { case cold = "cold boot", restored = "snapshot restore" }
    public private(set) var bootKind: BootKind = .cold
    private var process: Process?
    private var sock: Int32 = -1
    private var buffer: [UInt8] = []

    public init(config: VMConfig) {
        self.config = config
        // Short path: AF_UNIX socket paths are limited to 108 bytes.
        let base = URL(fileURLWithPath: "/tmp")
        self.workDir = base.appendingPathComponent("dmemfuzz-vm-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
    }
    deinit { stop() }

    public var isRunning: Bool { process?.isRunning ?? false }

    public func start() throws {
        try FileManager.default.createDirectory(at: workDir, withIntermediateDirectories: true)
        accel = try config.accel ?? Accel.probe(kernel: config.kernel)
        let sockPath = workDir.appendingPathComponent("agent.sock").path
        let qmpPath = workDir.appendingPathComponent("qmp.sock").path
        let params = [("vgem", config.vgemParams), ("vkms", config.vkmsParams)].compactMap { m, p in p.map { "dmemfuzz.\(m)=\"\($0)\"" } }
        let append = (["console=ttyS0", "panic=-1", "loglevel=7", "printk.time=1", "rdinit=/init"] + params + config.cmdline)
            .filter { !$0.isEmpty }.joined(separator: " ")
        // What the guest sees (and a snapshot depends on), then the host-side ends.
        let guestArgs = [
            "-accel", accel.rawValue, "-m", "\(config.memoryMB)", "-smp", "\(config.cpus)",
            "-nographic", "-monitor", "none", "-no-reboot", "-nic", "none",
            "-kernel", config.kernel.bzImage.path, "-initrd", config.initramfs.path, "-append", append,
            "-device", "virtio-serial-pci,id=vs0",
            "-device", "virtserialport,bus=vs0.0,chardev=agent,name=dmemfuzz",
        ]
        let hostArgs = [
            "-chardev", "file,id=con0,path=\(consoleURL.path),append=on", "-serial", "chardev:con0",
            "-chardev", "socket,id=agent,path=\(sockPath),server=on,wait=off",
            "-qmp", "unix:\(qmpPath),server=on,wait=off",
        ]
        let snapshot = config.snapshots ? SnapshotStore(kernel: config.kernel).entry(guestArgs: guestArgs, accel: accel, kernel: config.kernel) : nil
        if let snapshot, snapshot.exists {
            do {
                try launch(guestArgs + hostArgs, restoring: snapshot, sockPath: sockPath, qmpPath: qmpPath)
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
        try launch(guestArgs + hostArgs, restoring: nil, sockPath: sockPath, qmpPath: qmpPath)
        if let snapshot, !snapshot.exists {
            do { try saveSnapshot(snapshot, qmpPath: qmpPath) } catch {
                config.log.warning("dmemfuzz: guest snapshot not saved (every guest boots): \(error)")
            }
        }
    }

    /// Starts QEMU with `args` (restoring `snapshot` when given), connects to the agent and waits
    /// for it: its `ready` line after a boot, its `hello` reply after a restore.
    private func launch(_ args: [String], restoring snapshot: SnapshotStore.Entry?, sockPath: String, qmpPath: String) throws {
        let fm = FileManager.default
        try? fm.removeItem(at: consoleURL)
        try? fm.removeItem(atPath: sockPath)
        try? fm.removeItem(atPath: qmpPath)
        buffer = []
        if let snapshot { try fm.copyItem(at: snapshot.console, to: consoleURL) } else { fm.createFile(atPath: consoleURL.path, contents: nil) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.qemuBinary)
        p.arguments = args + (snapshot.map { ["-incoming", "exec:cat '\($0.state.path)'"] } ?? [])
        p.standardInput = FileHandle.nullDevice
        FileManager.default.createFile(atPath: workDir.appendingPathComponent("qemu.stderr").path, contents: nil)
        let err = try FileHandle(forWritingTo: workDir.appendingPathComponent("qemu.stderr"))
        p.standardOutput = err; p.standardError = err
        let t0 = Date()
        try p.run()
        process = p
        VMReaper.add(p.processIdentifier)

        // Connect as soon as QEMU has created the socket (before the guest writes `ready`).
        do { sock = try Self.connect(sockPath, deadline: 10, while: { p.isRunning }) } catch let e as VMError {
            if case .timeout = e { stop(); throw e }
            throw exitedError()
        }
        if snapshot != nil {
            // The restored agent sits in its request loop: its hello says it runs.
            try resumeRestored(qmpPath: qmpPath)
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

    /// The agent in this guest.
    public var agent: AgentClient { AgentClient(self) }

    public func send(_ text: String) throws {
        guard sock >= 0 else { throw VMError.protocolError("not connected") }
        let bytes = Array((text + "\n").utf8)
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(sock, $0.baseAddress! + off, $0.count - off, Int32(MSG_NOSIGNAL)) }
            if n < 0 { if errno == EINTR { continue }; throw isRunning ? VMError.protocolError("send: errno \(errno)") : exitedError() }
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
                if !isRunning { throw exitedError() }
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
                    _ = waitExit(timeout: 5)
                    throw exitedError()
                }
            }
            if r == 0 && !isRunning { throw exitedError() }
        }
    }

    public var console: String {
        (try? String(contentsOf: consoleURL, encoding: .utf8)) ?? String(decoding: (try? Data(contentsOf: consoleURL)) ?? Data(), as: UTF8.self)
    }
    public func splats() -> [Splat] { SplatParser.parse(console) }

    /// Splats once the console has caught up: the guest's printk output reaches the log file after
    /// the syscall that caused it returns. Waits until more than `count` reports are present and the
    /// log has been quiet for `quiet` seconds, or `timeout` passes; returns whatever is there.
    public func awaitSplats(moreThan count: Int = 0, timeout: Double = 10, quiet: Double = 0.3) -> [Splat] {
        let end = Date().addingTimeInterval(timeout)
        var lastSize = -1, stableSince = Date()
        while true {
            let size = ((try? FileManager.default.attributesOfItem(atPath: consoleURL.path)[.size]) as? Int) ?? 0
            if size != lastSize { lastSize = size; stableSince = Date() }
            let found = splats()
            if found.count > count && Date().timeIntervalSince(stableSince) >= quiet { return found }
            if Date() > end { return found }
            usleep(50_000)
        }
    }

    /// Asks the agent to power off (QEMU exits through -no-reboot), then makes sure QEMU is gone.
    public func poweroff(timeout: Double = 15) {
        if isRunning && sock >= 0 {
            try? agent.poweroff(timeout: timeout)
            _ = waitExit(timeout: timeout)
        }
        stop()
    }

    /// SIGTERM, then SIGKILL after `grace` s; idempotent. Keeps the work dir (console log) around.
    /// `grace` 0 kills at once: for a guest that is thrown away (a reboot), where QEMU's SIGTERM
    /// shutdown only costs time (a restored guest used up the whole 3 s).
    public func stop(grace: Double = 3) {
        if sock >= 0 { close(sock); sock = -1 }
        if let p = process { Self.terminate(p, grace: grace); VMReaper.remove(p.processIdentifier) }
    }

    /// Removes the work directory (console log included).
    public func cleanup() { stop(); try? FileManager.default.removeItem(at: workDir) }

    @discardableResult
    func waitExit(timeout: Double) -> Bool {
        guard let p = process else { return true }
        let end = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < end { usleep(20_000) }
        return !p.isRunning
    }

    static func terminate(_ p: Process, grace: Double = 3) {
        guard p.isRunning else { return }
        kill(p.processIdentifier, grace > 0 ? SIGTERM : SIGKILL)
        let end = Date().addingTimeInterval(grace)
        while p.isRunning && Date() < end { usleep(20_000) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
    }

    private func exitedError() -> VMError {
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

/// Kills live QEMU processes when the host process gets SIGINT/SIGTERM/SIGHUP.
enum VMReaper {
    nonisolated(unsafe) static var pids: [pid_t] = Array(repeating: 0, count: 64)
    nonisolated(unsafe) static var installed = false
    static let lock = NSLock()

    static func add(_ pid: pid_t) {
        lock.lock(); defer { lock.unlock() }
        if let i = pids.firstIndex(of: 0) { pids[i] = pid }
        if !installed {
            installed = true
            for s in [SIGINT, SIGTERM, SIGHUP] {
                signal(s) { sig in
                    for p in VMReaper.pids where p > 0 { kill(p, SIGKILL) }
                    signal(sig, SIG_DFL); raise(sig)
                }
            }
        }
    }
    static func remove(_ pid: pid_t) {
        lock.lock(); defer { lock.unlock() }
        if let i = pids.firstIndex(of: pid) { pids[i] = 0 }
    }
}
