// failslab as the `fail N op`s use it (lib/fault-inject.c, Documentation/fault-injection/),
// shared by the agent (Sources/AgentCore/Fault.swift) and repro.c (ReproTables generates it
// into the C), so both arm the kernel the same way.

public enum Failslab {
    public static let dir = "/sys/kernel/debug/failslab"

    /// The attributes that stay the same for every op, in the order written: `times` 0 first, so
    /// failslab is idle while the rest change; probability 100 and interval 1 fail every
    /// allocation that passes the filters; task-filter lets through only a task whose make-it-fail
    /// is set; ignore-gfp-wait N lets GFP_KERNEL allocations (the pool preallocation) fail too;
    /// verbose 0 keeps the console free of injection reports.
    public static let settings: [(file: String, value: String)] = [
        ("times", "0"), ("probability", "100"), ("interval", "1"), ("space", "0"), ("verbose", "0"),
        ("task-filter", "Y"), ("ignore-gfp-wait", "N"), ("cache-filter", "N"), ("stacktrace-depth", "32"),
        ("reject-start", "0"), ("reject-end", "0"),
    ]

    /// Rejected by the stack filter (reject-start/reject-end, set to its text where the kernel
    /// has it): SLUB's own kmalloc of a percpu sheaf (mm/slub.c __alloc_empty_sheaf(), 6.18 on),
    /// made now and then inside the dmem.c function's kzalloc. It has that function's frame, so
    /// it counted as one of the op's allocations: `fail nth 3` of a `+dmem` write with two
    /// children sometimes injected 1 on 7.3.4 (ReproInGuestTests), and a failed sheaf is
    /// absorbed by SLUB, so a `fail` could be used up with nothing failing that dmem sees.
    public static let rejectFunction = "__alloc_empty_sheaf"
}
