import ArgumentParser
import Campaign
import DmemModel
import Dispatch
import Foundation
import Logging
import Trace
import VM

/// Lockstep fuzzing of the real kernel.
struct FuzzCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fuzz",
        abstract: "Fuzz a kernel in lockstep with the model. Exit 0: nothing found; 1: a finding was written; 2: usage or setup error.")

    @OptionGroup var guest: GuestOptions
    @Option(parsing: .unconditional, help: "Generator seed.", transform: Seed.parse) var seed: UInt64 = 1
    @Option(parsing: .unconditional, help: "Stop after this many ops.", transform: Count.parser(Count.ops)) var ops: Int = 1_000_000
    @Option(parsing: .unconditional, help: "Stop after this long: 90s, 10m, 1h.", transform: FuzzDuration.parse) var duration: FuzzDuration?
    @Option(parsing: .unconditional, help: "Ops per batch sent to the guest (1...4096).", transform: Count.parser(1...4096)) var batch: Int = 16
    @Option(parsing: .unconditional, help: "Ops per round (each round starts from a clean guest).", transform: Count.parser(Count.ops)) var round: Int = 400
    @Option(name: .customLong("option"), help: "Model option (repeatable).") var options: [ModelOption] = []
    @Option(name: .customLong("max-findings"), parsing: .unconditional, help: "Stop after this many new findings (default: go on until the budget).",
            transform: Count.parser(1...1_000_000)) var maxFindings: Int?
    @Option(help: "Override the model profile (default: from the kernel release).") var profile: KernelProfile?
    @Option(help: "Where findings go (default: findings; with --shard, <campaign>/findings).") var findings: String?
    @Option(name: .customLong("campaign"), help: "Campaign directory (state.json and the corpus of traces that reached new signatures; default: campaigns/default, with --shard K/N campaigns/shard-K-of-N).")
    var campaignDir: String?
    @Option(help: "Run slice K of N of the campaign (0 <= K < N): rounds K, K+N, ... with --seed, so N machines never repeat each other's rounds; `dmemfuzz corpus merge` joins them.",
            transform: ShardArgument.parse) var shard: Shard?
    @Option(name: .customLong("race-percent"), parsing: .unconditional, help: "Share of generated ops that are racing groups (0...100; default 6). Racing rounds are not deterministic: a round run again may take other orders.",
            transform: Count.parser(0...100)) var racePercent: Int = CampaignRunner.racePercent
    @Flag(help: "Continue the campaign in --campaign from where it stopped.") var resume = false
    @Flag(help: "Do not minimize findings.") var noMinimize = false
    @Flag(help: "Leave KCOV off (coverage is then op signatures only; lockstep runs a few percent faster).") var noKcov = false
    @Option(help: "Seed traces (files or directories; repeatable): half the rounds start from a prefix of one of them or of the campaign's corpus.")
    var seeds: [String] = ["corpora"]

    var campaign: String { campaignDir ?? (shard ?? .whole).defaultCampaign }
    var findingsDir: String { findings ?? (shard == nil ? "findings" : campaign + "/findings") }

    func run() async throws {
        var cfg = CampaignConfig()
        cfg.shard = shard ?? .whole
        cfg.racePercent = racePercent
        cfg.seed = seed; cfg.ops = ops; cfg.batch = batch; cfg.options = Set(options)
        cfg.duration = duration?.seconds
        // Input first, so a bad campaign or seed is named before a kernel is built or booted.
        let seedTraces = try TraceFiles.seeds(seeds)
        let store: FindingStore
        do {
            _ = try CampaignDriver.load(dir: campaign, seed: seed, resume: resume)
            try AtomicFile.checkWritable(campaign)
            store = try FindingStore(root: findingsDir)
        } catch { throw BadInput("\(error)") }
        let g: Guest
        do { g = try Guest(profile: profile, kcov: !noKcov, pool: try guest.pool()) }
        catch { throw GuestOptions.startError(error) }
        let driver: CampaignDriver
        do { driver = try CampaignDriver(guest: g, dir: campaign, findings: store, config: cfg, resume: resume) }
        catch { g.stop(); throw BadInput("\(error)") }
        defer { driver.guest.stop() }
        driver.roundOps = round
        driver.seeds = seedTraces
        driver.minimize = !noMinimize
        driver.maxFindings = maxFindings
        // Ctrl-C: finish the batch in flight, save state and corpus, power the guest off.
        signal(SIGINT, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        let log = guest.logging.logger()
        source.setEventHandler { [stop = driver.stopRequested] in
            log.notice("\nfuzz: stopping after this batch (state is saved; --resume continues)")
            stop.set()
        }
        source.resume()
        let s = driver.guest.session
        print("kernel \(s.release), profile \(s.profile), regions: \(s.bootRegions.map(TracePrinter.op).joined(separator: ", "))")
        if let i = s.interfaces.summary { print("\(i) (the profile does not model them: read in the whole-tree reads, not compared)") }
        for w in s.seriesWarnings { print("series warning (W=1, not in the base tree): \(w)") }
        let found = try await driver.run { log.info("fuzz: \($0)") }
        let st = driver.state
        print(String(format: "%d ops in %.1f s of lockstep (%.0f ops/s), %d signatures, %d findings (%d new this run)",
                     st.ops, st.seconds, Double(st.ops) / max(st.seconds, 0.001), st.signatures.count, st.findings.count, found.count))
        for f in found { print("FINDING \(f)") }
        if !found.isEmpty { throw ExitCode(1) }
    }
}
