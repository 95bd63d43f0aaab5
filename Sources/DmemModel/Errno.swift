/// A Linux errno, by number, printed by name. Foundation-free so the guest agent can use it.
public struct Errno: Error, Hashable, Sendable, Comparable, CustomStringConvertible {
    public let rawValue: Int32
    public init(_ rawValue: Int32) { self.rawValue = rawValue }

    public static let EPERM = Errno(1), ENOENT = Errno(2), ESRCH = Errno(3), EINTR = Errno(4)
    public static let EIO = Errno(5), E2BIG = Errno(7), EBADF = Errno(9), EAGAIN = Errno(11)
    public static let ENOMEM = Errno(12), EACCES = Errno(13), EFAULT = Errno(14), EBUSY = Errno(16)
    public static let EEXIST = Errno(17), ENODEV = Errno(19), ENOTDIR = Errno(20), EISDIR = Errno(21)
    public static let EINVAL = Errno(22), ENOSPC = Errno(28), EROFS = Errno(30), ERANGE = Errno(34)
    public static let ENAMETOOLONG = Errno(36), ENOTEMPTY = Errno(39), EOPNOTSUPP = Errno(95)
    public static let ETIMEDOUT = Errno(110)

    /// Every errno the model and the agent name, with its number: what `name` and `init(name:)`
    /// read, and what the C reproducer's generated table prints (`ReproTables`).
    public static let names: [(String, Int32)] = [
        ("EPERM", 1), ("ENOENT", 2), ("ESRCH", 3), ("EINTR", 4), ("EIO", 5), ("E2BIG", 7),
        ("EBADF", 9), ("EAGAIN", 11), ("ENOMEM", 12), ("EACCES", 13), ("EFAULT", 14),
        ("EBUSY", 16), ("EEXIST", 17), ("ENODEV", 19), ("ENOTDIR", 20), ("EISDIR", 21),
        ("EINVAL", 22), ("ENOSPC", 28), ("EROFS", 30), ("ERANGE", 34), ("ENAMETOOLONG", 36),
        ("ENOTEMPTY", 39), ("EOPNOTSUPP", 95), ("ETIMEDOUT", 110),
    ]

    public var name: String? { Errno.names.first { $0.1 == rawValue }?.0 }
    /// Unknown numbers print as `E#123` so nothing the kernel returns is lost.
    public var description: String { name ?? "E#\(rawValue)" }

    public init?(name: String) {
        if let hit = Errno.names.first(where: { $0.0 == name }) { self.init(hit.1); return }
        if name.hasPrefix("E#"), let n = Int32(name.dropFirst(2)), n > 0 { self.init(n); return }
        return nil
    }
    public static func < (a: Errno, b: Errno) -> Bool { a.rawValue < b.rawValue }
}

/// An actor is a process the executor spawns and keeps parked in a cgroup; it charges buffers.
public typealias ActorID = Int
/// A buffer is a driver object (GEM buffer) an actor allocated; it is charged while resident.
public typealias BufferID = Int
