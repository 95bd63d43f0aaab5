// The host <-> agent line protocol (host side: Sources/VM/VirtualMachine.swift).
//
// Transport: the virtio-serial port named `dmemfuzz` (/dev/vportNpM; QEMU side a unix socket
// chardev). One request per line, one response line per request, in order. On start the agent
// sends `ready <hex release> <guest uptime s>` unprompted.
// Encoding: `<hex>` is lowercase hex of raw bytes, `-` for none (fields are space separated).
//
// Requests and responses:
//   hello                  -> ok <hex release> <hex dmem.capacity> <hex module load report> <hex cards> <uptime>
//   exec <trace op line>   -> <outcome as TracePrinter.outcome prints it>  (e.g. `ok`, `ENOENT`,
//                             `"vgem/region0 4096\n"`, `1`, `ok evicted b1 b2`), or fail <hex msg>
//   batch N  + N op lines  -> N outcome lines (same format as exec)
//   state                  -> ok <hex text>: `== <cgroup> <file>` + contents, for every cgroup's
//                             dmem.*, cgroup.stat and cgroup.procs
//   interfaces             -> ok <hex text>: `root <file>` / `child <file>` for every dmem.* file of
//                             the root and of a child cgroup, `controller <name>` for each one in
//                             the root's cgroup.controllers (probed once at boot)
//   sh <command>           -> ok <exit status> <hex stdout+stderr>   (busybox sh -c)
//   put <path> <hex>       -> ok | err <ERRNO>: writes a new file, mode 0755
//   modprobe <name> [<hex options>] / rmmod <name>  -> ok | err <ERRNO>   (libkmod)
//   kcov <hex ranges>      -> ok | err <ERRNO>: trace KCOV in the agent and every actor spawned from
//                             now on, counting PCs in the `start end` hex ranges (one per line)
//   cover                  -> ok <n> <hex edge>,<hex edge>...  edges since the last `cover`
//   vgem-ioctls <create nr> <info nr> [<transfer nr>] -> ok (override the vgem command numbers)
//   poweroff               -> ok, then the guest reboots (QEMU -no-reboot exits)
//   primitive ops (hex syntax, no trace parser): mkdir P | rmdir P | write P FILE <hex> [nb] |
//     read P FILE | spawn A P | move A P | exit A | alloc A REGION SIZE B | free B | resident B |
//     dying P | register REGION SIZE | unregister REGION
//                          -> ok|err <ERRNO> [d:<hex>] [v:<n>] [ev:<b,b>]
//   anything else          -> fail <hex message>
import Glibc
import DmemModel
import Trace

enum OpText {
    /// Parses a primitive op line: `mkdir /a`, `write /a dmem.max <hex> [nb]`, `alloc 1 vgem/region0 4096 7`...
    static func parse(_ line: Substring) -> Op? {
        let f = line.split(separator: " ", omittingEmptySubsequences: true)
        guard let verb = f.first else { return nil }
        func path(_ i: Int) -> CgroupPath? { i < f.count ? CgroupPath(parsing: f[i]) : nil }
        func int(_ i: Int) -> Int? { i < f.count ? Int(f[i]) : nil }
        func u64(_ i: Int) -> UInt64? { i < f.count ? UInt64(f[i]) : nil }
        func str(_ i: Int) -> String? { i < f.count ? String(f[i]) : nil }
        switch verb {
        case "mkdir": return path(1).map { .mkdir($0) }
        case "rmdir": return path(1).map { .rmdir($0) }
        case "write":
            guard let p = path(1), let file = str(2) else { return nil }
            let data: [UInt8]
            if f.count > 3 { guard let d = Hex.decode(f[3] == "-" ? "" : f[3]) else { return nil }; data = d } else { data = [] }
            return .write(p, file: file, data: data, nonblock: f.count > 4 && f[4] == "nb")
        case "read":
            guard let p = path(1), let file = str(2) else { return nil }
            return .read(p, file: file)
        case "spawn":
            guard let a = int(1), let p = path(2) else { return nil }
            return .spawn(a, p)
        case "move":
            guard let a = int(1), let p = path(2) else { return nil }
            return .move(a, p)
        case "exit": return int(1).map { .exit($0) }
        case "alloc":
            guard let a = int(1), let r = str(2), let s = u64(3), let b = int(4) else { return nil }
            return .alloc(a, region: r, size: s, buffer: b)
        case "free": return int(1).map { .free($0) }
        case "resident": return int(1).map { .resident($0) }
        case "dying": return path(1).map { .dying($0) }
        case "register":
            guard let r = str(1), let s = u64(2) else { return nil }
            return .register(region: r, size: s)
        case "unregister": return str(1).map { .unregister(region: $0) }
        default: return nil
        }
    }

    static func format(_ o: Outcome) -> String {
        var s = o.errno.map { "err \($0)" } ?? "ok"
        if let d = o.data { s += " d:" + Hex.encode(d) }
        if let v = o.value { s += " v:\(v)" }
        if !o.evicted.isEmpty { s += " ev:" + o.evicted.map(String.init).joined(separator: ",") }
        return s
    }
}

/// Buffered line reader over a file descriptor.
final class LineReader {
    let fd: Int32
    var buf: [UInt8] = []
    init(fd: Int32) { self.fd = fd }
    /// nil on EOF/error (the caller decides whether to retry).
    func next() -> String? {
        while true {
            if let i = buf.firstIndex(of: 10) {
                var line = Array(buf[..<i]); buf.removeFirst(i + 1)
                if line.last == 13 { line.removeLast() }
                return String(decoding: line, as: UTF8.self)
            }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return nil }
            buf.append(contentsOf: chunk[0..<n])
        }
    }
}
