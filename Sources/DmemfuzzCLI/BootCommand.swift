import ArgumentParser
import Campaign
import DmemModel
import Foundation
import Logging
import Kernel
import VM

/// Options shared by `boot` and `shell`: which kernel, accelerator, guest module parameters.
struct GuestOptions: ParsableArguments {
    @Option(help: "Kernel build directory (bzImage + modroot/). Default: vm/build-kernel.sh's (cached) build.")
    var kernel: String?
    @Option(name: .customLong("kernel-version"), help: "Debian linux-source version to build: 7.2 or 7.3.")
    var kernelVersion: String = "7.3"
    @Option(name: .customLong("kernel-tree"), help: "Build your own kernel tree instead (never modified: built from a copy).")
    var kernelTree: String?
    @Option(help: "Patch series to apply before the test patches (mbox, directory of .patch, or a diff; repeatable).")
    var series: [String] = []
    @Flag(name: .customLong("allow-fuzz"), help: "Let a --series hunk apply with less context (patch -F2), as long as it lands in the function its @@ line names; default: exactly or not at all.")
    var allowFuzz = false
    @Option(help: "Kernel config fragment added to vm/dmemfuzz.config, e.g. for an option the series adds (repeatable).")
    var config: [String] = []
    @Option(help: "Sanitizer of the guest kernel: kasan (default, with lockdep) or kcsan (data races; its own build).")
    var sanitizer: Sanitizer = .kasan
    @Option(help: "kvm or tcg (default: probe KVM with a 3 s deadline, cached; else TCG).")
    var accel: Accel?
    @Option(name: .customLong("vgem"), help: "vgem module parameters, e.g. \"dmem_regions=2 dmem_size=268435456\".")
    var vgemParams: String?
    @Option(name: .customLong("vkms"), help: "vkms module parameters, e.g. \"dmem_size=67108864\".")
    var vkmsParams: String?
    @Option(name: .customLong("append"), help: "Extra kernel command line word (repeatable).")
    var append: [String] = []
    @Option(parsing: .unconditional, help: "Memory in MiB (128...65536).", transform: Count.parser(128...65536)) var memory: Int = 1024
    @Flag(name: .customLong("no-snapshot"), help: "Boot every guest; default: restore a snapshot of the booted guest (saved beside the kernel build on the first boot).")
    var noSnapshot = false
    @OptionGroup var logging: LogOptions

    func validate() throws {
        // Module parameters the model reads its region sizes from: a value it cannot read would
        // silently leave the model at its default size while the module gets something else.
        for (flag, params) in [("--vgem", vgemParams), ("--vkms", vkmsParams)] {
            for word in (params ?? "").split(whereSeparator: { $0 == " " || $0 == "\t" }) {
                let kv = word.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard kv.count == 2, !kv[0].isEmpty else { throw ValidationError("\(flag): '\(Shown(word))' is not NAME=VALUE") }
                if ["dmem_size", "dmem_regions"].contains(kv[0]), UInt64(kv[1]).map({ $0 > 0 }) != true {
                    throw ValidationError("\(flag): '\(Shown(word))': \(kv[0]) wants a positive decimal number")
                }
            }
        }
    }

    /// Guests of one kernel build with default guest settings, the agent and initramfs done once:
    /// a guest booted again after a splat, or for each candidate of a leak's minimization, costs
    /// the restore alone (hashing the 14 MB agent for the initramfs key took about a second).
    static func pool(kernel kb: KernelBuild) async throws -> QemuPool {
        let agent = try await Initramfs.agentBinary(root: KernelBuild.packageRoot())
        return QemuPool(config: try await QemuConfig(kernel: kb, initramfs: try await Initramfs.build(kernel: kb, agent: agent)).prepared())
    }

    /// A booted guest for a command, or the one-line error and exit 2; `profile` overrides the
    /// one the kernel release names.
    func startGuest(profile: KernelProfile? = nil) async throws -> Guest {
        do { return try Guest(profile: profile, pool: try await pool()) } catch { throw Self.startError(error) }
    }

    /// The one line for a guest that could not start: a refused series or a failed kernel build
    /// says what it is in its own line; anything else is "cannot start the guest: …".
    static func startError(_ error: Error) -> BadInput {
        if let e = error as? BadInput { return e }
        if let e = error as? KernelError, case .build = e { return BadInput("\(e)") }
        return BadInput("cannot start the guest: \(error)")
    }

    func makeVM() async throws -> QemuMachine { try await makeVM(snapshots: !noSnapshot) }

    func makeVM(snapshots: Bool) async throws -> QemuMachine { QemuMachine(config: try await vmConfig(snapshots: snapshots)) }

