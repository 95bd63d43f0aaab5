// Actors: forked child processes parked on a pipe inside a cgroup. Each owns its DRM fds, so a
// buffer is charged to the cgroup the actor is in when it allocates, and freed when it exits.
import Glibc
import CCap
import CKmod

/// Child protocol: 4 x Int64 command, 4 x Int64 reply ([errno, v1, v2, v3]).
/// `fs` is followed by a payload (path, NUL, data) of b bytes; its reply by v1 bytes of data.
/// `coverage` replies with v1 bytes of KCOV edges (UInt64 each).
/// The command word's low byte is the `ActorCmd`; `ActorWord.armed` makes the child wait at the
/// racing group's barrier (pinned to CPU bits 16-23 minus one) before it runs the command.
enum ActorCmd: Int64 { case allocVgem = 1, allocDumb = 2, free = 3, info = 4, dropCaps = 5, setuid = 6, exit = 7, ping = 8, fs = 9, coverage = 10, transfer = 11, fork = 12, fdinfo = 13 }
enum ActorFs: Int64 { case mkdir = 1, rmdir = 2, write = 3, writeNonblock = 4, read = 5 }

struct ActorProc { var pid: pid_t; var cmdFd: Int32; var replyFd: Int32 }

enum ActorWord {
    static let armed: Int64 = 0x100
    /// Bits 16-23: the CPU + 1; bits 24-31: the participant's index + 1 (its start delay slot).
    static func word(_ c: ActorCmd, armedOn cpu: Int?, index: Int = 0) -> Int64 {
        guard let cpu else { return c.rawValue }
        return c.rawValue | armed | Int64(cpu + 1) << 16 | Int64(index + 1) << 24
    }
}

final class ActorTable {
    var actors: [Int: ActorProc] = [:]
    /// Set once the host turned KCOV on: each new actor traces its own syscalls.
    var kcovFilter: KcovFilter?

    /// Whether clone3(CLONE_INTO_CGROUP) works here; on ENOSYS/EINVAL the agent falls back to
    /// fork + writing the pid to cgroup.procs for good.
    var useClone3 = true

    /// The racing group's barrier words (CKmod shim), mapped before the first actor exists so
    /// every actor and runner shares them.
    let race: UnsafeMutablePointer<Int32> = dmemfuzz_race_map()!.assumingMemoryBound(to: Int32.self)
    /// KCOV edges of the runners of racing groups (forked processes that are gone by now).
    var runnerEdges: [UInt64] = []

