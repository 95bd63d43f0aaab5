/// A line that is not what the protocol says. `replyLines`: how many reply lines the agent owes
/// for the request it could not read (a `batch N` is answered with N lines, readable or not).
public struct AgentProtocolError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public var replyLines: Int
    public init(_ message: String, replyLines: Int = 1) { self.message = message; self.replyLines = replyLines }
    public var description: String { message }
}
