import AgentProtocol
import ArgumentParser
import Foundation
import Logging
import VM

struct ShellCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shell",
        abstract: "Interactive guest shell: each stdin line runs in busybox sh in the guest (`exit` or EOF quits).")

    @OptionGroup var guest: GuestOptions
    @Option(help: "Per-command timeout, seconds.") var timeout: Double = 120

    func run() async throws {
        let vm = try await guest.makeVM()
        vm.keepWorkDir = true
        defer { vm.poweroff() }
        try vm.start()
        let hello = try vm.agent.hello()
        let log = guest.logging.logger()
        log.info("\(String(format: "guest %@ ready in %.2f s (%@); console: %@", hello.release, vm.readySeconds ?? -1, vm.accel.rawValue, vm.consoleURL.path))")
        var seen = 0
        while true {
            _ = "guest# ".withCString { write(2, $0, strlen($0)) }  // the prompt, not a message: no newline
            guard let line = readLine(strippingNewline: true) else { break }
            if line == "exit" || line == "quit" { break }
            if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            do {
                let r = line.hasPrefix("@") ? (0, try vm.agent.raw(try AgentRequest.decode(String(line.dropFirst()), next: { nil }),
                                                                   timeout: timeout).map { $0 + "\n" }.joined())
                                            : try vm.agent.shell(line, timeout: timeout)
                FileHandle.standardOutput.write(Data(r.1.utf8))  // unbuffered: keep order with stderr
                if r.0 != 0 { log.notice("[exit \(r.0)]") }
            } catch {
                log.error("error: \(error)")
                if !vm.isRunning { break }
            }
            let splats = vm.awaitSplats(moreThan: seen, timeout: 0.5, quiet: 0.2)
            for s in splats.dropFirst(seen) { log.warning("SPLAT [\(s.kind.rawValue)] \(s.title)") }
            seen = splats.count
        }
    }
}