    /// Starts a child that loops on its command pipe, inside `cgroupDir`: clone3 with
    /// CLONE_INTO_CGROUP (the errno is the kernel's answer to that clone3, or to opening the
    /// directory), else fork and the parent writes the pid to `cgroupDir`/cgroup.procs.
    func spawn(_ id: Int, cgroupDir: String) -> Int32 {
        if actors[id] != nil { return EEXIST }
        var cmd: [Int32] = [0, 0], rep: [Int32] = [0, 0]
        guard dmemfuzz_pipe2(&cmd, O_CLOEXEC) == 0 else { return errno }
        guard dmemfuzz_pipe2(&rep, O_CLOEXEC) == 0 else { let e = errno; close(cmd[0]); close(cmd[1]); return e }
        let others = actors.values.flatMap { [$0.cmdFd, $0.replyFd] }
        func closeAll() { [cmd[0], cmd[1], rep[0], rep[1]].forEach { close($0) } }
        let filter = kcovFilter
        let race = self.race
        func child() -> Never {
            for fd in others { close(fd) }
            close(cmd[1]); close(rep[0])
            ActorChild(cmdFd: cmd[0], replyFd: rep[1], kcov: filter.flatMap { Kcov(filter: $0) }, race: race).loop()
        }
        var pid: pid_t = -1
        if useClone3 {
            let dfd = open(cgroupDir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if dfd < 0 { let e = errno; closeAll(); return e }
            let r = dmemfuzz_clone3_into_cgroup(dfd)
            if r == 0 { child() }
            close(dfd)
            if r > 0 {
                pid = pid_t(r)
            } else if r == -Int(ENOSYS) {
                useClone3 = false
                Sys.log("clone3(CLONE_INTO_CGROUP) unavailable: fork + cgroup.procs from now on")
            } else {
                closeAll(); return Int32(-r)
            }
        }
        if pid < 0 {
            pid = Glibc.fork()
            if pid < 0 { let e = errno; closeAll(); return e }
            if pid == 0 { child() }
            let e = Sys.writeFile(cgroupDir + "/cgroup.procs", Array(String(pid).utf8))
            if e != 0 {
                kill(pid, SIGKILL); var st: Int32 = 0; waitpid(pid, &st, 0)
                closeAll(); return e
            }
        }
        close(cmd[0]); close(rep[1])
        actors[id] = ActorProc(pid: pid, cmdFd: cmd[1], replyFd: rep[0])
        return 0
    }

    /// fork(2) of actor `id` into a new actor `child`, which shares its fds (so its DRM files).
    /// The parent forks with CLONE_PARENT, so the child is the agent's to reap like every actor,
    /// and gives it a command pipe pair of its own; the agent takes its ends of those through
    /// /proc/<parent>/fd before the parent closes them (the ack).
    func fork(_ id: Int, child: Int) -> Int32 {
        guard let p = actors[id] else { return ESRCH }
        if actors[child] != nil { return EEXIST }
        guard let (r, _) = request(p, [ActorCmd.fork.rawValue, 0, 0, 0]) else { return ESRCH }
        if r[0] != 0 { return Int32(r[0]) }
        let cmdFd = open("/proc/\(p.pid)/fd/\(r[2])", O_WRONLY | O_CLOEXEC)
        let replyFd = open("/proc/\(p.pid)/fd/\(r[3])", O_RDONLY | O_CLOEXEC)
        let e = cmdFd < 0 || replyFd < 0 ? errno : 0
        _ = request(p, [ActorCmd.ping.rawValue, 0, 0, 0])   // the ack: the parent closes its copies
        let cp = ActorProc(pid: pid_t(r[1]), cmdFd: cmdFd, replyFd: replyFd)
        if e != 0 {
            kill(cp.pid, SIGKILL); var st: Int32 = 0; waitpid(cp.pid, &st, 0)
            if cmdFd >= 0 { close(cmdFd) }; if replyFd >= 0 { close(replyFd) }
            return e
        }
        actors[child] = cp
        return 0
    }

    /// The actor's /proc/self/fdinfo of its file of `card` (opened now if it has none).
    func fdinfo(_ id: Int, card: Int) -> (Int32, [UInt8]) {
        guard let p = actors[id],
              let (reply, bytes) = request(p, [ActorCmd.fdinfo.rawValue, Int64(card), 0, 0], withData: true) else { return (ESRCH, []) }
        return (Int32(reply[0]), bytes)
    }

    func move(_ id: Int, cgroupDir: String) -> Int32 {
        guard let a = actors[id] else { return ESRCH }
        return Sys.writeFile(cgroupDir + "/cgroup.procs", Array(String(a.pid).utf8))
    }

    /// One request on the child protocol: the command words and an optional payload out, the
    /// reply words back, plus the v1 bytes that follow them for the commands that send data
    /// (`fs`, `coverage`). nil when the child is gone.
    func request(_ p: ActorProc, _ words: [Int64], payload: [UInt8] = [], withData: Bool = false) -> ([Int64], [UInt8])? {
        guard post(p, words, payload: payload) else { return nil }
        return collect(p, withData: withData)
    }

    /// The two halves of `request`, for a racing group: all members are posted, then released,
    /// then collected.
    func post(_ p: ActorProc, _ words: [Int64], payload: [UInt8] = []) -> Bool {
        Sys.writeAll(p.cmdFd, words.withUnsafeBytes { Array($0) } + payload)
    }

    func collect(_ p: ActorProc, withData: Bool) -> ([Int64], [UInt8])? {
        guard let r = Sys.readExact(p.replyFd, 32) else { return nil }
        let reply: [Int64] = r.withUnsafeBytes { raw in (0..<4).map { raw.load(fromByteOffset: $0 * 8, as: Int64.self) } }
        guard withData, reply[1] > 0 else { return (reply, []) }
        guard let bytes = Sys.readExact(p.replyFd, Int(reply[1])) else { return nil }
        return (reply, bytes)
    }

    /// Sends a command and waits for the reply. A dead child answers ESRCH.
    func call(_ id: Int, _ c: ActorCmd, _ a: Int64 = 0, _ b: Int64 = 0, _ d: Int64 = 0) -> [Int64] {
        guard let p = actors[id], let (reply, _) = request(p, [c.rawValue, a, b, d]) else { return [Int64(ESRCH), 0, 0, 0] }
        return reply
    }

    /// Has the actor perform a cgroupfs syscall itself. Returns (errno, bytes read).
    func fs(_ id: Int, _ kind: ActorFs, _ path: String, _ data: [UInt8] = []) -> (Int32, [UInt8]) {
        let payload = Array(path.utf8) + [0] + data
        guard let p = actors[id],
              let (reply, bytes) = request(p, [ActorCmd.fs.rawValue, kind.rawValue, Int64(payload.count), 0],
                                           payload: payload, withData: true) else { return (ESRCH, []) }
        return (Int32(reply[0]), bytes)
    }

    /// Every actor's KCOV edges since the last ask.
    func coverage() -> [UInt64] {
        var out: [UInt64] = runnerEdges
        runnerEdges.removeAll()
        for p in actors.values {
            guard let (_, bytes) = request(p, [ActorCmd.coverage.rawValue, 0, 0, 0], withData: true) else { continue }
            bytes.withUnsafeBytes { raw in for i in 0..<(bytes.count / 8) { out.append(raw.load(fromByteOffset: i * 8, as: UInt64.self)) } }
        }
        return out
    }

    /// Tells the actor to exit (its fds close, its buffers are freed) and reaps it.
    func exit(_ id: Int) -> Int32 {
        guard actors[id] != nil else { return ESRCH }
        _ = call(id, .exit)
        return reap(id)
    }

    /// Waits for an actor that was told to exit and forgets it.
    func reap(_ id: Int) -> Int32 {
        guard let p = actors[id] else { return ESRCH }
        var st: Int32 = 0
        while waitpid(p.pid, &st, 0) < 0 && errno == EINTR {}
        close(p.cmdFd); close(p.replyFd)
        actors[id] = nil
        return 0
    }

    func exitAll() { for id in actors.keys.sorted() { _ = exit(id) } }
}

/// The child side: opens cards lazily, runs ioctls, answers on the reply pipe. Never returns.
struct ActorChild {
    let cmdFd: Int32, replyFd: Int32
    let kcov: Kcov?
    let race: UnsafeMutablePointer<Int32>

