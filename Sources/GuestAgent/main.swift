// dmemfuzz-agent: PID 1 of the test initramfs. Mounts the filesystems, enables the dmem
// controller, loads vgem/vkms (libkmod), then serves the line protocol on the `dmemfuzz`
// virtio-serial port (AgentProtocol). `--stdio` serves stdin/stdout without any setup
// (host-side testing).
import Glibc
import AgentProtocol
import DmemModel
import Trace
import CKmod

let isInit = getpid() == 1
let stdioMode = CommandLine.arguments.contains("--stdio")
signal(SIGPIPE, SIG_IGN)

@MainActor func mountAll() {
    let mounts: [(String, String, String)] = [
        ("proc", "/proc", "proc"), ("sysfs", "/sys", "sysfs"), ("devtmpfs", "/dev", "devtmpfs"),
        ("tmpfs", "/tmp", "tmpfs"), ("cgroup2", "/sys/fs/cgroup", "cgroup2"),
        ("debugfs", "/sys/kernel/debug", "debugfs"), ("configfs", "/sys/kernel/config", "configfs"),
    ]
    for (src, dst, type) in mounts {
        _ = Glibc.mkdir(dst, 0o755)
        if mount(src, dst, type, 0, nil) != 0 && errno != EBUSY {
            Sys.log("mount \(type) on \(dst): errno \(errno)")
        }
    }
}

/// `dmemfuzz.<key>=<value>` words of /proc/cmdline, double quotes honoured.
@MainActor func cmdlineParams() -> [String: String] {
    guard let text = Sys.readText("/proc/cmdline") else { return [:] }
    var words: [String] = [], cur = "", quoted = false
    for ch in text {
        if ch == "\"" { quoted.toggle(); continue }
        if (ch == " " || ch == "\n") && !quoted { if !cur.isEmpty { words.append(cur) }; cur = ""; continue }
        cur.append(ch)
    }
    if !cur.isEmpty { words.append(cur) }
    var out: [String: String] = [:]
    for w in words where w.hasPrefix("dmemfuzz.") {
        let kv = w.dropFirst(9).split(separator: "=", maxSplits: 1)
        out[String(kv[0])] = kv.count > 1 ? String(kv[1]) : ""
    }
    return out
}

@MainActor func release() -> String {
    var u = utsname()
    uname(&u)
    return withUnsafeBytes(of: u.release) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
}

@MainActor func uptime() -> Double { Sys.readText("/proc/uptime")?.split(separator: " ").first.flatMap { Double($0) } ?? 0 }

nonisolated(unsafe) var params: [String: String] = [:]
let kmod = Kmod()
var loadReport: [String] = []
/// `probeInterfaces()`'s listing; declared before the boot code below assigns it (top-level
/// code initializes globals in order).
nonisolated(unsafe) var interfaceReport = ""

@MainActor func loadModule(_ name: String, _ options: String?) {
    let t0 = Sys.monotonicSeconds()
    let r = kmod.load(name, options: options)
    let ms = Int((Sys.monotonicSeconds() - t0) * 1000)
    loadReport.append("\(name)=\(r == 0 ? "ok" : "\(Errno(r))")(\(ms)ms)")
    Sys.log("modprobe \(name) \(options ?? ""): \(r == 0 ? "ok" : String(describing: Errno(r))) in \(ms) ms")
}

if isInit {
    setenv("PATH", "/sbin:/usr/sbin:/bin:/usr/bin", 1)
    mountAll()
    Sys.log("started at uptime \(uptime()) s")
    params = cmdlineParams()  // /proc is mounted now
    if params["noload"] == nil {
        loadModule("vgem", params["vgem"])
        loadModule("vkms", params["vkms"])
        for extra in (params["modules"] ?? "").split(separator: ",") { loadModule(String(extra), params[String(extra)]) }
    }
    let controllers = Sys.readText(cgroupRoot + "/cgroup.controllers") ?? ""
    // Only dmem: a memory controller in children would keep removed cgroups dying for as long as
    // their kernel memory stays charged, which nr_dying_descendants would then show.
    for c in ["dmem"] where controllers.split(whereSeparator: { $0 == " " || $0 == "\n" }).contains(Substring(c)) {
        let r = Sys.writeFile(cgroupRoot + "/cgroup.subtree_control", "+\(c)")
        if r != 0 { Sys.log("+\(c): errno \(r)") }
    }
    interfaceReport = probeInterfaces()
}

/// What the kernel offers, for the host to compare with the model (`interfaces`): every dmem.*
/// file of the root and of a child cgroup (made for the purpose, removed again, and waited for
/// until it is no longer dying), and every controller in the root's cgroup.controllers.
@MainActor func probeInterfaces() -> String {
    var out = ""
    for n in Sys.listDir(cgroupRoot).sorted() where n.hasPrefix("dmem.") { out += "root \(n)\n" }
    let probe = cgroupRoot + "/dmemfuzz-probe"
    let e = Sys.mkdir(probe)
    if e == 0 {
        for n in Sys.listDir(probe).sorted() where n.hasPrefix("dmem.") { out += "child \(n)\n" }
        _ = Sys.rmdir(probe)
        let deadline = Sys.monotonicSeconds() + 5
        while Sys.monotonicSeconds() < deadline,
              Sys.readText(cgroupRoot + "/cgroup.stat")?.contains("nr_dying_descendants 0") == false { Sys.sleepMillis(20) }
    } else {
        Sys.log("probe cgroup: errno \(e)")
    }
    for c in (Sys.readText(cgroupRoot + "/cgroup.controllers") ?? "").split(whereSeparator: { $0 == " " || $0 == "\n" }) {
        out += "controller \(c)\n"
    }
    return out
}

