// Racing groups (`par { ... }`): the group's ops start at the same moment from different
// processes. Actor ops go to their actors armed (they wait at the shared barrier, pinned to a
// CPU each); root ops run in a runner the agent forks for the op. When all have arrived the agent
// lets them go, then collects the replies and does the bookkeeping in the group's own order.
import Glibc
import CKmod
import DmemModel
import Trace

extension Executor {
    /// How one member of a group is started and what its raw reply means.
    enum Launch {
        /// Decided before anything ran (no such actor, no such buffer, a size vkms cannot have).
        case done(Outcome)
        case actor(ActorID, ActorCmd, [Int64], payload: [UInt8], withData: Bool, finish: ([Int64], [UInt8]) -> Outcome)
        case runner(() -> (Int32, [UInt8]), finish: (Int32, [UInt8]) -> Outcome)
    }

    func race(_ ops: [Op]) -> Outcome {
        let watchedBefore = buffers.filter { $0.value.vgem && $0.value.resident }.keys
        let launches = ops.map(launch)
        let cpus = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        dmemfuzz_race_arm(actors.race)
        // Start offsets: the first member leaves the barrier at once, each other one at once or
        // after 1-50 us, drawn anew for every run of the group.
        let offsets: [Int32] = [0, 0, 1_000, 5_000, 20_000, 50_000]
        // (From the clock, not random(): every guest restored from one snapshot has the same
        // random() state.)
        let t = UInt64(Sys.monotonicSeconds() * 1e9)
        for i in 0..<launches.count {
            let pick = Int(((t ^ UInt64(i) &* 0xBF58_476D_1CE4_E5B9) &* 0x9E37_79B9_7F4A_7C15) >> 58) % offsets.count
            dmemfuzz_race_delay(actors.race, Int32(i), i == 0 ? 0 : offsets[pick])
        }

        // Start every member; an actor with two members gets only its first one armed (it runs
        // the second after the first, as one process does).
        var armedActors = Set<ActorID>()
        var runners: [Int: (pid: pid_t, fd: Int32)] = [:]
        var participants = 0
        var posted = Set<Int>()
        for (i, l) in launches.enumerated() {
            let cpu = i % cpus
            switch l {
            case .done: break
            case let .actor(a, cmd, args, payload, _, _):
                guard let p = actors.actors[a] else { continue }
                let armed = armedActors.insert(a).inserted
                var words = [ActorWord.word(cmd, armedOn: armed ? cpu : nil, index: i)] + args
                while words.count < 4 { words.append(0) }
                if actors.post(p, words, payload: payload) { posted.insert(i); if armed { participants += 1 } }
            case let .runner(work, _):
                if let r = startRunner(work, cpu: cpu, index: i) { runners[i] = r; participants += 1 }
            }
        }
        _ = dmemfuzz_race_release(actors.race, Int32(participants), 10_000)

        var outcomes: [Outcome] = []
        for (i, l) in launches.enumerated() {
            switch l {
            case let .done(o): outcomes.append(o)
            case let .actor(a, _, _, _, withData, finish):
                guard posted.contains(i), let p = actors.actors[a], let (reply, bytes) = actors.collect(p, withData: withData) else {
                    outcomes.append(finish([Int64(ESRCH), 0, 0, 0], [])); continue
                }
                outcomes.append(finish(reply, bytes))
            case let .runner(_, finish):
                guard let r = runners[i] else { outcomes.append(.err(.EAGAIN)); continue }
                let (code, bytes) = finishRunner(r)
                outcomes.append(finish(code, bytes))
            }
        }

        // Which of the buffers resident before, or allocated here, are evicted now: the guest
        // cannot see which member evicted one (Outcome.group).
        var watched = Set(watchedBefore)
        for (i, op) in ops.enumerated() {
            if case let .alloc(_, _, _, b) = op, outcomes[i].isSuccess, buffers[b]?.vgem == true { watched.insert(b) }
        }
        return Outcome(evicted: evictedNow(watched.sorted()), group: outcomes)
    }

