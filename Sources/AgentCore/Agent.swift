// The agent's request handling (AgentProtocol/Request.swift): one request in, its replies out.
// The kernel is reached only through the Executor (ops), Sys (files, sh) and Kcov.
import Glibc
import AgentProtocol
import DmemModel
import Trace
import CKmod

package final class Agent {
    /// PID 1 of the guest (poweroff reboots), not `--stdio` on a host.
    let isInit: Bool
    let exec: Executor
    let boot: BootReport
    /// Where replies go: the port, or stdout.
    let outFd: Int32
    /// The agent's own KCOV, once the host sent the ranges that count (`kcov`).
    var kcov: Kcov? = nil
    /// Time spent executing ops in the guest, per verb (count, seconds), for `dmemfuzz bench`: the
    /// raw cost of an op mix, measured where it happens, without the host round trips.
    var opStats: [String: (Int, Double)] = [:]

    package init(kmod: Kmod, boot: BootReport, isInit: Bool, outFd: Int32) {
        self.exec = Executor(kmod: kmod, moduleOptions: boot.params)
        self.boot = boot; self.isInit = isInit; self.outFd = outFd
    }

    /// The unprompted first line.
    package var ready: AgentReply { .ready(release: Boot.release(), uptime: Boot.uptime()) }

    package func send(_ reply: AgentReply) { _ = Sys.writeAll(outFd, Array((reply.wire + "\n").utf8)) }

    /// The replies to the request that starts with `line` (`next` gives a batch's op lines): a
    /// request the agent cannot read is answered with as many `fail` lines as it owes.
    package func replies(to line: String, next: () -> String?) -> [AgentReply] {
        do { return handle(try AgentRequest.decode(line, next: next)) }
        catch { return Array(repeating: .fail(error.message), count: error.replyLines) }
    }

    /// Serves `reader` for good: a host that disconnects is waited for (PID 1 must not exit);
    /// with `--stdio`, EOF ends the agent.
    package func serve(_ reader: LineReader) -> Never {
        send(ready)
        Sys.log("ready after \(Boot.uptime()) s (\(boot.loads.joined(separator: " ")))")
        while true {
            guard let line = reader.next() else {
                if !isInit { exit(0) }
                Sys.sleepMillis(50)
                continue
            }
            if line.isEmpty { continue }
            reap()
            let out = replies(to: line, next: reader.next)
            _ = Sys.writeAll(outFd, Array(out.map { $0.wire + "\n" }.joined().utf8))
        }
    }

    func reap() { var st: Int32 = 0; while waitpid(-1, &st, WNOHANG) > 0 {} }

    package func handle(_ request: AgentRequest) -> [AgentReply] {
        switch request {
        case .hello:
            let cap = Sys.readFile(cgroupRoot + "/dmem.capacity").1
            let cards = Drm.cards().map { "card\($0.minor):\($0.driver):\($0.device)" }.joined(separator: " ")
            return [.hello(AgentHello(release: Boot.release(), capacity: String(decoding: cap, as: UTF8.self),
                                      modules: boot.loads.joined(separator: " "), cards: cards, uptime: Boot.uptime()))]
        case let .exec(op): return [execute(op)]
        case let .batch(ops): return ops.map(execute)
        case .state: return [.text(GuestState.dump())]
        case .interfaces: return [.text(boot.interfaces)]
        case let .shell(command):
            let (status, out) = Sys.run(["/bin/sh", "-c", command])
            return [.shell(status: Int(status), output: String(decoding: out, as: UTF8.self))]
        case let .put(path, data): return [GuestState.put(path, data)]
        case let .kcov(text):
            let filter = KcovFilter(text: text)
            guard !filter.isEmpty else { return [.fail("kcov: no ranges")] }
            if kcov == nil { kcov = Kcov(filter: filter) }
            guard kcov != nil else { return [.err(Errno(errno))] }
            exec.actors.kcovFilter = filter
            return [.ok]
        case .cover:
            // Edges since the last `cover`, from the agent and every actor.
            var all = Set(kcov?.take() ?? [])
            all.formUnion(exec.actors.coverage())
            return [.coverage(all.sorted())]
        case .stats:
            let rows = opStats.keys.sorted().map { OpStat(verb: $0, count: opStats[$0]!.0, seconds: opStats[$0]!.1) }
            opStats = [:]
            return [.stats(rows)]
        case .poweroff:
            exec.actors.exitAll()
            if isInit {
                send(.ok)
                sync()
                _ = reboot(Int32(RB_AUTOBOOT))  // QEMU runs with -no-reboot: this exits it
            }
            return [.ok]
        }
    }

    /// `exec`/`batch`: one op, answered with its outcome.
    func execute(_ op: Op) -> AgentReply {
        let t0 = Sys.monotonicSeconds()
        let out = exec.execute(op)
        kcov?.collect()
        let verb = String(TracePrinter.op(op).prefix { $0 != " " })  // as the line starts: `as`, `write-nonblock`
        let (n, t) = opStats[verb] ?? (0, 0)
        opStats[verb] = (n + 1, t + Sys.monotonicSeconds() - t0)
        return .outcome(out)
    }
}
