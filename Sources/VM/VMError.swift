import Foundation

/// What went wrong starting or talking to a guest: QEMU, the agent's transport and protocol.
public enum VMError: Error, CustomStringConvertible {
    /// One line for why a guest went away: the kernel's panic message if it panicked, else the
    /// last line QEMU or the console printed (printk timestamps dropped).
    static func why(_ tail: String) -> String {
        let lines = tail.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }).map { l -> String in
            var t = Substring(l)
            if t.hasPrefix("["), let close = t.firstIndex(of: "]") { t = t[t.index(after: close)...] }
            return t.trimmingCharacters(in: .whitespaces)
        }.filter { !$0.isEmpty }
        if let panic = lines.last(where: { $0.hasPrefix("Kernel panic - not syncing") }) {
            return panic.replacingOccurrences(of: " ]---", with: "").trimmingCharacters(in: CharacterSet(charactersIn: "-[ "))
        }
        return lines.last.map { "last console line: \($0)" } ?? "nothing on the console"
    }

    case setup(String)
    /// `consoleLog`: the guest's console log file, kept after QEMU is gone.
    case qemuExited(status: Int32, consoleTail: String, consoleLog: String)
    case timeout(String)
    case hung(String)
    case protocolError(String)
    public var description: String {
        switch self {
        case .setup(let s): return "setup: \(s)"
        case .qemuExited(let st, let tail, let log):
            return "qemu exited (status \(st)): \(Self.why(tail)); console log: \(log)"
        case .timeout(let s): return "timeout: \(s)"
        case .hung(let s): return "guest hung: \(s)"
        case .protocolError(let s): return "agent protocol: \(s)"
        }
    }
}
