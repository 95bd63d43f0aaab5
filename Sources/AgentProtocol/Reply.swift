// The agent -> host replies (requests: Request.swift). A reply is read knowing the request it
// answers: `ok` is a success outcome for `exec` and an acknowledgement for `put`.
//
//   ready <hex release> <uptime s>                 unprompted, once, when the agent serves
//   hello     -> ok <hex release> <hex dmem.capacity> <hex module load report> <hex cards> <uptime s>
//   exec/batch-> the outcome as TracePrinter.outcome prints it (`ok`, `ENOENT`, `"text"`, `1`,
//                `ok evicted b1 b2`)
//   state, interfaces -> ok <hex text>
//   sh        -> ok <exit status> <hex output>
//   put, kcov -> ok | err <ERRNO>;  poweroff -> ok
//   cover     -> ok <n> <hex edge>,<hex edge>... (`-` for none)
//   stats     -> ok <hex text>: `verb count seconds` lines
//   any       -> fail <hex message>  (the agent could not read or do the request)
import DmemModel
import Trace

public struct AgentHello: Hashable, Sendable {
    public var release: String
    public var capacity: String
    /// `vgem=ok(12ms) vkms=ENOENT(3ms)`, the agent's boot-time module loads.
    public var modules: String
    public var cards: String
    public var uptime: Double
    public init(release: String, capacity: String, modules: String, cards: String, uptime: Double) {
        self.release = release; self.capacity = capacity; self.modules = modules; self.cards = cards; self.uptime = uptime
    }
}

/// Time the agent spent executing one verb's ops (`stats`).
public struct OpStat: Hashable, Sendable {
    public var verb: String
    public var count: Int
    public var seconds: Double
    public init(verb: String, count: Int, seconds: Double) { self.verb = verb; self.count = count; self.seconds = seconds }
}

public enum AgentReply: Hashable, Sendable {
    case ready(release: String, uptime: Double)
    case hello(AgentHello)
    case outcome(Outcome)
    /// `state`, `interfaces`.
    case text(String)
    case shell(status: Int, output: String)
    case coverage([UInt64])
    case stats([OpStat])
    /// `put`, `kcov`, `poweroff` done.
    case ok
    /// `put`, `kcov` failed with this errno.
    case err(Errno)
    /// The agent refused the request.
    case fail(String)

    /// The reply's line, without the newline.
    public var wire: String {
        switch self {
        case let .ready(release, uptime): return "ready \(Hex.field(release)) \(uptime)"
        case let .hello(h):
            return "ok \(Hex.field(h.release)) \(Hex.field(h.capacity)) \(Hex.field(h.modules)) \(Hex.field(h.cards)) \(h.uptime)"
        case let .outcome(o): return TracePrinter.outcome(o)
        case let .text(t): return "ok " + Hex.field(t)
        case let .shell(status, output): return "ok \(status) \(Hex.field(output))"
        case let .coverage(edges):
            return "ok \(edges.count) " + (edges.isEmpty ? "-" : edges.map { String($0, radix: 16) }.joined(separator: ","))
        case let .stats(rows): return "ok " + Hex.field(rows.map { "\($0.verb) \($0.count) \($0.seconds)" }.joined(separator: "\n"))
        case .ok: return "ok"
        case let .err(e): return "err \(e)"
        case let .fail(message): return "fail " + Hex.field(message)
        }
    }

    /// Reads the reply to a request with `verb`; nil: the unprompted `ready`.
    public static func decode(_ line: String, answering verb: AgentRequest.Verb?) throws(AgentProtocolError) -> AgentReply {
        let f = line.split(separator: " ", omittingEmptySubsequences: false)
        func bad() -> AgentProtocolError {
            AgentProtocolError("unreadable reply to \(verb?.rawValue ?? "start"): '\(TracePrinter.visible(line.prefix(200).utf8))'")
        }
        if f.first == "fail", verb != nil {
            guard f.count == 2, let m = Hex.text(f[1]) else { throw bad() }
            return .fail(m)
        }
        guard let verb else {
            guard f.count == 3, f[0] == "ready", let r = Hex.text(f[1]), let up = Double(f[2]) else { throw bad() }
            return .ready(release: r, uptime: up)
        }
        switch verb {
        case .exec, .batch:
            do { return .outcome(try TraceParser(file: "<agent>").parseOutcome(Substring(line))) } catch { throw bad() }
        case .put, .kcov, .poweroff:
            if line == "ok" { return .ok }
            guard verb != .poweroff, f.count == 2, f[0] == "err", let e = Errno(name: String(f[1])) else { throw bad() }
            return .err(e)
        case .hello:
            guard f.count == 6, f[0] == "ok", let r = Hex.text(f[1]), let c = Hex.text(f[2]), let m = Hex.text(f[3]),
                  let cards = Hex.text(f[4]), let up = Double(f[5]) else { throw bad() }
            return .hello(AgentHello(release: r, capacity: c, modules: m, cards: cards, uptime: up))
        case .state, .interfaces:
            guard f.count == 2, f[0] == "ok", let t = Hex.text(f[1]) else { throw bad() }
            return .text(t)
        case .sh:
            guard f.count == 3, f[0] == "ok", let st = Int(f[1]), let out = Hex.text(f[2]) else { throw bad() }
            return .shell(status: st, output: out)
        case .cover:
            guard f.count == 3, f[0] == "ok", let n = Int(f[1]) else { throw bad() }
            let edges = f[2] == "-" ? [] : f[2].split(separator: ",", omittingEmptySubsequences: false).map { UInt64($0, radix: 16) }
            guard edges.count == n, !edges.contains(nil) else { throw bad() }
            return .coverage(edges.map { $0! })
        case .stats:
            guard f.count == 2, f[0] == "ok", let t = Hex.text(f[1]) else { throw bad() }
            var rows: [OpStat] = []
            for l in t.split(separator: "\n") {
                let w = l.split(separator: " ")
                guard w.count == 3, let c = Int(w[1]), let s = Double(w[2]) else { throw bad() }
                rows.append(OpStat(verb: String(w[0]), count: c, seconds: s))
            }
            return .stats(rows)
        }
    }
}