    /// A root op in a process of its own: it waits at the barrier, runs, and reports
    /// [errno, data bytes, KCOV edges] + data + edges on a pipe.
    func startRunner(_ work: () -> (Int32, [UInt8]), cpu: Int, index: Int) -> (pid: pid_t, fd: Int32)? {
        var fds: [Int32] = [0, 0]
        guard dmemfuzz_pipe2(&fds, O_CLOEXEC) == 0 else { return nil }
        let filter = actors.kcovFilter
        let race = actors.race
        let pid = fork()
        if pid < 0 { close(fds[0]); close(fds[1]); return nil }
        if pid == 0 {
            close(fds[0])
            let cover = filter.flatMap { Kcov(filter: $0, entries: 1 << 14) }
            dmemfuzz_race_arrive(race, Int32(cpu), Int32(index))
            let (code, bytes) = work()
            let edges = cover?.take() ?? []
            let head: [Int64] = [Int64(code), Int64(bytes.count), Int64(edges.count)]
            _ = Sys.writeAll(fds[1], head.withUnsafeBytes { Array($0) } + bytes + edges.withUnsafeBytes { Array($0) })
            _exit(0)
        }
        close(fds[1])
        return (pid, fds[0])
    }

    func finishRunner(_ r: (pid: pid_t, fd: Int32)) -> (Int32, [UInt8]) {
        defer {
            close(r.fd)
            var st: Int32 = 0
            while waitpid(r.pid, &st, 0) < 0 && errno == EINTR {}
        }
        guard let h = Sys.readExact(r.fd, 24) else { return (EIO, []) }
        let head: [Int64] = h.withUnsafeBytes { raw in (0..<3).map { raw.load(fromByteOffset: $0 * 8, as: Int64.self) } }
        let bytes = head[1] > 0 ? (Sys.readExact(r.fd, Int(head[1])) ?? []) : []
        if head[2] > 0, let e = Sys.readExact(r.fd, Int(head[2]) * 8) {
            e.withUnsafeBytes { raw in for i in 0..<Int(head[2]) { actors.runnerEdges.append(raw.load(fromByteOffset: i * 8, as: UInt64.self)) } }
        }
        return (Int32(head[0]), bytes)
    }

