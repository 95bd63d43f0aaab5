// The agent's file-level answers beside the ops: the state dump and `put`.
import Glibc
import DmemModel
import AgentProtocol

enum GuestState {
    /// Text of every cgroup's dmem.* files, cgroup.stat and cgroup.procs (`state`).
    static func dump(root: String = cgroupRoot) -> String {
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
        walk(root, "")
        return out
    }

    /// put: a new file, mode 0755 (a reproducer binary the host compiled).
    static func put(_ path: String, _ data: [UInt8]) -> AgentReply {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o755)
        if fd < 0 { return .err(Errno(errno)) }
        defer { close(fd) }
        return Sys.writeAll(fd, data) ? .ok : .err(Errno(errno))
    }
}
