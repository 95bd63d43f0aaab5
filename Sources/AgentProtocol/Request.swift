// The host -> agent line protocol, host side Sources/VM/AgentClient.swift, agent side
// Sources/AgentCore/Agent.swift. Both sides are built from this file, so neither spells a verb.
//
// Transport: the virtio-serial port named `dmemfuzz` (/dev/vportNpM; QEMU side a unix socket
// chardev), or stdin/stdout with `dmemfuzz-agent --stdio`. One request per line (a `batch` is its
// header line and N op lines), answered in order; on start the agent sends `ready` unprompted.
// Fields are space separated; byte fields use `Hex` (AgentReply.swift has the replies).
import DmemModel
import Trace

/// What the host can ask the agent.
public enum AgentRequest: Hashable, Sendable {
    /// `hello` -> AgentHello: release, dmem.capacity, module load report, DRM cards, uptime.
    case hello
    /// `exec <op as TracePrinter.op prints it>` -> the outcome (one outcome format: the trace's).
    case exec(Op)
    /// `batch N` + N op lines -> N outcome lines.
    case batch([Op])
    /// `state` -> text: `== <cgroup> <file>` + contents, for every cgroup's dmem.*, cgroup.stat
    /// and cgroup.procs.
    case state
    /// `interfaces` -> text: `root <file>` / `child <file>` for every dmem.* file of the root and
    /// of a child cgroup, `controller <name>` for each controller of the root (probed at boot).
    case interfaces
    /// `sh <command>` -> exit status and stdout+stderr of busybox `sh -c` (one line).
    case shell(String)
    /// `put <path> <hex>` -> ok | err: writes a new file, mode 0755 (a reproducer binary).
    case put(path: String, data: [UInt8])
    /// `kcov <hex ranges>` -> ok | err: KCOV in the agent and in every actor spawned from now on,
    /// counting PCs in the `start end` hex ranges (one per line).
    case kcov(ranges: String)
    /// `cover` -> the edges since the last `cover`.
    case cover
    /// `stats` -> per-verb count and seconds the agent spent executing ops; the counters restart.
    case stats
    /// `poweroff` -> ok, then the guest reboots (QEMU's -no-reboot exits).
    case poweroff

    public enum Verb: String, CaseIterable, Sendable {
        case hello, exec, batch, state, interfaces, sh, put, kcov, cover, stats, poweroff
    }

    public var verb: Verb {
        switch self {
        case .hello: return .hello
        case .exec: return .exec
        case .batch: return .batch
        case .state: return .state
        case .interfaces: return .interfaces
        case .shell: return .sh
        case .put: return .put
        case .kcov: return .kcov
        case .cover: return .cover
        case .stats: return .stats
        case .poweroff: return .poweroff
        }
    }

    /// How many reply lines the request gets.
    public var replyLines: Int {
        if case let .batch(ops) = self { return ops.count }
        return 1
    }

    /// The request's lines, without the final newline.
    public var wire: String {
        switch self {
        case .hello, .state, .interfaces, .cover, .stats, .poweroff: return verb.rawValue
        case let .exec(op): return "exec " + TracePrinter.op(op)
        case let .batch(ops): return (["batch \(ops.count)"] + ops.map(TracePrinter.op)).joined(separator: "\n")
        case let .shell(command): return "sh " + command
        case let .put(path, data): return "put \(path) \(Hex.field(data))"
        case let .kcov(ranges): return "kcov " + Hex.field(ranges)
        }
    }

    /// Reads one request from its first line; `next` supplies the op lines of a `batch` (all N
    /// are consumed even when one is unreadable, so the stream stays in step).
    public static func decode(_ line: String, next: () -> String?) throws(AgentProtocolError) -> AgentRequest {
        let parts = line.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard let word = parts.first else { throw AgentProtocolError("empty request") }
        guard let verb = Verb(rawValue: String(word)) else { throw AgentProtocolError("unknown request: \(TracePrinter.visible(word.utf8))") }
        let rest = parts.count > 1 ? parts[1] : ""
        func op(_ text: Substring) throws(AgentProtocolError) -> Op {
            do { return try TraceParser(file: "<agent>").parseStep(text).op }
            catch { throw AgentProtocolError("\(error)") }
        }
        func noArguments() throws(AgentProtocolError) {
            if !rest.isEmpty { throw AgentProtocolError("\(verb.rawValue): takes no arguments") }
        }
        switch verb {
        case .hello: try noArguments(); return .hello
        case .state: try noArguments(); return .state
        case .interfaces: try noArguments(); return .interfaces
        case .cover: try noArguments(); return .cover
        case .stats: try noArguments(); return .stats
        case .poweroff: try noArguments(); return .poweroff
        case .exec: return .exec(try op(rest))
        case .batch:
            guard let n = Int(rest), n >= 0 else { throw AgentProtocolError("batch: a count") }
            var ops: [Op] = [], firstError: AgentProtocolError?
            for i in 0..<n {
                guard let l = next() else { throw AgentProtocolError("batch: \(i) of \(n) op lines", replyLines: n) }
                do { ops.append(try op(Substring(l))) } catch { firstError = firstError ?? error }
            }
            if let e = firstError { throw AgentProtocolError(e.message, replyLines: n) }
            return .batch(ops)
        case .sh:
            guard !rest.isEmpty else { throw AgentProtocolError("sh: a command") }
            return .shell(String(rest))
        case .put:
            let f = rest.split(separator: " ")
            guard f.count == 2, let data = Hex.bytes(f[1]) else { throw AgentProtocolError("put: path and hex") }
            return .put(path: String(f[0]), data: data)
        case .kcov:
            guard let text = Hex.text(rest) else { throw AgentProtocolError("kcov: hex ranges") }
            return .kcov(ranges: text)
        }
    }
}