/// /dev/vportNpM whose sysfs name is `dmemfuzz`, waiting up to 10 s for it to appear.
@MainActor func openPort() -> Int32 {
    let deadline = Sys.monotonicSeconds() + 10
    while true {
        for p in Sys.listDir("/sys/class/virtio-ports") where Sys.readText("/sys/class/virtio-ports/\(p)/name")?.hasPrefix("dmemfuzz") == true {
            let fd = open("/dev/\(p)", O_RDWR | O_CLOEXEC)
            if fd >= 0 { return fd }
            Sys.log("open /dev/\(p): errno \(errno)")
        }
        if Sys.monotonicSeconds() > deadline { return -1 }
        Sys.sleepMillis(20)
    }
}

var inFd: Int32 = 0, outFd: Int32 = 1
if !stdioMode {
    let fd = openPort()
    if fd < 0 {
        Sys.log("no dmemfuzz virtio port; serving the console")
    } else { inFd = fd; outFd = fd }
}

let exec = Executor(kmod: kmod, moduleOptions: params)
/// The agent's own KCOV, once the host sent the ranges that count (`kcov`).
nonisolated(unsafe) var kcov: Kcov? = nil
let reader = LineReader(fd: inFd)

@MainActor func send(_ reply: AgentReply) { _ = Sys.writeAll(outFd, Array((reply.wire + "\n").utf8)) }

/// Text of every cgroup's dmem.* files and cgroup.stat, plus capacity.
@MainActor func stateDump() -> String {
    var out = ""
    func walk(_ dir: String, _ rel: String) {
        for name in Sys.listDir(dir) {
            let path = dir + "/" + name
            if Sys.isDir(path) { continue }
            guard name.hasPrefix("dmem.") || name == "cgroup.stat" || name == "cgroup.procs" else { continue }
            let (e, b) = Sys.readFile(path)
            out += "== \(rel.isEmpty ? "/" : rel) \(name)\(e == 0 ? "" : " errno=\(e)")\n" + String(decoding: b, as: UTF8.self)
            if !(out.last == "\n") { out += "\n" }
        }
        for name in Sys.listDir(dir) where Sys.isDir(dir + "/" + name) { walk(dir + "/" + name, rel + "/" + name) }
    }
    walk(cgroupRoot, "")
    return out
}

/// Time spent executing ops in the guest, per verb (count, seconds), for `dmemfuzz bench`: the
/// raw cost of an op mix, measured where it happens, without the host round trips.
nonisolated(unsafe) var opStats: [String: (Int, Double)] = [:]  // PID 1 is single-threaded

/// `exec`/`batch`: one op, answered with its outcome.
@MainActor func execute(_ op: Op) -> AgentReply {
    let t0 = Sys.monotonicSeconds()
    let out = exec.execute(op)
    kcov?.collect()
    let verb = String(TracePrinter.op(op).prefix { $0 != " " })  // as the line starts: `as`, `write-nonblock`
    let (n, t) = opStats[verb] ?? (0, 0)
    opStats[verb] = (n + 1, t + Sys.monotonicSeconds() - t0)
    return .outcome(out)
}

@MainActor func reap() { var st: Int32 = 0; while waitpid(-1, &st, WNOHANG) > 0 {} }

/// put: a new file, mode 0755 (a reproducer binary the host compiled).
@MainActor func put(_ path: String, _ data: [UInt8]) -> AgentReply {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o755)
    if fd < 0 { return .err(Errno(errno)) }
    defer { close(fd) }
    return Sys.writeAll(fd, data) ? .ok : .err(Errno(errno))
}

@MainActor func handle(_ request: AgentRequest) -> [AgentReply] {
    switch request {
    case .hello:
        let cap = Sys.readFile(cgroupRoot + "/dmem.capacity").1
        let cards = Drm.cards().map { "card\($0.minor):\($0.driver):\($0.device)" }.joined(separator: " ")
        return [.hello(AgentHello(release: release(), capacity: String(decoding: cap, as: UTF8.self),
                                  modules: loadReport.joined(separator: " "), cards: cards, uptime: uptime()))]
    case let .exec(op): return [execute(op)]
    case let .batch(ops): return ops.map(execute)
    case .state: return [.text(stateDump())]
    case .interfaces: return [.text(interfaceReport)]
    case let .shell(command):
        let (status, out) = Sys.run(["/bin/sh", "-c", command])
        return [.shell(status: Int(status), output: String(decoding: out, as: UTF8.self))]
    case let .put(path, data): return [put(path, data)]
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

send(.ready(release: release(), uptime: uptime()))
Sys.log("ready after \(uptime()) s (\(loadReport.joined(separator: " ")))")
while true {
    guard let line = reader.next() else {
        if !isInit { exit(0) }
        Sys.sleepMillis(50)  // host disconnected: keep waiting, PID 1 must not exit
        continue
    }
    if line.isEmpty { continue }
    reap()
    let replies: [AgentReply]
    do { replies = handle(try AgentRequest.decode(line, next: reader.next)) }
    catch { replies = Array(repeating: .fail(error.message), count: error.replyLines) }
    _ = Sys.writeAll(outFd, Array(replies.map { $0.wire + "\n" }.joined().utf8))
}
