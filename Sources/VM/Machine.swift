import AgentProtocol
import Foundation
import Kernel
import Splat

// The guest abstraction, in the spirit of syzkaller's vm/vmimpl: a `MachinePool` makes guests of
// one kernel and configuration (vmimpl.Pool), a `Machine` is one running guest (vmimpl.Instance).
// The campaign (Guest, Session) speaks only these protocols; QemuPool/QemuMachine are the one
// implementation that boots real kernels, and a test can drive the campaign with an in-process one.

/// How a guest came up: booted, or restored from a snapshot of a booted guest.
public enum BootKind: String, Sendable { case cold = "cold boot", restored = "snapshot restore" }

/// Makes running guests of one kernel build and configuration.
public protocol MachinePool: AnyObject {
    /// The kernel every guest of the pool runs (its modules, features and KCOV ranges).
    var kernel: KernelBuild { get }
    /// The module parameters the guests load vgem and vkms with (nil: the test patches' defaults).
    var vgemParams: String? { get }
    var vkmsParams: String? { get }
    /// Guests may come from a snapshot of a booted guest instead of a boot (once one is saved).
    var canRestore: Bool { get }
    /// A new guest whose agent is ready for requests.
    func create() throws -> any Machine
}

/// One running guest with the agent in it. Every request goes through `agent` (typed, AgentClient)
/// over the machine's line transport.
public protocol Machine: AgentTransport {
    var kernel: KernelBuild { get }
    var vgemParams: String? { get }
    var vkmsParams: String? { get }
    var bootKind: BootKind { get }
    /// Seconds from the machine's start to the agent's ready line (or hello after a restore).
    var readySeconds: Double? { get }
    var isRunning: Bool { get }
    /// The console text so far (boot log included).
    var console: String { get }
    /// How much console there is, cheaply: `awaitSplats` waits for it to stop growing.
    var consoleSize: Int { get }
    /// Asks the agent to power off, then makes sure the guest is gone.
    func poweroff(timeout: Double)
    /// Kills the guest: `grace` seconds for a clean exit, then at once. Keeps its console.
    func stop(grace: Double)
    /// Stops the guest and removes what it left behind (console included).
    func cleanup()
    /// Whether `saveSnapshot` can save this guest for later `restored` starts.
    var canSnapshot: Bool { get }
    /// Saves the running guest so that later machines of its configuration restore it.
    func saveSnapshot() throws
}

extension Machine {
    /// The agent in this guest.
    public var agent: AgentClient { AgentClient(self) }

    /// One typed request and its reply (a `fail` reply throws).
    public func request(_ r: AgentRequest, timeout: Double = 60) throws -> AgentReply { try agent.call(r, timeout: timeout) }

    public func splats() -> [Splat] { SplatParser.parse(console) }

    public var consoleSize: Int { console.utf8.count }
    public var canSnapshot: Bool { false }
    public func saveSnapshot() throws { throw VMError.setup("this machine cannot save snapshots") }
    public func poweroff() { poweroff(timeout: 15) }
    public func stop() { stop(grace: 3) }

    /// Splats once the console has caught up: the guest's printk output reaches the console after
    /// the syscall that caused it returns. Waits until more than `count` reports are present and the
    /// console has been quiet for `quiet` seconds, or `timeout` passes; returns whatever is there.
    public func awaitSplats(moreThan count: Int = 0, timeout: Double = 10, quiet: Double = 0.3) -> [Splat] {
        let end = Date().addingTimeInterval(timeout)
        var lastSize = -1, stableSince = Date()
        while true {
            let size = consoleSize
            if size != lastSize { lastSize = size; stableSince = Date() }
            let found = splats()
            if found.count > count && Date().timeIntervalSince(stableSince) >= quiet { return found }
            if Date() > end { return found }
            usleep(50_000)
        }
    }
}
