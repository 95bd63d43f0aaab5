import ArgumentParser
import DmemModel

@main
struct Dmemfuzz: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dmemfuzz",
        abstract: "Test and fuzz harness for the Linux dmem cgroup controller.",
        subcommands: [ModelCommand.self, KernelCommand.self, ReplayCommand.self, FuzzCommand.self, CheckCommand.self, SelftestCommand.self, MinimizeCommand.self, ReproCommand.self, BenchCommand.self, BootCommand.self, ShellCommand.self]
    )
}

extension KernelProfile: ExpressibleByArgument {}
extension ModelOption: ExpressibleByArgument {}
