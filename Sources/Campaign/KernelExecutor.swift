import DmemModel
import Fuzz
import Trace
import VM

/// The real kernel as an executor: ops go to the guest agent as trace lines, outcomes come back
/// in the same text form. Only the agent touches the kernel; nothing here imitates it.
public final class KernelExecutor: Executor {
    public let vm: VirtualMachine
    public init(vm: VirtualMachine) { self.vm = vm }

    public func execute(_ ops: [Op]) async throws -> [Outcome?] {
        let replies = try vm.batch(ops.map(TracePrinter.op), timeout: 120)
        return try zip(ops, replies).map { op, reply in
            if case .evictQuery = op { return nil }  // a question only the model answers
            if reply.hasPrefix("fail ") {
                throw VMError.protocolError("agent refused '\(TracePrinter.op(op))': \(AgentCodec.text(reply.dropFirst(5)) ?? reply)")
            }
            do { return try TraceParser(file: "<agent>").parseOutcome(Substring(reply)) }
            catch { throw VMError.protocolError("unreadable outcome '\(reply)' for '\(TracePrinter.op(op))'") }
        }
    }

    /// KCOV edges in dmem.c/page_counter.c since the last call (`kcov` must have been accepted).
    public func coverage() throws -> [UInt64] {
        let r = try vm.request("cover")
        let f = r.split(separator: " ", omittingEmptySubsequences: false)
        guard f.first == "ok", f.count == 3 else { throw VMError.protocolError("cover: \(r)") }
        return f[2].split(separator: ",").compactMap { UInt64($0, radix: 16) }
    }

    /// The regions the booted kernel registered, as `register` ops for the model (dmem.capacity
    /// lists them in registration order).
    public static func regions(fromCapacity text: String) -> [Op] {
        text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ")
            guard f.count == 2, let size = UInt64(f[1]) else { return nil }
            return .register(region: String(f[0]), size: size)
        }
    }
}
