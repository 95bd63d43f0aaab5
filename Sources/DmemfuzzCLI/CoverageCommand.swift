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
        var signatures: [String] = []
        for c in campaigns {
            let path = (c as NSString).appendingPathComponent("state.json")
            guard let data = FileManager.default.contents(atPath: path) else {
                throw BadInput("\(c): no state.json (a campaign directory, as `dmemfuzz fuzz --campaign` writes it)")
            }
            do { signatures += try JSONDecoder().decode(CampaignState.self, from: data).signatures }
            catch { throw BadInput("\(path): not a campaign state (\(error))") }
        }
        let build: KernelBuild
        do { build = try KernelBuild(dir: URL(fileURLWithPath: kernel)) } catch { throw BadInput("--kernel \(kernel): \(error)") }
        guard let cov = await CoverageReport.make(kernel: build, signatures: signatures) else {
            throw BadInput("\(kernel): no line map (no vmlinux, or a build from before the counted files were compiled with -g: rebuild with vm/build-kernel.sh)")
        }
        try AtomicFile.write(Data(cov.html(title: "dmemfuzz " + campaigns.joined(separator: " ")).utf8), to: URL(fileURLWithPath: output))
        print("\(cov.summary) (\(output))")
    }
}
