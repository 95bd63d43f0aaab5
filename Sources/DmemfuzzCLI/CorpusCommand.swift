import ArgumentParser
import Campaign
import Foundation

/// Corpus maintenance across machines.
struct CorpusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "corpus",
        abstract: "Corpus maintenance: merge the corpora and findings of campaigns run apart (shards).",
        subcommands: [Merge.self])

    struct Merge: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "merge",
            abstract: "Join campaign directories into one: each corpus signature keeps its smallest trace, findings are deduplicated by title. Exit 0, or 2 on unusable input.")

        @Argument(help: "Campaign directories (their corpus/ and findings/), or directories of traces.") var dirs: [String]
        @Option(help: "The directory to merge into (created if missing; what it holds already counts).") var into: String

        func run() throws {
            guard !dirs.isEmpty else { throw BadInput("corpus merge: no directories to merge (dmemfuzz corpus merge DIR... --into DIR)") }
            let summary: CorpusMerge.Summary
            do { summary = try CorpusMerge.run(inputs: dirs, into: into) } catch { throw BadInput("\(error)") }
            print("merged \(dirs.count) directories into \(into): \(summary)")
            for t in summary.duplicateTitles { print("  same title, kept once: \(t)") }
        }
    }
}
