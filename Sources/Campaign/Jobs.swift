import Foundation

/// A task executor with one thread of its own. A campaign job talks to its guest with blocking
/// reads and writes (the agent socket, the console), so on the cooperative pool — as wide as the
/// host has cores — N jobs would hold every pool thread and any other task (another job's
/// resumption after an await, the progress output) would wait for one. A job whose task prefers
/// this executor blocks only its own thread (SE-0417 task executor preference).
public final class ThreadExecutor: TaskExecutor, @unchecked Sendable {  // `queue` is guarded by `cond`
    private let cond = NSCondition()
    private var queue: [UnownedJob] = []
    private var stopping = false

    public init(name: String) {
        let t = Thread { self.loop() }  // the thread keeps its executor until `shutdown`
        t.name = name
        t.start()
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let j = UnownedJob(job)
        cond.lock(); queue.append(j); cond.signal(); cond.unlock()
    }

    /// Lets the thread end once its queue is empty (the executor must not be used after).
    public func shutdown() {
        cond.lock(); stopping = true; cond.signal(); cond.unlock()
    }

    private func loop() {
        while true {
            cond.lock()
            while queue.isEmpty && !stopping { cond.wait() }
            if queue.isEmpty { cond.unlock(); return }
            let j = queue.removeFirst()
            cond.unlock()
            j.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}

/// What the jobs of one `fuzz --jobs N` campaign share: the signatures reached (a round joins
/// its job's corpus only with a signature no job had, so the job corpora together are the
/// campaign's corpus with no round twice for the same coverage), the finding titles (each finding
/// is minimized and saved once, by the job that found it first), the finding store's writes and
/// one stop flag (Ctrl-C, `--max-findings`).
public final class SharedCampaign: @unchecked Sendable {  // every field is guarded by `lock`
    private let lock = NSLock()
    private var known: Set<String> = []
    private var titles: Set<String> = []
    private var fresh = 0
    public let stop = StopFlag()
    public init() {}

    /// Signatures and finding titles a job had before this run (its state when resuming).
    func merge(signatures: [String], titles t: [String]) {
        lock.lock(); known.formUnion(signatures); titles.formUnion(t); lock.unlock()
    }

    /// Those of `signatures` that no job had, now known to all; `reclaiming` (the signatures a
    /// cut round claimed before it was cut, run again after a resume) count as not known.
    func claim(_ signatures: Set<String>, reclaiming: [String]) -> Set<String> {
        lock.lock(); defer { lock.unlock() }
        let new = signatures.subtracting(known.subtracting(reclaiming))
        known.formUnion(new)
        return new
    }

    /// True the first time any job says `title`; it then counts as a new finding of the run.
    func claimFinding(_ title: String) -> Bool {
        lock.lock(); defer { lock.unlock() }
        guard titles.insert(title).inserted else { return false }
        fresh += 1
        return true
    }

    /// New findings of this run, all jobs together.
    var newFindings: Int { lock.lock(); defer { lock.unlock() }; return fresh }

    /// "N signatures (K KCOV edges and PCs)" of all jobs together.
    var coverage: String { lock.lock(); defer { lock.unlock() }; return CampaignResult.describe(known) }

    /// `body` with no other job inside (the finding store names its temporary directory by pid).
    func exclusive<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock(); defer { lock.unlock() }
        return try body()
    }
}

/// The jobs of one campaign, each on a thread of its own (`ThreadExecutor`).
public enum Jobs {
    /// `body(item, j)` for every item at once, each in a task on its own thread; the results in
    /// the items' order, once all have ended.
    public static func each<T, R: Sendable>(_ items: [T], _ body: @escaping @Sendable (T, Int) async throws -> R) async -> [Result<R, Error>] {
        let executors = items.indices.map { ThreadExecutor(name: "dmemfuzz-job-\($0)") }
        defer { for e in executors { e.shutdown() } }
        return await withTaskGroup(of: (Int, Result<R, Error>).self) { group in
            for (j, item) in items.enumerated() {
                let job = Owned(item)
                group.addTask(executorPreference: executors[j]) {
                    do { return (j, .success(try await body(job.value, j))) } catch { return (j, .failure(error)) }
                }
            }
            var out = [Result<R, Error>?](repeating: nil, count: items.count)
            for await (j, r) in group { out[j] = r }
            return out.map { $0! }
        }
    }

    /// Runs every driver's campaign at once and returns their new findings. A job that fails
    /// stops the others (after their batch); the first error is thrown once all have stopped.
    public static func run(_ drivers: [CampaignDriver], progress: @escaping @Sendable (Int, String) -> Void) async throws -> [String] {
        let stops = drivers.map(\.stopRequested)
        let results = await each(drivers) { d, j in
            do { return try await d.run { progress(j, $0) } } catch {
                for s in stops { s.set() }
                throw error
            }
        }
        return try results.flatMap { try $0.get() }
    }
}

/// A value handed to the one task that uses it from then on (a job's driver and guest: not
/// Sendable, and never touched by two tasks).
struct Owned<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