    /// The pool of a guest that is started many times: the kernel build looked up (or built),
    /// the agent and initramfs checked, once.
    func pool() async throws -> QemuPool { QemuPool(config: try await vmConfig(snapshots: !noSnapshot)) }

    /// The configuration of this command's guests, prepared (`QemuConfig.prepare`).
    func vmConfig(snapshots: Bool) async throws -> QemuConfig {
        let kb: KernelBuild
        if let kernel { kb = try KernelBuild(dir: URL(fileURLWithPath: kernel)) }
        else { kb = try await KernelBuild.build(root: KernelBuild.packageRoot(), version: kernelVersion, series: series, tree: kernelTree, config: config, allowFuzz: allowFuzz, sanitizer: sanitizer, log: logging.logger()) }
        let agent = try await Initramfs.agentBinary(root: KernelBuild.packageRoot())
        let initrd = try await Initramfs.build(kernel: kb, agent: agent)
        var cfg = QemuConfig(kernel: kb, initramfs: initrd)
        cfg.memoryMB = memory
        cfg.accel = accel
        cfg.vgemParams = vgemParams
        cfg.vkmsParams = vkmsParams
        cfg.cmdline += append
        cfg.snapshots = snapshots
        cfg.log = logging.logger()
        try await cfg.prepare()
        return cfg
    }
}

/// A command that starts guests of `guest`: `Dmemfuzz.main` checks its series before the command
/// runs, as part of validating its arguments (a check that runs a script, so it cannot be in the
/// synchronous `validate()`).
protocol GuestCommand {
    var guest: GuestOptions { get }
}

extension GuestOptions {
    /// A series that contributes nothing is a usage error before anything is read, built or booted.
    func checkSeries() async throws {
        if kernel == nil, let problem = await KernelBuild.seriesProblem(series) { throw BadInput(problem) }
    }
}

extension BootCommand: GuestCommand {}
extension ShellCommand: GuestCommand {}
extension FuzzCommand: GuestCommand {}
extension CheckCommand: GuestCommand {}
extension ReplayCommand: GuestCommand {}
extension MinimizeCommand: GuestCommand {}
extension ReproCommand: GuestCommand {}
extension DiffCommand: GuestCommand {}
extension BenchCommand: GuestCommand {}

struct BootCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "boot",
        abstract: "Boot the guest kernel, print time-to-agent-ready and dmem.capacity, power off.")

    @OptionGroup var guest: GuestOptions
    @Flag(help: "Also print the agent's state dump (every cgroup's dmem.* files).") var state = false
    @Flag(help: "Print the whole console log.") var console = false

    func run() async throws {
        let vm = try await guest.makeVM()
        vm.keepWorkDir = true
        defer { vm.poweroff() }
        do { try vm.start() } catch let e as VMError {
            // Nothing booted (a bad setting): a setup error, one line, exit 2.
            if case .setup = e { throw BadInput("cannot start the guest: \(e)") }
            guest.logging.logger().error("boot failed: \(e)\nconsole: \(vm.consoleURL.path)")
            throw ExitCode.failure
        } catch {
            guest.logging.logger().error("boot failed: \(error)\nconsole: \(vm.consoleURL.path)")
            throw ExitCode.failure
        }
        let hello = try vm.agent.hello()
        print("kernel:       \(vm.config.kernel.dir.path) (\(hello.release))")
        print("accel:        \(vm.accel.rawValue)")
        print("started by:   \(vm.bootKind.rawValue)")
        print(String(format: "agent ready:  %.2f s after QEMU start (guest uptime %@ s)", vm.readySeconds ?? -1,
                     vm.guestReadyUptime.map { String($0) } ?? "?"))
        print("modules:      \(hello.modules)")
        print("cards:        \(hello.cards)")
        let listing = try vm.agent.interfaces()
        if let profile = KernelProfile.forRelease(hello.release) {
            let i = Interfaces(listing: listing, profile: profile, options: [])
            print("interfaces:   \(listing.split(separator: "\n").joined(separator: ", "))")
            print("profile \(profile):  \(i.summary ?? "models every dmem file and controller the kernel has")")
        }
        print("dmem.capacity:")
        print(hello.capacity.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
        if state { print(try vm.agent.state()) }
        let splats = vm.splats()
        for s in splats { print("SPLAT [\(s.kind.rawValue)] \(s.title)") }
        if console { print(vm.console) }
        print("console log:  \(vm.consoleURL.path)")
        vm.poweroff()
        if !splats.isEmpty { throw ExitCode(2) }
    }
}
