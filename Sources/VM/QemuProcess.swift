import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A QEMU process's end: SIGTERM, then SIGKILL; and the reaper that kills every live QEMU when
/// dmemfuzz itself is interrupted, so no guest outlives the host process.
enum QemuProcess {
    /// SIGTERM, then SIGKILL after `grace` s; `grace` 0 kills at once.
    static func terminate(_ p: Process, grace: Double = 3) {
        guard p.isRunning else { return }
        kill(p.processIdentifier, grace > 0 ? SIGTERM : SIGKILL)
        let end = Date().addingTimeInterval(grace)
        while p.isRunning && Date() < end { usleep(20_000) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
    }

    /// Waits up to `timeout` s for `p` to exit on its own; true when it did.
    @discardableResult
    static func waitExit(_ p: Process?, timeout: Double) -> Bool {
        guard let p else { return true }
        let end = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < end { usleep(20_000) }
        return !p.isRunning
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