    /// What starting `op` in a group means: the same syscalls and ioctls `execute` makes, split
    /// into the racing part and the bookkeeping after it.
    func launch(_ op: Op) -> Launch {
        let e = Self.e
        switch op {
        case .mkdir(let p): return .runner({ (Sys.mkdir(Self.dir(p)), []) }, finish: { c, _ in e(c) })
        case .rmdir(let p): return .runner({ (Sys.rmdir(Self.dir(p)), []) }, finish: { c, _ in e(c) })
        case .write(let p, let f, let data, let nb):
            return .runner({ (Sys.writeFile(Self.file(p, f), data, nonblock: nb), []) }, finish: { c, _ in e(c) })
        case .read(let p, let f):
            return .runner({ Sys.readFile(Self.file(p, f)) }, finish: { c, b in c == 0 ? .bytes(b) : .err(Errno(c)) })
        case .move(let a, let p):
            guard let pid = actors.actors[a]?.pid else { return .done(.err(.ESRCH)) }
            return .runner({ (Sys.writeFile(Self.file(p, "cgroup.procs"), Array(String(pid).utf8)), []) }, finish: { c, _ in e(c) })
        case .register(let region, let size):
            return .runner({ (self.register(region, size: size), []) }, finish: { c, _ in e(c) })
        case .unregister(let region):
            return .runner({ (self.unregister(region), []) }, finish: { c, _ in
                if c == 0 && region == Model.selftestRegion { self.buffers = self.buffers.filter { !$0.value.selftest } }
                return e(c)
            })
        case .exit(let a):
            guard actors.actors[a] != nil else { return .done(.err(.ESRCH)) }
            return .actor(a, .exit, [], payload: [], withData: false, finish: { _, _ in
                _ = self.actors.reap(a)
                self.exited(a)
                return .ok
            })
        case .alloc(let a, let region, let size, let id):
            guard actors.actors[a] != nil else { return .done(.err(.ESRCH)) }
            if buffers[id] != nil { return .done(.err(.EEXIST)) }
            if region == Model.selftestRegion {
                let payload = Array((Self.selftestDir + "/charge").utf8) + [0] + Array(String(size).utf8)
                return .actor(a, .fs, [ActorFs.write.rawValue, Int64(payload.count), 0], payload: payload, withData: true, finish: { r, _ in
                    if r[0] == 0 { self.buffers[id] = Buffer(actor: a, card: -1, handle: 0, region: region, vgem: false, resident: true, selftest: true) }
                    return e(Int32(r[0]))
                })
            }
            guard let t = Drm.target(region: region) else { return .done(.err(.ENODEV)) }
            Sys.grantCardAccess(t.card)
            switch t {
            case .vgem(let card, let idx):
                let file = opened(a, card: card)
                return .actor(a, .allocVgem, [Int64(card), Int64(idx), Int64(bitPattern: size)], payload: [], withData: false, finish: { r, _ in
                    if r[0] != 0 { return .err(Errno(Int32(r[0]))) }
                    self.buffers[id] = Buffer(actor: a, card: card, handle: UInt32(truncatingIfNeeded: r[1]), region: region, vgem: true, resident: true, file: file)
                    return .ok
                })
            case .vkms(let card):
                if size == 0 || size % 4096 != 0 { return .done(.err(.EINVAL)) }
                let file = opened(a, card: card)
                return .actor(a, .allocDumb, [Int64(card), 0, Int64(bitPattern: size)], payload: [], withData: false, finish: { r, _ in
                    if r[0] != 0 { return .err(Errno(Int32(r[0]))) }
                    self.buffers[id] = Buffer(actor: a, card: card, handle: UInt32(truncatingIfNeeded: r[1]), region: region, vgem: false, resident: true, file: file)
                    return .ok
                })
            }
        case .free(let id):
            guard let b = buffers[id] else { return .done(.err(.ENOENT)) }
            if b.selftest {
                return .runner({ (Sys.writeFile(Self.selftestDir + "/uncharge", "1"), []) }, finish: { c, _ in
                    if c == 0 { self.buffers[id] = nil }
                    return e(c)
                })
            }
            return .actor(b.actor, .free, [Int64(b.card), Int64(b.handle)], payload: [], withData: false, finish: { r, _ in
                if r[0] == 0 { self.buffers[id] = nil }
                return e(Int32(r[0]))
            })
        case .transfer(let a, let id, let to):
            guard actors.actors[a] != nil else { return .done(.err(.ESRCH)) }
            guard let b = buffers[id], holds(a, b), b.vgem else { return .done(.err(.ENOENT)) }
            let pid = actors.actors[to].map { Int64($0.pid) } ?? 0
            return .actor(a, .transfer, [Int64(b.card), Int64(b.handle), pid], payload: [], withData: false, finish: { r, _ in e(Int32(r[0])) })
        case .by(let a, let inner):
            guard actors.actors[a] != nil else { return .done(.err(.ESRCH)) }
            switch fsRequest(inner) {
            case let .refused(o): return .done(o)
            case let .request(kind, path, data):
                let payload = Array(path.utf8) + [0] + data
                return .actor(a, .fs, [kind.rawValue, Int64(payload.count), 0], payload: payload, withData: true,
                              finish: { r, bytes in kind == .read && r[0] == 0 ? .bytes(bytes) : e(Int32(r[0])) })
            }
        case .spawn, .fork, .fdinfo, .resident, .dying, .evictQuery, .delegate, .setuid, .dropCaps, .par, .fail, .failNth:
            return .done(.err(.EINVAL))  // the parser refuses these in a group (Op.racing)
        }
    }
}
