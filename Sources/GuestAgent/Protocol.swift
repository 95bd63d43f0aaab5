// The host <-> agent line protocol (see Sources/VM/AgentProtocol.swift for the host side).
//
// One request per line, one response line per request (batch: N lines). Variable bytes are hex.
// Responses: `ok [fields]`, `err <ERRNO> [fields]` (an op failed with that errno), or
// `fail <hex message>` (bad request / agent problem). Outcome fields: `d:<hex>` read bytes,
// `v:<n>` number, `ev:<id,id>` evicted buffers.
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
