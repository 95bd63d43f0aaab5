import DmemModel
import Fuzz
import Trace
import VM
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What survives a Ctrl-C: `--resume` continues from the next round with the same coverage.
public struct CampaignState: Codable, Sendable {
    public var seed: UInt64
    public var round = 0
    public var ops = 0
    public var seconds = 0.0
    public var signatures: [String] = []
    public var findings: [String] = []
    /// Rounds that ended at an inconclusive divergence (Divergence.inconclusive); optional so an
    /// older state.json still reads.
    public var inconclusiveRounds: Int? = nil
    /// The round a stop request or the deadline cut short. `--resume` runs it again from its
    /// start in a fresh guest (same seed, same prefix, same size) to rebuild the kernel state,
    /// counts only the ops after the first `ops`, and goes on to `size`: an interrupted and
    /// resumed campaign executes and records the ops an uninterrupted one does.
    public var inFlight: InFlight? = nil

    public struct InFlight: Codable, Sendable, Equatable {
        public var round: Int
        /// Ops of the round already counted in `CampaignState.ops`.
        public var ops: Int
        /// The round's size when it started.
        public var size: Int
        /// Signatures the cut round added to `signatures` (not known before it started).
        public var fresh: [String]
    }
}

/// A campaign directory that cannot be used, as one line naming the file.
public struct CampaignError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Atomic file writes: a temporary file in the same directory, written in full and flushed,
/// then rename(2). A write that fails (a full disk, a read-only or missing directory) removes
/// the temporary file and throws one line naming the file and the errno: the file is either
/// the old one or the new one, never a part, and no temporary file is left behind.
public enum AtomicFile {
    public static func write(_ data: Data, to url: URL) throws {
        let tmp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
        func fail(_ what: String, _ e: Int32) -> CampaignError {
            unlink(tmp.path)
            return CampaignError("\(url.path): cannot \(what): \(String(cString: strerror(e)))")
        }
        let fd = open(tmp.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw CampaignError("\(url.path): cannot write: \(String(cString: strerror(errno)))") }
        var off = 0
        let e: Int32 = data.withUnsafeBytes { raw in
            while off < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + off, raw.count - off)
                if n < 0 { if errno == EINTR { continue }; return errno }
                off += n
            }
            return fsync(fd) == 0 ? 0 : errno
        }
        if close(fd) != 0 && e == 0 { throw fail("write", errno) }
        if e != 0 { throw fail("write", e) }
        if rename(tmp.path, url.path) != 0 { throw fail("rename \(tmp.lastPathComponent) into place", errno) }
    }

    /// mkdir -p, with the same one-line errors (`findings: cannot create directory: Not a directory`).
    public static func makeDirectory(_ path: String) throws {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir) {
            guard isDir.boolValue else { throw CampaignError("\(path): not a directory") }
            return
        }
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty && parent != path { try makeDirectory(parent) }
        if mkdir(path, 0o755) != 0 && errno != EEXIST {
            throw CampaignError("\(path): cannot create directory: \(String(cString: strerror(errno)))")
        }
    }

    /// A directory files can be created in: exists (created if missing) and is writable, checked
    /// before a guest boots so an unusable findings or campaign directory is a setup error.
    public static func checkWritable(_ path: String) throws {
        try makeDirectory(path)
        if access(path, W_OK | X_OK) != 0 { throw CampaignError("\(path): not writable: \(String(cString: strerror(errno)))") }
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
    /// Guests a minimization runs candidates on (`KernelMinimizer.jobs`): the campaign waits
    /// for it, so its cores are free; one for a job of `fuzz --jobs`, whose siblings use them.
    public var minimizeJobs = KernelMinimizer.defaultJobs
    /// Traces rounds may start from (the seed corpus; the campaign's own corpus joins them).
    public var seeds: [Trace] = []
    /// Share of rounds that start from a prefix of a seed or corpus trace.
    public var seededPercent = 50
    /// Stop at the first finding (selftest) instead of going on in a new guest.
    public var stopOnFinding = false
    /// Stop once this many new findings (titles this campaign had not seen) were saved: CI
    /// fail-fast (`fuzz --max-findings`, `check` uses 1).
    public var maxFindings: Int? = nil
    public private(set) var lastFinding: Finding?
    public private(set) var state: CampaignState
    /// Ops the last `run` executed (a resumed campaign's state counts the earlier runs too).
    public private(set) var opsThisRun = 0
    /// Set from a signal handler; checked between batches.
    public let stopRequested: StopFlag
    /// The other jobs of a `fuzz --jobs N` campaign (nil: this driver is the campaign).
    public let shared: SharedCampaign?

    public init(guest: Guest, dir: String, findings: FindingStore, config: CampaignConfig, resume: Bool,
                shared: SharedCampaign? = nil) throws {
        self.guest = guest; self.store = findings; self.config = config
        self.shared = shared
        stopRequested = shared?.stop ?? StopFlag()
        self.dir = URL(fileURLWithPath: dir)
        try AtomicFile.checkWritable(self.dir.appendingPathComponent("corpus").path)
        try AtomicFile.checkWritable(self.dir.path)
        let loaded = try Self.loadNamed(dir: dir, seed: config.seed, resume: resume)
        state = loaded.0
        corpus = loaded.1.map(\.trace)
        corpusRounds = loaded.1.map { Self.round(ofCorpusFile: $0.name) }
    }

    /// A campaign directory's state (with `resume`; else a fresh one for `seed`) and its corpus.
    /// Callable before a guest boots, so a bad campaign is a setup error and not a boot later.
    /// A corpus trace that cannot be read or parsed is an error naming it (file:line:col), never
    /// skipped: resuming without it would silently forget the coverage it stands for.
    public static func load(dir: String, seed: UInt64, resume: Bool) throws -> (CampaignState, [Trace]) {
        let (state, corpus) = try loadNamed(dir: dir, seed: seed, resume: resume)
        return (state, corpus.map(\.trace))
    }

    static func loadNamed(dir: String, seed: UInt64, resume: Bool) throws -> (CampaignState, [(name: String, trace: Trace)]) {
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
        var corpus: [(name: String, trace: Trace)] = []
        for f in try corpusNames(under("corpus")) where f.hasSuffix(".trace") {
            let path = under("corpus", f)
            let type = (try? FileManager.default.attributesOfItem(atPath: path)[.type]) as? FileAttributeType
            guard type == .typeRegular else { throw CampaignError("\(path): not a regular file") }
            guard let data = FileManager.default.contents(atPath: path) else {
                throw CampaignError("\(path): cannot read: \(String(cString: strerror(access(path, R_OK) == 0 ? EIO : errno)))")
            }
            do { corpus.append((f, try TraceParser(file: path).parseLocated(bytes: Array(data)).trace)) }
            catch { throw CampaignError(error.description) }
        }
        return (state, corpus)
    }

    /// The names in a corpus directory, sorted; none when it does not exist yet (a new
    /// campaign), an error when it exists and cannot be listed (resuming without it would
    /// forget its coverage).
    static func corpusNames(_ path: String) throws -> [String] {
        guard let d = opendir(path) else {
            if errno == ENOENT { return [] }
            throw CampaignError("\(path): cannot list: \(String(cString: strerror(errno)))")
        }
        defer { closedir(d) }
        var names: [String] = []
        while let ent = readdir(d) {
            let name = withUnsafeBytes(of: ent.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// The campaign's own corpus (rounds that reached new signatures), also when resuming.
    var corpus: [Trace] = []
    /// The round each corpus trace is from (`corpus/round-N.trace`; -1 for another name).
    var corpusRounds: [Int] = []

    static func round(ofCorpusFile name: String) -> Int {
        guard name.hasPrefix("round-"), name.hasSuffix(".trace") else { return -1 }
        return Int(name.dropFirst(6).dropLast(6)) ?? -1
    }

    /// A round's prefix: up to half a round of a seed or corpus trace's ops (boot prologue
    /// dropped), for `seededPercent` of the rounds; deterministic in the round's seed and in the
    /// corpus of the rounds before it (a trace saved by this round when it was cut short, or by
    /// a later round, is not in the pool, so a resumed round starts as it did the first time).
    func prefix(seed: UInt64, session: Session, round: Int) -> [Op] {
        var rng = SeededRandom(seed: seed ^ 0x5EED)
        let earlier = zip(corpus, corpusRounds).filter { $0.1 < round }.map(\.0)
        let pool = (seeds + earlier).filter { $0.requires.allSatisfy(session.modules.contains) }
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
        shared?.merge(signatures: state.signatures, titles: state.findings)
        var newFindings: [String] = []
        let budgetStart = state.ops
        while !stopRequested.isSet && state.ops - budgetStart < config.ops {
            if let d = config.duration, Date().timeIntervalSince(start) >= d { break }
            let session = try await guest.clean()
            // The round a stop request or the deadline cut short, run again from its start.
            let resumed = state.inFlight.flatMap { $0.round == state.round ? $0 : nil }
            var cfg = config
            let global = config.shard.globalRound(state.round)
            cfg.seed = state.seed &* 0x9e3779b97f4a7c15 &+ UInt64(global)
            let left = config.ops - (state.ops - budgetStart)
            cfg.ops = min(resumed?.size ?? roundOps, (resumed?.ops ?? 0) + left)
            cfg.progress = nil
            cfg.stop = stopRequested
            cfg.prefix = prefix(seed: cfg.seed, session: session, round: global)
            var r = await CampaignRunner.run(session, config: cfg)
            if r.finding == nil, r.inconclusive == nil, let m = r.model {
                // A splat while the round's state is torn down is the round's finding.
                if let td = await guest.finish(after: m, splatsSeen: r.splatsSeen), let t = r.trace {
                    r.finding = Finding.duringTeardown(t, model: m, teardown: td, session: session)
                }
            } else {
                guest.markDirty()
            }
            // What this round adds, measured against what was known when it first started.
            let fresh = shared?.claim(r.signatures, reclaiming: resumed?.fresh ?? [])
                ?? r.signatures.subtracting(known.subtracting(resumed?.fresh ?? []))
            if !fresh.isEmpty, let f = r.trace {
                known.formUnion(fresh)
                // A round that ended in a divergence: its last op expects what the model says.
                let t = r.finding?.modelTrace ?? f
                try AtomicFile.write(Data(TracePrinter.trace(t).utf8),
                                     to: dir.appendingPathComponent("corpus/round-\(config.shard.globalRound(state.round)).trace"))
                if let i = corpusRounds.firstIndex(of: global) { corpus[i] = t } else { corpus.append(t); corpusRounds.append(global) }
            }
            if let d = r.inconclusive {
                state.inconclusiveRounds = (state.inconclusiveRounds ?? 0) + 1
                progress("round \(state.round): ended inconclusive, not a finding: the oracle had more states than it keeps (\(Lockstep<ModelExecutor>.maxAlternatives)) when op \(d.index + 1) diverged")
            }
            let cut = r.finding == nil && r.inconclusive == nil && r.executed < cfg.ops
            if let f = r.finding {
                lastFinding = f
                var minimized: Trace? = nil
                let isNew = shared?.claimFinding(f.title) ?? !state.findings.contains(f.title)
                if minimize && isNew {
                    progress("minimizing: \(f.title)")
                    do { minimized = try await KernelMinimizer(guest: guest, jobs: minimizeJobs).minimize(f) }
                    catch { progress("not minimized: \(error)") }
                    guest.markDirty()  // the minimizer left the guest in an unknown state
                }
                let kernelDir = guest.session.vm.kernel.dir
                let where_ = try shared?.exclusive { try store.save(f, minimized: minimized, manifest: kernelDir) }
                    ?? store.save(f, minimized: minimized, manifest: kernelDir)
                if !state.findings.contains(f.title) { state.findings.append(f.title) }
                if isNew { newFindings.append(where_) }
                progress("FINDING: \(f.title) -> \(where_)")
                if stopOnFinding { break }
                let found = shared?.newFindings ?? newFindings.count
                if let m = maxFindings, found >= m {
                    progress("stopping after \(found) new finding\(found == 1 ? "" : "s") (--max-findings \(m))")
                    stopRequested.set()  // the other jobs stop after their batch
                    break
                }
            }
            // Ops the first attempt at a resumed round already counted are not counted again.
            state.ops += max(0, r.executed - (resumed?.ops ?? 0))
            if cut {
                state.inFlight = .init(round: state.round, ops: max(r.executed, resumed?.ops ?? 0), size: resumed?.size ?? cfg.ops,
                                       fresh: Set(resumed?.fresh ?? []).union(fresh).sorted())
            } else {
                state.inFlight = nil
                state.round += 1
            }
            state.seconds += r.seconds
            opsThisRun = state.ops - budgetStart
            state.signatures = known.sorted()
            try save()
            let t = Date().timeIntervalSince(start)
            progress(String(format: "round %d: %d ops, %.0f ops/s, coverage %@, %d findings, %@",
                            state.round, state.ops, Double(state.ops - budgetStart) / max(t, 0.001),
                            shared?.coverage ?? CampaignResult.describe(known), state.findings.count, guest.startsDescription))
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
