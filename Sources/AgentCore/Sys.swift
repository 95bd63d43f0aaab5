// Thin errno-exact wrappers over Glibc. No retries, no Foundation: every primitive reports the
// errno of the one syscall that failed (0 on success).
import Glibc
import CKmod

let cgroupRoot = "/sys/fs/cgroup"

enum Sys {
    static func mkdir(_ path: String) -> Int32 { Glibc.mkdir(path, 0o755) == 0 ? 0 : errno }
    static func rmdir(_ path: String) -> Int32 { Glibc.rmdir(path) == 0 ? 0 : errno }

    /// chown(2) of the directory and the files cgroup-v2.rst says a delegatee gets; first error wins.
    static func delegate(_ dir: String, to uid: UInt32) -> Int32 {
        for p in [dir, dir + "/cgroup.procs", dir + "/cgroup.threads", dir + "/cgroup.subtree_control"] {
            if Glibc.chown(p, uid, gid_t.max) != 0 { return errno }
        }
        return 0
    }

    static func grantCardAccess(_ minor: Int) { _ = Glibc.chmod("/dev/dri/card\(minor)", 0o666) }

    /// open(O_WRONLY[|O_NONBLOCK]) + exactly one write(2) of `data`.
    static func writeFile(_ path: String, _ data: [UInt8], nonblock: Bool = false) -> Int32 {
        let fd = open(path, O_WRONLY | O_CLOEXEC | (nonblock ? O_NONBLOCK : 0))
        if fd < 0 { return errno }
        defer { close(fd) }
        let n = data.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        return n < 0 ? errno : 0
    }
    static func writeFile(_ path: String, _ text: String) -> Int32 { writeFile(path, Array(text.utf8)) }

    /// open + read until EOF. Returns (errno, bytes).
    static func readFile(_ path: String) -> (Int32, [UInt8]) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { return (errno, []) }
        defer { close(fd) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 8192)
        while true {
            let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 { return (errno, out) }
            if n == 0 { return (0, out) }
            out.append(contentsOf: buf[0..<n])
        }
    }
    static func readText(_ path: String) -> String? {
        let (e, b) = readFile(path)
        return e == 0 ? String(decoding: b, as: UTF8.self) : nil
    }

    static func listDir(_ path: String) -> [String] {
        guard let d = opendir(path) else { return [] }
        defer { closedir(d) }
        var names: [String] = []
        while let ent = readdir(d) {
            let name = withUnsafeBytes(of: ent.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }
    static func isDir(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }
    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }
    static func readlink(_ path: String) -> String? {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = Glibc.readlink(path, &buf, buf.count - 1)
        if n < 0 { return nil }
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
    static func basename(_ path: String) -> String {
        String(path.split(separator: "/").last ?? "")
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + off, $0.count - off) }
            if n < 0 { if errno == EINTR { continue }; return false }
            off += n
        }
        return true
    }
    static func readExact(_ fd: Int32, _ count: Int) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: count)
        var off = 0
        while off < count {
            let n = out.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + off, count - off) }
            if n < 0 { if errno == EINTR { continue }; return nil }
            if n == 0 { return nil }
            off += n
        }
        return out
    }

    static func monotonicSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
    static func sleepMillis(_ ms: Int) { usleep(UInt32(ms * 1000)) }

    static func log(_ s: String) {
        _ = writeAll(2, Array("dmemfuzz-agent: \(s)\n".utf8))
    }

    /// fork + execv(argv) with stdout/stderr captured; returns (wait status, output).
    static func run(_ argv: [String], input: [UInt8]? = nil) -> (Int32, [UInt8]) {
        var p: [Int32] = [0, 0]
        guard dmemfuzz_pipe2(&p, O_CLOEXEC) == 0 else { return (-1, Array("pipe: \(errno)".utf8)) }
        let cargs = argv.map { strdup($0) } + [nil]
        defer { cargs.forEach { free($0) } }
        let pid = fork()
        if pid == 0 {
            let devnull = open("/dev/null", O_RDONLY)
            if devnull >= 0 { dup2(devnull, 0) }
            dup2(p[1], 1); dup2(p[1], 2)
            _ = cargs.withUnsafeBufferPointer { execv(cargs[0]!, $0.baseAddress!) }
            _exit(127)
        }
        close(p[1])
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buf.withUnsafeMutableBytes { Glibc.read(p[0], $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            out.append(contentsOf: buf[0..<n])
        }
        close(p[0])
        var status: Int32 = 0
        if pid > 0 { while waitpid(pid, &status, 0) < 0 && errno == EINTR {} }
        let code: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return (pid < 0 ? -1 : code, out)
    }
}
