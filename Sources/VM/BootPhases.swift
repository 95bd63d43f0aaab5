import Foundation

/// Where a cold boot's time goes, read off its console (printk timestamps, `printk.time=1`, and
/// the agent's own lines): issue 14's "measure where the 10 s go". Each phase ends at a landmark
/// the kernel or the agent prints; a phase whose landmark is missing is left out.
public struct BootPhases: Sendable, Equatable {
    public struct Phase: Sendable, Equatable {
        public var name: String
        public var seconds: Double
    }
    public var phases: [Phase]

    /// The landmarks, in boot order: kernel_init's early initcalls up to populate_rootfs()
    /// (init/initramfs.c prints "Unpacking initramfs..." and, when the async unpack is done,
    /// "Freeing initrd memory"), the remaining initcalls up to run_init_process() ("Run /init as
    /// init process"), then the agent (AgentCore/Boot.swift logs "started at uptime" before its
    /// module loads and sends `ready` at `readyUptime`).
    static let landmarks: [(name: String, line: String)] = [
        ("kernel start to initramfs unpack", "Unpacking initramfs..."),
        ("initramfs unpack (async, beside initcalls)", "Freeing initrd memory"),
        ("remaining initcalls", "Run /init as init process"),
    ]

    public init(console: String, readyUptime: Double?) {
        var at: [(String, Double)] = []
        // The serial console ends lines with "\r\n", which Swift reads as one Character.
        let lines = console.split(whereSeparator: \.isNewline)
        for (name, needle) in Self.landmarks {
            if let l = lines.first(where: { $0.contains(needle) }), let t = Self.timestamp(l) { at.append((name, t)) }
        }
        let started = "dmemfuzz-agent: started at uptime "
        if let l = lines.first(where: { $0.contains(started) }), let r = l.range(of: started),
           let t = Double(l[r.upperBound...].prefix { $0 != " " }) {
            at.append(("init to agent start (static binary exec)", t))
        }
        if let readyUptime { at.append(("agent: module loads, cgroup setup, ready", readyUptime)) }
        var prev = 0.0
        phases = at.map { name, t in defer { prev = t }; return Phase(name: name, seconds: t - prev) }
    }

    /// `[   21.141062] …` → 21.141062.
    static func timestamp<S: StringProtocol>(_ line: S) -> Double? {
        guard let open = line.firstIndex(of: "["), let close = line[open...].firstIndex(of: "]") else { return nil }
        return Double(line[line.index(after: open)..<close].trimmingCharacters(in: .whitespaces))
    }
}
