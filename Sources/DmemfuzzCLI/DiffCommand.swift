import ArgumentParser
import Campaign
import DmemModel
import Foundation
import Logging
import Fuzz
import Trace
import Kernel
import VM

/// `dmemfuzz diff --series S`: what a series changes, kernel against kernel.
struct DiffCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Replay the corpus and a fixed set of generated traces on the base kernel and on the kernel with --series, compare kernel against kernel (no model), and print every behaviour change with a minimized trace. Exit 0 when nothing changed, 1 otherwise.")

    @Argument(help: "Corpus trace files or directories (default: corpora/).") var corpus: [String] = []
    @OptionGroup var guest: GuestOptions
    @Option(name: .customLong("base-series"), help: "Series applied on both kernels (the patched side then adds --series on top; repeatable).")
    var baseSeries: [String] = []
    @Option(name: .customLong("base-kernel"), help: "A built base kernel directory instead of building it.") var baseKernel: String?
    @Option(parsing: .unconditional, help: "Generated traces (seeds --seed, --seed+1, ...; 0...1000).", transform: Count.parser(0...1000)) var generated: Int = 12
    @Option(parsing: .unconditional, help: "Ops per generated trace (1...100000).", transform: Count.parser(1...100_000)) var ops: Int = 150
    @Option(help: "First seed of the generated traces.", transform: Seed.parse) var seed: UInt64 = 1
    @Option(parsing: .unconditional, help: "Most candidate runs per change when minimizing (0: do not minimize).", transform: Count.parser(0...100_000)) var attempts: Int = 80
    @Option(help: "Directory for the minimized traces and table.txt.") var output: String = "diff"
    @Option(help: "Model profile the traces are generated under (default: from the base kernel's release).") var profile: KernelProfile?
    @Option(name: .customLong("option"), help: "Model option for the generated traces (repeatable).") var options: [ModelOption] = []

    func validate() throws {
        if guest.series.isEmpty && guest.kernel == nil {
            throw ValidationError("diff compares a patched kernel with its base: give --series FILE (or --kernel DIR)")
        }
    }

    func run() async throws {
        if let p = await KernelBuild.seriesProblem(baseSeries) { throw BadInput(p) }
        var baseOptions = guest
        baseOptions.series = baseSeries
        baseOptions.kernel = baseKernel
        var patchedOptions = guest
        if guest.kernel == nil { patchedOptions.series = baseSeries + guest.series }
        let traces = try loadCorpus(corpus.isEmpty ? [KernelBuild.packageRoot().appendingPathComponent("corpora").path] : corpus)

        let base = try await baseOptions.startGuest(profile: profile)
        defer { base.stop() }
        let patched = try await patchedOptions.startGuest(profile: profile)
        defer { patched.stop() }
        let bs = base.session, ps = patched.session
        say("base:    \(bs.release) (\(bs.vm.kernel.dir.lastPathComponent))" + seriesLine(bs))
        say("patched: \(ps.release) (\(ps.vm.kernel.dir.lastPathComponent))" + seriesLine(ps))

        let iface = BehaviourDiff.InterfaceChange(base: bs.interfaces, patched: ps.interfaces)
        if !iface.added.isEmpty { say("interfaces the patched kernel adds: \(iface.added.joined(separator: ", "))") }
        if !iface.removed.isEmpty { say("interfaces the patched kernel removes: \(iface.removed.joined(separator: ", "))") }

        // The trace set: every corpus trace both kernels can run, then generated ones.
        var set: [(String, Trace)] = []
        for (file, t) in traces {
            let missing = t.requires.first { !bs.modules.contains($0) || !ps.modules.contains($0) }
            if missing == nil, t.holds(for: bs.profile) { set.append((file, t)) }
        }
        let corpusCount = set.count
        for k in 0..<generated {
            // No racing groups: only what a kernel does the same way every time can be compared
            // with another kernel without a model (the corpus's racing traces are rerun instead).
            var (gen, t) = CampaignRunner.generator(for: bs, seed: seed &+ UInt64(k), options: Set(options), racePercent: 0)
            var exec = bs.freshModel(options: t.options)
            t.steps += gen.steps(ops: ops, on: &exec).dropFirst(gen.prologue().count)
            set.append(("generated seed \(seed &+ UInt64(k))", t))
        }
        say("traces: \(corpusCount) from the corpus + \(generated) generated (\(ops) ops, seeds \(seed)...\(seed &+ UInt64(max(generated, 1) - 1)))")

        var changes: [(source: String, change: BehaviourDiff.Change)] = []
        var splats: [String] = []
        var racy: [String] = []
        var opsRun = 0
        for (name, t) in set {
            let b = try await base.runKernelOnly(t), p = try await patched.runKernelOnly(t)
            opsRun += b.ops.count
            for s in b.splats { splats.append("base, \(name): \(s.title)") }
            for s in p.splats { splats.append("patched, \(name): \(s.title)") }
            if let c = BehaviourDiff.firstChange(ops: b.ops, base: b.outcomes, patched: p.outcomes) {
                if BehaviourDiff.followsRace(b.ops, through: c.index), try await !Self.stays(c, in: t, base: base, patched: patched) {
                    racy.append(name)
                    say("race    \(name): op \(c.index + 1): \(c.kind) did not stay over \(BehaviourDiff.raceReruns) reruns: not counted")
                    continue
                }
                changes.append((name, c))
                say("change  \(name): op \(c.index + 1): \(c.kind)")
            }
        }
        var groups = BehaviourDiff.group(changes)
        say("\(set.count) traces, \(opsRun) ops on each kernel (\(base.startsDescription) base, \(patched.startsDescription) patched)")

        // One minimized trace per distinct change, from the shortest trace that showed it.
        let out = URL(fileURLWithPath: output)
        for i in groups.indices where attempts > 0 {
            let g = groups[i]
            guard let (name, t) = g.sources.compactMap({ src in set.first { $0.0 == src } })
                .min(by: { $0.1.steps.count < $1.1.steps.count }) else { continue }
            say("minimizing \(g.kind) (from \(name))")
            let prologue = bs.splitPrologue(t.steps).prologue
            var body = t
            body.steps = Array(bs.splitPrologue(t.steps).rest.prefix(through: changes.first { $0.source == name }!.change.index))
            var shrinker = Shrinker(maxAttempts: attempts) { cand in
                var full = cand
                full.steps = prologue + cand.steps
                return try await Self.change(in: full, base: base, patched: patched)?.kind == g.kind
            }
            let small = try await shrinker.minimize(body)
            var full = small
            full.steps = prologue + small.steps
            // Confirm, and record the base kernel's outcomes as the expectations.
            let b = try await base.runKernelOnly(full), p = try await patched.runKernelOnly(full)
            guard let c = BehaviourDiff.firstChange(ops: b.ops, base: b.outcomes, patched: p.outcomes), c.kind == g.kind else {
                groups[i].note = "did not show again when minimized (flaky?)"; continue
            }
            full.steps = prologue + zip(b.ops, b.outcomes).map { Step($0, expect: $1) }.prefix(through: c.index)
            groups[i].minimized = full
            groups[i].minimizedChange = c
            let file = out.appendingPathComponent(String(format: "change-%02d.trace", i + 1))
            try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
            try TracePrinter.trace(full, comments: [
                "dmemfuzz diff: \(g.kind)",
                "base \(bs.release) (\(bs.vm.kernel.dir.lastPathComponent)) gives the expectations below;",
                "patched (\(ps.vm.kernel.dir.lastPathComponent)) gives \(c.patched.map(TracePrinter.outcome) ?? "no answer") at the last op",
            ]).write(to: file, atomically: true, encoding: .utf8)
            groups[i].note = "trace: \(file.path)"
        }
        let table = BehaviourDiff.table(groups, traces: set.count, racy: racy)
            + (iface.isEmpty ? "" : "interfaces: " + (iface.added.map { "+" + $0 } + iface.removed.map { "-" + $0 }).joined(separator: " ") + "\n")
            + (splats.isEmpty ? "" : "splats:\n" + splats.map { "  " + $0 + "\n" }.joined())
        print(table, terminator: "")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        try table.write(to: out.appendingPathComponent("table.txt"), atomically: true, encoding: .utf8)
        if !groups.isEmpty || !iface.isEmpty || !splats.isEmpty { throw ExitCode(1) }
    }

    /// The first behaviour change of `t` between the two kernels, each run in a clean guest.
    static func change(in t: Trace, base: Guest, patched: Guest) async throws -> BehaviourDiff.Change? {
        let b = try await base.runKernelOnly(t), p = try await patched.runKernelOnly(t)
        return BehaviourDiff.firstChange(ops: b.ops, base: b.outcomes, patched: p.outcomes)
    }

    /// A change after a racing group is the series' only if every rerun on both kernels shows
    /// it again at the same op: a race that went the other way once is the order, not the series.
    static func stays(_ c: BehaviourDiff.Change, in t: Trace, base: Guest, patched: Guest) async throws -> Bool {
        for _ in 0..<BehaviourDiff.raceReruns {
            guard let again = try await change(in: t, base: base, patched: patched), again.index == c.index, again.kind == c.kind else { return false }
        }
        return true
    }

    func seriesLine(_ s: Session) -> String {
        guard let m = try? s.vm.kernel.manifest() else { return "" }
        let applied = m.appliedPatches.filter { $0.kind == "series" }
        guard !applied.isEmpty else { return ", no series" }
        return ", \(applied.count) patch\(applied.count == 1 ? "" : "es"): " + applied.map { "\"\($0.subject ?? $0.file)\"" }.joined(separator: ", ")
    }

    func loadCorpus(_ paths: [String]) throws -> [(String, Trace)] {
        var out: [(String, Trace)] = [], bad: [BadInput] = []
        for (file, loaded) in try TraceFiles.walk(paths) {
            switch loaded {
            case .success(let (t, _)): out.append((file, t))
            case .failure(let e): bad.append(e)
            }
        }
        if let first = bad.first { throw BadInput(bad.count > 1 ? "\(first) (and \(bad.count - 1) more unusable)" : first.description) }
        return out
    }

    func say(_ line: String) { guest.logging.logger().info("diff: \(line)") }
}
