/// What `dmemfuzz check` ran: one case per corpus trace plus the fuzzing run, and the
/// diagnostics that go before them (KTAP.swift and JUnit.swift write it out).
public struct CheckResults: Sendable, Equatable {
    public enum Status: Sendable, Equatable { case pass, fail, skip }
    public struct Case: Sendable, Equatable {
        public var name: String
        public var status: Status
        /// Why it failed or was skipped, or what it did (`2000 ops, 14 signatures`).
        public var detail: String
        public var seconds: Double
        public init(name: String, status: Status, detail: String = "", seconds: Double = 0) {
            self.name = name; self.status = status; self.detail = detail; self.seconds = seconds
        }
    }
    public var cases: [Case]
    /// `# <line>` diagnostics before the results (unmodeled files, the model profile).
    public var diagnostics: [String]
    public init(cases: [Case] = [], diagnostics: [String] = []) { self.cases = cases; self.diagnostics = diagnostics }

    public func count(_ s: Status) -> Int { cases.filter { $0.status == s }.count }
    public var failed: Bool { count(.fail) > 0 }
}
