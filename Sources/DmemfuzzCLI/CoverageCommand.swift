import ArgumentParser
import Campaign
import Foundation
import Kernel

/// `dmemfuzz coverage`: the coverage page of a saved campaign (its state.json's KCOV PCs) on
/// the kernel it ran, again: after `corpus merge` of shards, or for another look.
struct CoverageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coverage",
        abstract: "Write the coverage page of a campaign: the series' lines (or dmem's) its KCOV PCs reached, on the kernel build it ran.")

    @Argument(help: "Campaign directories (their state.json; several are joined, as shards of one campaign).") var campaigns: [String]
    @Option(help: "Kernel build directory the campaign ran (bzImage, vmlinux, manifest.json).") var kernel: String
    @Option(help: "Where the page goes.") var output: String = "coverage.html"

    func run() async throws {
        let build: KernelBuild
        do { build = try KernelBuild(dir: URL(fileURLWithPath: kernel)) } catch { throw BadInput("--kernel \(kernel): \(error)") }
        var signatures: [String] = []
        for c in campaigns {
            do { signatures += try CampaignDriver.load(dir: c, seed: 0, resume: true).0.signatures } catch { throw BadInput("\(error)") }
        }
        guard let cov = await CoverageReport.make(kernel: build, signatures: signatures) else {
            throw BadInput("\(kernel): no line map (no vmlinux, or a build from before the counted files were compiled with -g: rebuild with vm/build-kernel.sh)")
        }
        try AtomicFile.write(Data(cov.html(title: "dmemfuzz " + campaigns.joined(separator: " ")).utf8), to: URL(fileURLWithPath: output))
        print("\(cov.summary) (\(output))")
    }
}
