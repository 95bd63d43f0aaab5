import ArgumentParser
import Campaign
import DmemModel
import Foundation
import Logging
import Trace
import VM

/// The CI entry point: replay corpora/ on the kernel, then fuzz for a while; KTAP on stdout.
struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Replay corpora/ on the kernel, then fuzz for --duration; print KTAP (and optionally JUnit XML). Exit 1 on any failure.")

    @OptionGroup var guest: GuestOptions
    @Option(help: "Corpus directories or files to replay.") var corpus: [String] = ["corpora/regress"]
    @Option(parsing: .unconditional, help: "How long to fuzz after the replay (0 to skip).", transform: CheckDuration.parse)
    var duration: CheckDuration = .fuzz(FuzzDuration(seconds: 120, text: "2m"))
    @Option(parsing: .unconditional, help: "Fuzzing seed.", transform: Seed.parse) var seed: UInt64 = 1
    @Option(name: .customLong("race-percent"), parsing: .unconditional,
            help: "Share of the fuzzing ops that are racing groups (0...100; default 0: a gate must not fail on the race oracle's known gaps, README \"Racing groups\"; the corpus's race traces still replay).",
            transform: Count.parser(0...100)) var racePercent: Int = 0
    @Option(help: "Write JUnit XML here too.") var junit: String?
    @Option(help: "Write the coverage page (the series' lines, or dmem's, the campaign executed) here.") var coverageHtml: String?
    @Option(help: "Where findings go.") var findings: String = "findings"
    @Option(help: "Override the model profile (default: from the kernel release), e.g. the behaviour the series under test intends.")
    var profile: KernelProfile?
    @Option(name: .customLong("option"), help: "Model option (repeatable), added to each corpus trace's own and used for fuzzing.")
    var options: [ModelOption] = []

    func run() async throws {
        let log = guest.logging.logger()
        var interfaces: Interfaces?
        var warnings: [String] = []
        var coverage: String?
        let replayed = try await KernelReplay.run(paths: corpus, guest: guest, profile: profile, modelOptions: Set(options),
                                                  booted: { interfaces = $0.interfaces; warnings = $0.seriesWarnings }, log: { log.info("check: \($0)") })
        var results = CheckResults(cases: replayed.map {
            CheckResults.Case(name: $0.file, status: $0.status == .fail ? .fail : $0.status == .skip ? .skip : .pass,
                              detail: $0.detail, seconds: $0.seconds)
        })
        let seconds = duration.seconds
        if seconds > 0 {
            var cfg = CampaignConfig()
            cfg.seed = seed; cfg.duration = seconds; cfg.ops = .max; cfg.options = Set(options); cfg.racePercent = racePercent
            let g = try await guest.startGuest(profile: profile)
            defer { g.stop() }
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dmemfuzz-check-\(getpid())").path
            let driver = try CampaignDriver(guest: g, dir: dir, findings: try FindingStore(root: findings), config: cfg, resume: false)
            driver.seeds = try TraceFiles.seeds(corpus)
            driver.maxFindings = 1  // CI fail-fast: the first finding fails the check
            let found = try await driver.run { log.info("check: \($0)") }
            try? FileManager.default.removeItem(atPath: dir)
            let st = driver.state
            if let cov = await CoverageReport.make(kernel: g.session.vm.kernel, signatures: st.signatures) {
                coverage = cov.summary
                log.info("check: \(cov.summary)")
                if let coverageHtml {
                    try AtomicFile.write(Data(cov.html(title: "dmemfuzz check, kernel \(g.session.release)").utf8), to: URL(fileURLWithPath: coverageHtml))
                }
            }
            results.cases.append(CheckResults.Case(name: "fuzz \(duration) seed \(seed)" + (racePercent > 0 ? " races \(racePercent)%" : ""), status: found.isEmpty ? .pass : .fail,
                                                   detail: found.isEmpty ? "\(st.ops) ops, \(st.signatures.count) signatures" : "findings: " + found.joined(separator: ", "),
                                                   seconds: st.seconds))
        }
        // what the kernel has that the model does not check, one diagnostic each
        results.diagnostics += (interfaces?.unmodeled ?? []).map { "unmodeled: \($0)" }
        results.diagnostics += (interfaces?.absent ?? []).map { "modeled but absent: \($0)" }
        results.diagnostics += warnings.map { "series warning: \($0)" }
        if let coverage { results.diagnostics.append(coverage) }
        if profile != nil || !options.isEmpty {
            results.diagnostics.append("model: profile \(profile.map(\.rawValue) ?? "from the kernel release")"
                                       + (options.isEmpty ? "" : ", options " + options.map(\.rawValue).joined(separator: " ")))
        }
        print(results.ktap(), terminator: "")
        if let junit { try AtomicFile.write(Data(results.junit().utf8), to: URL(fileURLWithPath: junit)) }
        if results.failed { throw ExitCode(1) }
    }
}
