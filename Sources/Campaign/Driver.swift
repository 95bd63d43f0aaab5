import DmemModel
import Fuzz
import Trace
import VM
import Foundation

/// What survives a Ctrl-C: `--resume` continues from the next round with the same coverage.
public struct CampaignState: Codable, Sendable {
    public var seed: UInt64
    public var round = 0
    public var ops = 0
    public var seconds = 0.0
    public var signatures: [String] = []
    public var findings: [String] = []
}

/// A campaign directory that cannot be used, as one line naming the file.
public struct CampaignError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Atomic file writes: a temporary file in the same directory, then rename(2).
public enum AtomicFile {
    public static func write(_ data: Data, to url: URL) throws {
        let tmp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
        try data.write(to: tmp)
        if rename(tmp.path, url.path) != 0 { throw VMError.protocolError("rename \(tmp.path) -> \(url.path): errno \(errno)") }
    }
}

/// A campaign: rounds of generated ops, each in a clean guest, until the budget or a stop
/// request. Rounds that reach new signatures join the corpus; findings are minimized and saved.
public final class CampaignDriver {
    public let guest: Guest
    public let dir: URL
    public let store: FindingStore
    public var config: CampaignConfig
    public var roundOps = 400
    public var minimize = true
    /// Traces rounds may start from (the seed corpus; the campaign's own corpus joins them).
    public var seeds: [Trace] = []
    /// Share of rounds that start from a prefix of a seed or corpus trace.
    public var seededPercent = 50
    /// Stop at the first finding (selftest) instead of going on in a new guest.
    public var stopOnFinding = false
    public private(set) var lastFinding: Finding?
    public private(set) var state: CampaignState
    /// Set from a signal handler; checked between batches.
    public let stopRequested = StopFlag()

    public init(guest: Guest, dir: String, findings: FindingStore, config: CampaignConfig, resume: Bool) throws {
        self.guest = guest; self.store = findings; self.config = config
        self.dir = URL(fileURLWithPath: dir)
        try FileManager.default.createDirectory(at: self.dir.appendingPathComponent("corpus"), withIntermediateDirectories: true)
        (state, corpus) = try Self.load(dir: dir, seed: config.seed, resume: resume)
    }

    /// A campaign directory's state (with `resume`; else a fresh one for `seed`) and its corpus.
    /// Callable before a guest boots, so a bad campaign is a setup error and not a boot later.
    /// A corpus trace that cannot be read or parsed is an error naming it (file:line:col), never
    /// skipped: resuming without it would silently forget the coverage it stands for.
    public static func load(dir: String, seed: UInt64, resume: Bool) throws -> (CampaignState, [Trace]) {
        // Paths as the user gave them, so messages name what they typed.
        func under(_ parts: String...) -> String { parts.reduce(dir) { ($0 as NSString).appendingPathComponent($1) } }
        let statePath = under("state.json")
        let state: CampaignState
        if resume {
            guard let data = FileManager.default.contents(atPath: statePath) else {
                throw CampaignError("\(statePath): no campaign to resume (run without --resume to start one)")
            }
            do { state = try JSONDecoder().decode(CampaignState.self, from: data) }
            catch { throw CampaignError("\(statePath): unreadable campaign state") }
        } else {
            state = CampaignState(seed: seed)
        }
        var corpus: [Trace] = []
        for f in ((try? FileManager.default.contentsOfDirectory(atPath: under("corpus"))) ?? []).sorted() where f.hasSuffix(".trace") {
            let path = under("corpus", f)
            let type = (try? FileManager.default.attributesOfItem(atPath: path)[.type]) as? FileAttributeType
            guard type == .typeRegular else { throw CampaignError("\(path): not a regular file") }
            guard let data = FileManager.default.contents(atPath: path) else { throw CampaignError("\(path): cannot read") }
            do { corpus.append(try TraceParser(file: path).parseLocated(bytes: Array(data)).trace) }
            catch { throw CampaignError(error.description) }
        }
        return (state, corpus)
    }

    /// The campaign's own corpus (rounds that reached new signatures), also when resuming.
    var corpus: [Trace] = []

    /// A round's prefix: up to half a round of a seed or corpus trace's ops (boot prologue
    /// dropped), for `seededPercent` of the rounds; deterministic in the round's seed.
    func prefix(seed: UInt64, session: Session) -> [Op] {
        var rng = SeededRandom(seed: seed ^ 0x5EED)
        let pool = (seeds + corpus).filter { $0.requires.allSatisfy(session.modules.contains) }
        guard rng.chance(seededPercent), let t = rng.pick(pool) else { return [] }
        let ops = session.splitPrologue(t.steps).rest.map(\.op)
        guard !ops.isEmpty else { return [] }
        return Array(ops.prefix(1 + rng.below(min(ops.count, max(1, roundOps / 2)))))
    }

    func save() throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try enc.encode(state), to: dir.appendingPathComponent("state.json"))
    }

    /// Runs until the op budget, the deadline or a stop request. Returns the findings of this run.
    public func run(progress: (String) -> Void) async throws -> [String] {
        let start = Date()
        var known = Set(state.signatures)
        var newFindings: [String] = []
        var last: Model? = nil
        var splatted = false
        let budgetStart = state.ops
        while !stopRequested.isSet && state.ops - budgetStart < config.ops {
            if let d = config.duration, Date().timeIntervalSince(start) >= d { break }
            let session = try await guest.clean(after: last, splatted: splatted)
            var cfg = config
            cfg.seed = state.seed &* 0x9e3779b97f4a7c15 &+ UInt64(state.round)
            cfg.ops = min(roundOps, config.ops - (state.ops - budgetStart))
            cfg.progress = nil
            cfg.stop = stopRequested
            cfg.prefix = prefix(seed: cfg.seed, session: session)
            let r = await CampaignRunner.run(session, config: cfg)
            last = r.model
            splatted = r.finding.map { $0.kind != .divergence } ?? false
            let fresh = r.signatures.subtracting(known)
            if !fresh.isEmpty, let f = r.trace {
                known.formUnion(fresh)
                // A round that ended in a divergence: its last op expects what the model says.
                let t = r.finding?.modelTrace ?? f
                try AtomicFile.write(Data(TracePrinter.trace(t).utf8),
                                     to: dir.appendingPathComponent("corpus/round-\(state.round).trace"))
                corpus.append(t)
            }
            if let f = r.finding {
                lastFinding = f
                var minimized: Trace? = nil
                if minimize && !state.findings.contains(f.title) {
                    progress("minimizing: \(f.title)")
                    minimized = try? await KernelMinimizer(guest: guest).minimize(f)
                    last = nil
                    splatted = true  // the minimizer left the guest in an unknown state
                }
                let where_ = try store.save(f, minimized: minimized, manifest: guest.session.vm.config.kernel.dir)
                if !state.findings.contains(f.title) { state.findings.append(f.title); newFindings.append(where_) }
                progress("FINDING: \(f.title) -> \(where_)")
                if stopOnFinding { break }
            }
            state.round += 1
            state.ops += r.executed
            state.seconds += r.seconds
            state.signatures = known.sorted()
            try save()
            let t = Date().timeIntervalSince(start)
            progress(String(format: "round %d: %d ops, %.0f ops/s, coverage %@, %d findings, %d boots",
                            state.round, state.ops, Double(state.ops - budgetStart) / max(t, 0.001),
                            CampaignResult.describe(known), state.findings.count, guest.boots))
        }
        return newFindings
    }
}

/// A flag a signal handler may set; everything else only reads it.
public final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    public init() {}
    public var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
    public func set() { lock.lock(); value = true; lock.unlock() }
}
