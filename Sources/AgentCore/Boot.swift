// What the agent does as PID 1 before it serves: the filesystems, the kernel command line's
// dmemfuzz.* parameters, the module loads (libkmod), the dmem controller, the interface probe,
// and the virtio-serial port it then serves on.
import Glibc
import DmemModel

/// The boot-time facts the agent reports: the module load report (`hello`) and the interface
/// listing (`interfaces`), with the parameters the executor's `register` reads.
package struct BootReport {
    package var params: [String: String] = [:]
    package var loads: [String] = []
    package var interfaces = ""
    package init(params: [String: String] = [:], loads: [String] = [], interfaces: String = "") {
        self.params = params; self.loads = loads; self.interfaces = interfaces
    }
}

package enum Boot {
    /// PID 1's setup: mounts, parameters (/proc is mounted by then), vgem, vkms and the
    /// `dmemfuzz.modules=` extras unless `dmemfuzz.noload`, +dmem at the root, the probe.
    package static func setUp(kmod: Kmod) -> BootReport {
        setenv("PATH", "/sbin:/usr/sbin:/bin:/usr/bin", 1)
        mountAll()
        Sys.log("started at uptime \(uptime()) s")
        var r = BootReport(params: cmdlineParams(Sys.readText("/proc/cmdline") ?? ""))
        if r.params["noload"] == nil {
            r.loads.append(loadModule(kmod, "vgem", r.params["vgem"]))
            r.loads.append(loadModule(kmod, "vkms", r.params["vkms"]))
            for extra in (r.params["modules"] ?? "").split(separator: ",") { r.loads.append(loadModule(kmod, String(extra), r.params[String(extra)])) }
        }
        let controllers = Sys.readText(cgroupRoot + "/cgroup.controllers") ?? ""
        // Only dmem: a memory controller in children would keep removed cgroups dying for as long as
        // their kernel memory stays charged, which nr_dying_descendants would then show.
        for c in ["dmem"] where controllers.split(whereSeparator: { $0 == " " || $0 == "\n" }).contains(Substring(c)) {
            let e = Sys.writeFile(cgroupRoot + "/cgroup.subtree_control", "+\(c)")
            if e != 0 { Sys.log("+\(c): errno \(e)") }
        }
        r.interfaces = probeInterfaces()
        return r
    }

    static func mountAll() {
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

    /// `dmemfuzz.<key>=<value>` words of a kernel command line (/proc/cmdline), double quotes honoured.
    package static func cmdlineParams(_ text: String) -> [String: String] {
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

    package static func release() -> String {
        var u = utsname()
        uname(&u)
        return withUnsafeBytes(of: u.release) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
    }

    package static func uptime() -> Double { Sys.readText("/proc/uptime")?.split(separator: " ").first.flatMap { Double($0) } ?? 0 }

    /// Loads one module; its entry of the load report, `vgem=ok(12ms)`.
    static func loadModule(_ kmod: Kmod, _ name: String, _ options: String?) -> String {
        let t0 = Sys.monotonicSeconds()
        let r = kmod.load(name, options: options)
        let ms = Int((Sys.monotonicSeconds() - t0) * 1000)
        Sys.log("modprobe \(name) \(options ?? ""): \(r == 0 ? "ok" : String(describing: Errno(r))) in \(ms) ms")
        return "\(name)=\(r == 0 ? "ok" : "\(Errno(r))")(\(ms)ms)"
    }

    /// What the kernel offers, for the host to compare with the model (`interfaces`): every dmem.*
    /// file of the root and of a child cgroup (made for the purpose, removed again, and waited for
    /// until it is no longer dying), and every controller in the root's cgroup.controllers.
    static func probeInterfaces() -> String {
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

    /// /dev/vportNpM whose sysfs name is `dmemfuzz`, waiting up to 10 s for it to appear; -1
    /// (said on the console) when there is none.
    package static func openPort() -> Int32 {
        let deadline = Sys.monotonicSeconds() + 10
        while true {
            for p in Sys.listDir("/sys/class/virtio-ports") where Sys.readText("/sys/class/virtio-ports/\(p)/name")?.hasPrefix("dmemfuzz") == true {
                let fd = open("/dev/\(p)", O_RDWR | O_CLOEXEC)
                if fd >= 0 { return fd }
                Sys.log("open /dev/\(p): errno \(errno)")
            }
            if Sys.monotonicSeconds() > deadline {
                Sys.log("no dmemfuzz virtio port; serving the console")
                return -1
            }
            Sys.sleepMillis(20)
        }
    }
}
