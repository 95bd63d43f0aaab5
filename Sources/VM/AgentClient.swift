import AgentProtocol
import DmemModel
import Trace

/// Where an `AgentClient` sends its request lines and reads the replies: a VM's virtio-serial
/// socket, or anything that answers as the agent does (tests).
public protocol AgentTransport: AnyObject {
    func send(_ text: String) throws
    func readLine(timeout: Double) throws -> String
}

/// The host side of the agent protocol (AgentProtocol/Request.swift): one typed call per verb.
/// A `fail` reply or a reply that is not the verb's throws `VMError.protocolError`.
public struct AgentClient {
    let transport: AgentTransport
    public init(_ transport: AgentTransport) { self.transport = transport }

    /// The request's reply lines, unread (`dmemfuzz shell`'s `@` lines show them as they are).
    public func raw(_ request: AgentRequest, timeout: Double = 60) throws -> [String] {
        try transport.send(request.wire)
        return try (0..<request.replyLines).map { _ in try transport.readLine(timeout: timeout) }
    }

    /// One request with a one-line reply, decoded for its verb.
    public func call(_ request: AgentRequest, timeout: Double = 60) throws -> AgentReply {
        let line = try raw(request, timeout: timeout)[0]
        let reply: AgentReply
        do { reply = try AgentReply.decode(line, answering: request.verb) }
        catch { throw VMError.protocolError(error.message) }
        if case let .fail(m) = reply { throw VMError.protocolError("agent refused \(request.verb.rawValue): \(m)") }
        return reply
    }

    func unexpected(_ request: AgentRequest, _ reply: AgentReply) -> VMError {
        .protocolError("\(request.verb.rawValue): unexpected reply '\(reply.wire.prefix(200))'")
    }

    public func hello() throws -> AgentHello {
        let r = try call(.hello)
        guard case let .hello(h) = r else { throw unexpected(.hello, r) }
        return h
    }

    /// One op; a `fail` (the agent could not read or run it) throws.
    public func exec(_ op: Op, timeout: Double = 60) throws -> Outcome {
        let r = try call(.exec(op), timeout: timeout)
        guard case let .outcome(o) = r else { throw unexpected(.exec(op), r) }
        return o
    }

    /// `ops` in one round trip; each reply is `.outcome` or `.fail`.
    public func batch(_ ops: [Op], timeout: Double = 120) throws -> [AgentReply] {
        let lines = try raw(.batch(ops), timeout: timeout)
        return try zip(ops, lines).map { op, line in
            do { return try AgentReply.decode(line, answering: .batch) }
            catch { throw VMError.protocolError("unreadable outcome '\(line)' for '\(TracePrinter.op(op))'") }
        }
    }

    public func state() throws -> String { try text(.state) }
    /// The agent's boot-time listing of dmem.* files (root, child) and controllers.
    public func interfaces() throws -> String { try text(.interfaces) }
    func text(_ request: AgentRequest) throws -> String {
        let r = try call(request)
        guard case let .text(t) = r else { throw unexpected(request, r) }
        return t
    }

    /// Runs a busybox shell command in the guest: (exit status, output).
    public func shell(_ command: String, timeout: Double = 60) throws -> (status: Int, output: String) {
        precondition(!command.contains("\n"), "one line")
        let r = try call(.shell(command), timeout: timeout)
        guard case let .shell(st, out) = r else { throw unexpected(.shell(command), r) }
        return (st, out)
    }

    /// Writes an executable file into the guest.
    public func put(_ path: String, _ data: [UInt8], timeout: Double = 120) throws {
        let r = try call(.put(path: path, data: data), timeout: timeout)
        guard case .ok = r else { throw VMError.protocolError("put \(path): \(r.wire)") }
    }

    /// Turns KCOV on for `ranges` (KcovRanges.text); false when the guest kernel has no KCOV.
    public func kcov(ranges: String) throws -> Bool {
        let r = try call(.kcov(ranges: ranges))
        switch r {
        case .ok: return true
        case .err: return false
        default: throw unexpected(.kcov(ranges: ranges), r)
        }
    }

    /// KCOV edges since the last call (`kcov` must have been accepted).
    public func cover() throws -> [UInt64] {
        let r = try call(.cover)
        guard case let .coverage(edges) = r else { throw unexpected(.cover, r) }
        return edges
    }

    /// What the agent spent executing ops since the last call, per verb.
    public func stats() throws -> [OpStat] {
        let r = try call(.stats)
        guard case let .stats(rows) = r else { throw unexpected(.stats, r) }
        return rows
    }

    public func poweroff(timeout: Double = 15) throws { _ = try call(.poweroff, timeout: timeout) }
}
