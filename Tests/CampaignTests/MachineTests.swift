import AgentProtocol
import DmemModel
import Foundation
import Fuzz
import Kernel
import Trace
import VM
import XCTest
@testable import Campaign

/// An in-process guest behind the `Machine` protocol: the "kernel" is the reference model (so a
/// lockstep run agrees unless `wrong` says otherwise), the agent's replies are the protocol's own
/// wire lines, and `splat` puts a report on the console when an op runs. Guest and Session drive
/// it exactly as they drive a QemuMachine.
final class ModelMachine: Machine {
    let kernel: KernelBuild
    let bootKind: BootKind
    var vgemParams: String? { nil }
    var vkmsParams: String? { nil }
    var readySeconds: Double? { 0.01 }
    private(set) var isRunning = true
    private(set) var console = "[    0.000000] Linux version 7.3.4 (model)\n"
    private var model: ModelExecutor
    private var replies: [String] = []
    /// An op the kernel answers differently from the model.
    let wrong: (Op) -> Outcome?
    /// A console report an op causes.
    let splat: (Op) -> String?
    static let capacity = "vgem/region0 268435456\nvkms/default 67108864\n"

    init(kernel: KernelBuild, bootKind: BootKind, wrong: @escaping (Op) -> Outcome?, splat: @escaping (Op) -> String?) {
        self.kernel = kernel; self.bootKind = bootKind; self.wrong = wrong; self.splat = splat
        model = ModelExecutor(profile: .v7_3)
        for op in KernelExecutor.regions(fromCapacity: Self.capacity) { _ = model.apply(op) }
    }

    func send(_ text: String) throws {
        guard isRunning else { throw VMError.qemuExited(status: 0, consoleTail: console, consoleLog: "-") }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let first = lines.removeFirst()
        let request: AgentRequest
        do { request = try AgentRequest.decode(first, next: { lines.isEmpty ? nil : lines.removeFirst() }) }
        catch { replies += Array(repeating: AgentReply.fail(error.message).wire, count: error.replyLines); return }
        replies += answer(request).map(\.wire)
    }

    func answer(_ request: AgentRequest) -> [AgentReply] {
        switch request {
        case .hello: return [.hello(AgentHello(release: "7.3.4", capacity: Self.capacity, modules: "vgem=ok(1ms)", cards: "", uptime: 1))]
        case .interfaces: return [.text("")]
        case .state: return [.text("== / dmem.capacity\n" + Self.capacity)]
        case .kcov: return [.err(Errno(2))]
        case .poweroff: isRunning = false; return [.ok]
        case let .exec(op): return [run(op)]
        case let .batch(ops): return ops.map(run)
        default: return [.fail("not in the model machine")]
        }
    }

    func run(_ op: Op) -> AgentReply {
        let o = wrong(op) ?? model.apply(op) ?? .ok
        if let s = splat(op) { console += s }
        return .outcome(o)
    }

    func readLine(timeout: Double) throws -> String {
        guard !replies.isEmpty else { throw VMError.hung("no answer within \(timeout) s") }
        return replies.removeFirst()
    }

    func poweroff(timeout: Double) { isRunning = false }
    func stop(grace: Double) { isRunning = false }
    func cleanup() { isRunning = false }
}

/// Makes ModelMachines; after the first, machines come "restored" when `restores` is on.
final class ModelPool: MachinePool {
    let kernel: KernelBuild
    var vgemParams: String? { nil }
    var vkmsParams: String? { nil }
    let canRestore: Bool
    var wrong: (Op) -> Outcome? = { _ in nil }
    var splat: (Op) -> String? = { _ in nil }
    private var made: [ModelMachine] = []
    private let lock = NSLock()  // a minimization's guests start machines from their own threads
    var created: [ModelMachine] { lock.lock(); defer { lock.unlock() }; return made }

    init(restores: Bool = false) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dmemfuzz-modelpool-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("modroot/lib/modules/7.3.4"), withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: dir.appendingPathComponent("bzImage").path, contents: Data())
        kernel = try KernelBuild(dir: dir)
        canRestore = restores
    }
    deinit { try? FileManager.default.removeItem(at: kernel.dir) }

    func create() throws -> any Machine {
        lock.lock(); defer { lock.unlock() }
        let m = ModelMachine(kernel: kernel, bootKind: canRestore && !made.isEmpty ? .restored : .cold, wrong: wrong, splat: splat)
        made.append(m)
        return m
    }
}

final class MachineTests: XCTestCase {
    static let trace = try! TraceParser().parse("""
        register vgem/region0 268435456 = ok
        register vkms/default 67108864 = ok
        mkdir /a = ok
        spawn a1 /a = ok
        alloc a1 vgem/region0 4096 b1 = ok
        read /a dmem.current = "vgem/region0 4096\\nvkms/default 0\\n"
        """)

