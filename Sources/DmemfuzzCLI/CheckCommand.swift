import ArgumentParser
import Campaign
import DmemModel
import Foundation
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
    @Option(help: "Write JUnit XML here too.") var junit: String?
    @Option(help: "Where findings go.") var findings: String = "findings"
    @Option(help: "Override the model profile (default: from the kernel release), e.g. the behaviour the series under test intends.")
    var profile: KernelProfile?
    @Option(name: .customLong("option"), help: "Model option (repeatable), added to each corpus trace's own and used for fuzzing.")
    var options: [ModelOption] = []

    func run() async throws {
        var lines: [String] = []
        var interfaces: Interfaces?
        let results = try await KernelReplay.run(paths: corpus, guest: guest, profile: profile, modelOptions: Set(options),
                                                 booted: { interfaces = $0.interfaces }, log: { FileHandle.standardError.write(Data("check: \($0)\n".utf8)) })
        var cases: [(name: String, ok: Bool, skip: Bool, detail: String, seconds: Double)] =
            results.map { ($0.file, $0.status != .fail, $0.status == .skip, $0.detail, $0.seconds) }
        let seconds = duration.seconds
        if seconds > 0 {
            var cfg = CampaignConfig()
            cfg.seed = seed; cfg.duration = seconds; cfg.ops = .max; cfg.options = Set(options)
            let g = try guest.startGuest(profile: profile)
            defer { g.stop() }
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dmemfuzz-check-\(getpid())").path
            let driver = try CampaignDriver(guest: g, dir: dir, findings: try FindingStore(root: findings), config: cfg, resume: false)
            driver.seeds = try TraceFiles.seeds(corpus)
            let found = try await driver.run { FileHandle.standardError.write(Data("check: \($0)\n".utf8)) }
            try? FileManager.default.removeItem(atPath: dir)
            let st = driver.state
            cases.append(("fuzz \(duration) seed \(seed)", found.isEmpty, false,
                          found.isEmpty ? "\(st.ops) ops, \(st.signatures.count) signatures" : "findings: " + found.joined(separator: ", "), st.seconds))
        }
        lines.append("KTAP version 1")
        lines.append("1..\(cases.count)")
        // what the kernel has that the model does not check, one diagnostic each
        for u in interfaces?.unmodeled ?? [] { lines.append("# unmodeled: \(u)") }
        for a in interfaces?.absent ?? [] { lines.append("# modeled but absent: \(a)") }
        if profile != nil || !options.isEmpty {
            lines.append("# model: profile \(profile.map(\.rawValue) ?? "from the kernel release")" + (options.isEmpty ? "" : ", options " + options.map(\.rawValue).joined(separator: " ")))
        }
        for (i, c) in cases.enumerated() {
            let directive = c.skip ? " # SKIP \(c.detail)" : (c.detail.isEmpty ? "" : " # \(c.detail)")
            lines.append("\(c.ok ? "ok" : "not ok") \(i + 1) \(c.name)\(c.ok || c.skip ? directive : "")")
            if !c.ok { lines.append("# \(c.detail)") }
        }
        let failed = cases.filter { !$0.ok }.count
        lines.append("# \(cases.filter { $0.ok && !$0.skip }.count) passed, \(failed) failed, \(cases.filter(\.skip).count) skipped")
        print(lines.joined(separator: "\n"))
        if let junit {
            func esc(_ s: String) -> String {
                s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                    .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
            }
            var x = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuite name=\"dmemfuzz check\" tests=\"\(cases.count)\" failures=\"\(failed)\" skipped=\"\(cases.filter(\.skip).count)\">\n"
            for c in cases {
                x += "  <testcase name=\"\(esc(c.name))\" time=\"\(String(format: "%.2f", c.seconds))\">"
                if c.skip { x += "<skipped message=\"\(esc(c.detail))\"/>" }
                else if !c.ok { x += "<failure message=\"\(esc(c.detail))\"/>" }
                x += "</testcase>\n"
            }
            x += "</testsuite>\n"
            try AtomicFile.write(Data(x.utf8), to: URL(fileURLWithPath: junit))
        }
        if failed > 0 { throw ExitCode(1) }
    }
}