    func loop(cards: [Int64: Int32] = [:]) -> Never {
        var cardFds = cards
        func card(_ minor: Int64) -> (Int32, Int32) {
            if let fd = cardFds[minor] { return (fd, 0) }
            let fd = open("/dev/dri/card\(minor)", O_RDWR | O_CLOEXEC)
            if fd < 0 { return (-1, errno) }
            cardFds[minor] = fd
            return (fd, 0)
        }
        var pinned = false
        while true {
            guard let raw = Sys.readExact(cmdFd, 32) else { _exit(0) }
            let m: [Int64] = raw.withUnsafeBytes { r in (0..<4).map { r.load(fromByteOffset: $0 * 8, as: Int64.self) } }
            var reply: [Int64] = [0, 0, 0, 0]
            let cmd = ActorCmd(rawValue: m[0] & 0xff)
            // An fs command's payload comes first, so the syscall is all that is left to race.
            var payload: [UInt8] = []
            if cmd == .fs { guard let p = Sys.readExact(cmdFd, Int(m[2])) else { _exit(0) }; payload = p }
            if m[0] & ActorWord.armed != 0 {
                dmemfuzz_race_arrive(race, Int32((m[0] >> 16) & 0xff) - 1, Int32((m[0] >> 24) & 0xff) - 1)
                pinned = true
            } else if pinned {
                dmemfuzz_race_pin(-1); pinned = false
            }
            switch cmd {
            case .allocVgem:  // a = card, b = region, d = size
                let (fd, e) = card(m[1])
                if fd < 0 { reply[0] = Int64(e); break }
                var req = VgemCreate(size: UInt64(bitPattern: m[3]), region: UInt32(truncatingIfNeeded: m[2]))
                let r = Drm.ioctl(fd, Drm.VGEM_DMEM_CREATE, &req)
                reply = [Int64(r), Int64(req.handle), Int64(bitPattern: req.id), 0]
            case .allocDumb:  // a = card, d = size
                let (fd, e) = card(m[1])
                if fd < 0 { reply[0] = Int64(e); break }
                let size = UInt64(bitPattern: m[3])
                var req = CreateDumb(height: UInt32(truncatingIfNeeded: (size + 4095) / 4096), width: 1024, bpp: 32)
                let r = Drm.ioctl(fd, Drm.MODE_CREATE_DUMB, &req)
                reply = [Int64(r), Int64(req.handle), Int64(bitPattern: req.size), 0]
            case .free:  // a = card, b = handle
                let (fd, e) = card(m[1])
                if fd < 0 { reply[0] = Int64(e); break }
                var req: (UInt32, UInt32) = (UInt32(truncatingIfNeeded: m[2]), 0)
                reply[0] = Int64(Drm.ioctl(fd, Drm.GEM_CLOSE, &req))
            case .info:  // a = card, b = handle
                let (fd, e) = card(m[1])
                if fd < 0 { reply[0] = Int64(e); break }
                var req = VgemInfo(handle: UInt32(truncatingIfNeeded: m[2]))
                let r = Drm.ioctl(fd, Drm.VGEM_DMEM_INFO, &req)
                reply = [Int64(r), Int64(req.resident), Int64(bitPattern: req.size), Int64(bitPattern: req.id)]
            case .transfer:  // a = card, b = handle, d = receiving pid (0: none, the kernel's ESRCH)
                let (fd, e) = card(m[1])
                if fd < 0 { reply[0] = Int64(e); break }
                var req: (UInt32, UInt32) = (UInt32(truncatingIfNeeded: m[2]), UInt32(truncatingIfNeeded: m[3]))
                reply[0] = Int64(Drm.ioctl(fd, Drm.VGEM_DMEM_TRANSFER, &req))
            case .fdinfo:  // a = card
                let (fd, e) = card(m[1])
                if fd < 0 { reply[0] = Int64(e); break }
                let (r, bytes) = Sys.readFile("/proc/self/fdinfo/\(fd)")
                reply[0] = Int64(r)
                kcov?.collect()
                _ = send(reply, data: bytes)
                continue
            case .fork:
                var cmd: [Int32] = [0, 0], rep: [Int32] = [0, 0]
                guard dmemfuzz_pipe2(&cmd, O_CLOEXEC) == 0 else { reply[0] = Int64(errno); break }
                guard dmemfuzz_pipe2(&rep, O_CLOEXEC) == 0 else { reply[0] = Int64(errno); close(cmd[0]); close(cmd[1]); break }
                let pid = dmemfuzz_fork_parent()
                if pid == 0 {
                    // The new actor: KCOV is per task, so it opens its own; the DRM fds are shared.
                    close(cmdFd); close(replyFd); close(cmd[1]); close(rep[0])
                    ActorChild(cmdFd: cmd[0], replyFd: rep[1], kcov: kcov.flatMap { Kcov(filter: $0.filter) }, race: race).loop(cards: cardFds)
                }
                close(cmd[0]); close(rep[1])
                if pid < 0 { reply[0] = Int64(-pid); close(cmd[1]); close(rep[0]); break }
                _ = send([0, Int64(pid), Int64(cmd[1]), Int64(rep[0])])
                // The agent opens its ends through /proc, then acks with a ping.
                _ = Sys.readExact(cmdFd, 32)
                close(cmd[1]); close(rep[0])
                reply[1] = Int64(getpid())
            case .dropCaps:
                if let caps = cap_init() {
                    reply[0] = cap_set_proc(caps) == 0 ? 0 : Int64(errno)
                    cap_free(UnsafeMutableRawPointer(caps))
                } else { reply[0] = Int64(errno) }
            case .setuid:
                reply[0] = Glibc.setuid(uid_t(truncatingIfNeeded: m[1])) == 0 ? 0 : Int64(errno)
            case .exit:
                for fd in cardFds.values { close(fd) }
                _ = send(reply)
                _exit(0)
            case .ping:
                reply[1] = Int64(getpid())
            case .coverage:
                _ = send(reply, data: (kcov?.take() ?? []).withUnsafeBytes { Array($0) })
                continue
            case .fs:
                let nul = payload.firstIndex(of: 0) ?? payload.endIndex
                let path = String(decoding: payload[..<nul], as: UTF8.self)
                let data = nul < payload.endIndex ? Array(payload[(nul + 1)...]) : []
                var out: [UInt8] = []
                switch ActorFs(rawValue: m[1]) {
                case .mkdir: reply[0] = Int64(Sys.mkdir(path))
                case .rmdir: reply[0] = Int64(Sys.rmdir(path))
                case .write: reply[0] = Int64(Sys.writeFile(path, data))
                case .writeNonblock: reply[0] = Int64(Sys.writeFile(path, data, nonblock: true))
                case .read: (reply[0], out) = { let (e, b) = Sys.readFile(path); return (Int64(e), b) }()
                case nil: reply[0] = Int64(EINVAL)
                }
                kcov?.collect()
                _ = send(reply, data: out)
                continue
            case nil:
                reply[0] = Int64(EINVAL)
            }
            kcov?.collect()
            _ = send(reply)
        }
    }
    func send(_ r: [Int64]) -> Bool { Sys.writeAll(replyFd, r.withUnsafeBytes { Array($0) }) }
    /// A reply followed by `data`, whose length goes in v1.
    func send(_ r: [Int64], data: [UInt8]) -> Bool {
        var r = r
        r[1] = Int64(data.count)
        return Sys.writeAll(replyFd, r.withUnsafeBytes { Array($0) } + data)
    }
}

struct VgemCreate { var size: UInt64; var region: UInt32; var handle: UInt32 = 0; var id: UInt64 = 0 }
struct VgemInfo { var handle: UInt32; var resident: UInt32 = 0; var size: UInt64 = 0; var id: UInt64 = 0 }
struct CreateDumb {
    var height: UInt32, width: UInt32, bpp: UInt32, flags: UInt32 = 0
    var handle: UInt32 = 0, pitch: UInt32 = 0, size: UInt64 = 0
}