    func testACleanRunIsResetInPlaceAndTheNextRunUsesTheSameGuest() async throws {
        let pool = try ModelPool()
        let g = try Guest(kcov: false, pool: pool)
        XCTAssertEqual(g.session.release, "7.3.4")
        XCTAssertEqual(g.session.bootRegions, KernelExecutor.regions(fromCapacity: ModelMachine.capacity))
        for _ in 0..<2 {
            let run = try await g.replayClean(Self.trace)
            XCTAssertNil(run.failure)
            XCTAssertNil(run.result?.divergence)
            XCTAssertEqual(run.splats, [])
            XCTAssertNil(run.teardown)
            XCTAssertNil(run.finding(of: Self.trace))
        }
        XCTAssertEqual(pool.created.count, 1, "the reset kept the guest")
        XCTAssertEqual(g.startsDescription, "1 guest")
    }

    func testASplatIsTheRunsAndTheNextRunBootsANewGuest() async throws {
        let pool = try ModelPool(restores: true)
        pool.splat = { op in
            guard case .alloc = op else { return nil }
            return """
                [    5.000000] ------------[ cut here ]------------
                [    5.000001] WARNING: CPU: 0 PID: 77 at kernel/cgroup/dmem.c:300 dmem_cgroup_try_charge+0x10/0x20
                [    5.000002] Call Trace:
                [    5.000003]  <TASK>
                [    5.000004]  dmem_cgroup_try_charge+0x10/0x20
                [    5.000005]  </TASK>
                [    5.000006] ---[ end trace 0000000000000000 ]---

                """
        }
        let g = try Guest(kcov: false, pool: pool)
        let run = try await g.replayClean(Self.trace, splatWait: 0)
        XCTAssertEqual(run.splats.map(\.title), ["WARNING in dmem_cgroup_try_charge"])
        let f = try XCTUnwrap(run.finding(of: Self.trace))
        XCTAssertEqual(f.kind, .splat)
        XCTAssertEqual(f.title, "WARNING in dmem_cgroup_try_charge")
        XCTAssertTrue(f.console.contains("Linux version 7.3.4 (model)"), "the finding keeps the guest's console")
        _ = try await g.clean()
        XCTAssertEqual(pool.created.count, 2, "a splatted guest is not reused")
        XCTAssertFalse(pool.created[0].isRunning, "the old guest was stopped")
        XCTAssertEqual(g.session.vm.bootKind, .restored)
        XCTAssertEqual(g.startsDescription, "2 guests (1 restored from the snapshot)")
    }

    func testADifferentOutcomeIsADivergence() async throws {
        let pool = try ModelPool()
        pool.wrong = { op in if case .mkdir = op { return .err(Errno(17)) }; return nil }
        let g = try Guest(kcov: false, pool: pool)
        let run = try await g.replayClean(Self.trace)
        let d = try XCTUnwrap(run.result?.divergence)
        XCTAssertEqual(d.index, 2, "the mkdir")
        XCTAssertEqual(run.finding(of: Self.trace)?.kind, .divergence)
        _ = try await g.clean()
        XCTAssertEqual(pool.created.count, 2, "after a divergence the kernel is not where the model is: a new guest")
    }

    /// A minimization with two guests of the pool (candidates two at once, each guest on a
    /// thread of its own) ends with the trace one guest gives: the kernel's wrong mkdir of /x, and
    /// nothing else but the registers.
    func testMinimizingWithTwoGuestsGivesTheTraceOfOne() async throws {
        let t = try TraceParser().parse("""
            register vgem/region0 268435456 = ok
            register vkms/default 67108864 = ok
            mkdir /a = ok
            spawn a1 /a = ok
            alloc a1 vgem/region0 4096 b1 = ok
            mkdir /b = ok
            mkdir /x = ok
            read /a dmem.current = "vgem/region0 4096\\nvkms/default 0\\n"
            """)
        var small: [String] = []
        var guestsUsed: [Int] = []
        for jobs in [1, 2] {
            let pool = try ModelPool(restores: true)
            pool.wrong = { op in if case .mkdir(let p) = op, p == CgroupPath.root.child("x") { return .err(Errno(17)) }; return nil }
            let g = try Guest(kcov: false, pool: pool)
            let run = try await g.replayClean(t)
            let f = try XCTUnwrap(run.finding(of: t))
            let m = try await KernelMinimizer(guest: g, jobs: jobs).minimize(f)
            small.append(TracePrinter.trace(m))
            guestsUsed.append(pool.created.count)
        }
        XCTAssertEqual(small[0], small[1])
        XCTAssertTrue(small[0].hasSuffix("register vkms/default 67108864 = ok\nmkdir /x = ok\n"), small[0])
        XCTAssertGreaterThan(guestsUsed[1], guestsUsed[0], "the second guest ran candidates too")
    }

    func testUnreadableRequestsAreRefusedThroughTheClient() throws {
        let m = try ModelPool().create()
        XCTAssertThrowsError(try m.agent.shell("true")) { XCTAssertEqual("\($0)", "agent protocol: agent refused sh: not in the model machine") }
        XCTAssertEqual(try m.request(.exec(.mkdir(CgroupPath.root.child("x")))), .outcome(.ok))
        XCTAssertFalse(m.canSnapshot)
        XCTAssertThrowsError(try m.saveSnapshot())
    }
}
