/// One of `count` disjoint slices of a campaign (`fuzz --shard K/N`): shard K runs the rounds
/// K, K + N, K + 2N, ... of the campaign with the same seed, so N machines (a CI matrix, the pods
/// of a Kubernetes Indexed Job) fuzz without any server and never repeat each other's rounds, and
/// `dmemfuzz corpus merge` joins what they found.
public struct Shard: Sendable, Equatable, CustomStringConvertible {
    public var index: Int
    public var count: Int

    public init(index: Int, count: Int) { self.index = index; self.count = count }
    public static let whole = Shard(index: 0, count: 1)

    /// `K/N` with 0 <= K < N; nil for anything else.
    public init?(parsing text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let k = Int(parts[0]), let n = Int(parts[1]), n >= 1, n <= 1 << 20, k >= 0, k < n else { return nil }
        index = k; count = n
    }

    public var description: String { "\(index)/\(count)" }

    /// The campaign-wide index of this shard's `round`-th round: its seed and its corpus file's
    /// name, so no two shards share either.
    public func globalRound(_ round: Int) -> Int { round * count + index }

    /// Where a shard's campaign goes unless --campaign says: its own directory.
    public var defaultCampaign: String { count == 1 ? "campaigns/default" : "campaigns/shard-\(index)-of-\(count)" }
}
