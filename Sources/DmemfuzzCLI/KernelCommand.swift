import ArgumentParser
import Foundation
import Logging
import Kernel
import VM

/// `dmemfuzz kernel build`: the cached guest kernel for a source + series, built if needed.
struct KernelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "kernel", abstract: "Guest kernel builds.",
                                                    subcommands: [Build.self])

    struct Build: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Build (or find in the cache) the patched guest kernel; print its directory and manifest.")
        @Option(name: .customLong("kernel-version"), help: "Debian linux-source version: 7.2 or 7.3.") var kernelVersion = "7.3"
        @Option(name: .customLong("kernel-tree"), help: "Your own tree instead (never modified).") var kernelTree: String?
        @Option(help: "Patch series (mbox, directory of .patch, or a diff; repeatable).") var series: [String] = []
        @Flag(name: .customLong("allow-fuzz"), help: "Let a --series hunk apply with less context (patch -F2), as long as it lands in the function its @@ line names; default: exactly or not at all.")
        var allowFuzz = false
        @Option(help: "Kernel config fragment added to vm/dmemfuzz.config (repeatable).") var config: [String] = []
        @Option(help: "Sanitizer of the guest kernel: kasan (default, with lockdep) or kcsan (data races; its own build).") var sanitizer: Sanitizer = .kasan
        @OptionGroup var logging: LogOptions

        func run() async throws {
            if let problem = await KernelBuild.seriesProblem(series) { throw BadInput(problem) }
            let kb: KernelBuild
            do { kb = try await KernelBuild.build(version: kernelVersion, series: series, tree: kernelTree, config: config, allowFuzz: allowFuzz, sanitizer: sanitizer, log: logging.logger()) }
            catch { logging.logger().error("dmemfuzz: \(error)"); throw ExitCode(2) }
            print(kb.dir.path)
            print((try? String(contentsOf: kb.dir.appendingPathComponent("manifest.json"), encoding: .utf8)) ?? "")
        }
    }
}
