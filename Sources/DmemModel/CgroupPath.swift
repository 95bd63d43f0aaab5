/// A cgroup relative to the cgroup2 mount: `/` is the root, `/a/b` a grandchild.
public struct CgroupPath: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let components: [String]
    public init(_ components: [String]) { self.components = components }
    public static let root = CgroupPath([])

    /// Parses `/`, `/a`, `/a/b`. Nil for paths not starting with `/`, with empty or `.`/`..` parts.
    public init?(parsing text: Substring) {
        guard text.first == "/" else { return nil }
        if text == "/" { self.init([]); return }
        let parts = text.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
        guard parts.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." }) else { return nil }
        self.init(parts.map(String.init))
    }

    public var isRoot: Bool { components.isEmpty }
    public var depth: Int { components.count }
    public var parent: CgroupPath? { isRoot ? nil : CgroupPath(Array(components.dropLast())) }
    public var name: String { components.last ?? "" }
    public func child(_ name: String) -> CgroupPath { CgroupPath(components + [name]) }
    /// True for self and every descendant.
    public func contains(_ other: CgroupPath) -> Bool {
        other.components.count >= components.count && Array(other.components.prefix(components.count)) == components
    }
    public var description: String { isRoot ? "/" : "/" + components.joined(separator: "/") }
    public static func < (a: CgroupPath, b: CgroupPath) -> Bool {
        a.components.lexicographicallyPrecedes(b.components)
    }
}
