import ArgumentParser
import DmemModel
import Foundation
import Logging
import Trace
import VM

@main
struct Dmemfuzz: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dmemfuzz",
        abstract: "Test and fuzz harness for the Linux dmem cgroup controller.",
        subcommands: [ModelCommand.self, KernelCommand.self, ReplayCommand.self, FuzzCommand.self, CheckCommand.self, SelftestCommand.self, MinimizeCommand.self, DiffCommand.self, CorpusCommand.self, CoverageCommand.self, ReproCommand.self, BenchCommand.self, BootCommand.self, ShellCommand.self]
    )

    /// The one error path of every command: exit 0 clean, 1 a finding or failed check (the
    /// command printed why and threw `ExitCode(1)`), 2 a usage or setup error as ONE line on
    /// stderr naming the file or the command to run. ArgumentParser's own `main` would print
    /// the usage banner and exit 64 for the same errors.
    static func main() async {
        let args = Array(CommandLine.arguments.dropFirst())
        do {
            var command = try parseAsRoot(args)
            if let g = command as? GuestCommand { try await g.guest.checkSeries() }
            if var async = command as? AsyncParsableCommand { try await async.run() } else { try command.run() }
        } catch let code as ExitCode {
            Foundation.exit(code.rawValue)
        } catch {
            if exitCode(for: error) == .success { exit(withError: error) }   // --help, --version
            Logger.dmemfuzz().error("\(oneLine(error, args: args))")
            Foundation.exit(2)
        }
    }

    /// `dmemfuzz: <what> (dmemfuzz <sub> --help)` for a usage error; `dmemfuzz: <what>` for a
    /// setup error thrown from `run()`.
    static func oneLine(_ error: Error, args: [String]) -> String {
        let isUsage = exitCode(for: error) == .validationFailure
        var text = message(for: error)
        if text.hasPrefix("Error: ") { text.removeFirst(7) }
        // ArgumentParser quotes option values as given: an ESC or NUL in one must not reach the terminal.
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
        var head = lines.first ?? "\(error)"
        // Past a few values ArgumentParser lists them one per line ("one of the following:\n- a"): one line here.
        if head.hasSuffix("one of the following:") {
            let items = lines.dropFirst().map { $0.trimmingCharacters(in: .whitespaces) }.filter { $0.hasPrefix("- ") }.map { "'\($0.dropFirst(2))'" }
            head += " " + items.joined(separator: ", ") + "."
        }
        let first = TracePrinter.visible(head.utf8)
        guard isUsage else { return "dmemfuzz: " + first }
        // The (sub)command the arguments name, so the hint is the help that has the answer.
        var path: [String] = []
        var level: [ParsableCommand.Type] = configuration.subcommands
        for a in args {
            guard let sub = level.first(where: { ($0.configuration.commandName ?? "\($0)".lowercased()) == a }) else { break }
            path.append(a)
            level = sub.configuration.subcommands
        }
        return "dmemfuzz: \(first) (see \((["dmemfuzz"] + path).joined(separator: " ")) --help)"
    }
}

extension KernelProfile: ExpressibleByArgument {}
extension ModelOption: ExpressibleByArgument {}
extension Accel: ExpressibleByArgument {}
