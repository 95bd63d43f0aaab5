/// The VRAM manager of vgem's test regions: TTM's range manager (ttm_range_man_alloc() in
/// drivers/gpu/drm/ttm/ttm_range_manager.c), which places every resource with
/// drm_mm_insert_node_in_range(..., DRM_MM_INSERT_BEST) over `pages` pages. Real TTM places
/// buffers contiguously, so an allocation can fail with enough free pages in total: the model
/// must know where every buffer sits, not only how much is used.
///
/// drm_mm (drivers/gpu/drm/drm_mm.c) keeps its holes in an rbtree ordered by size, largest
/// leftmost; insert_hole_size() puts a hole of equal size to the right of the ones already there,
/// and best_hole() returns the rightmost hole that fits. So the chosen hole is the smallest that
/// fits and, among equal sizes, the one added last. A hole belongs to the node before it (the
/// first one to the head node); each add_hole() (a new or merged hole) gets a new sequence
/// number here, which is all the rbtree's order among equal sizes depends on.
public struct RangeManager: Sendable, Equatable {
    struct Node: Sendable, Equatable {
        var start: UInt64, pages: UInt64
        var holeSeq: UInt64 = 0     // when the hole after this node was last added
    }
    public let pages: UInt64
    /// Allocated nodes in address order (drm_mm's node_list).
    private(set) var nodes: [Node] = []
    private var headHoleSeq: UInt64 = 0
    private var seq: UInt64 = 0

    /// drm_mm_init(mm, 0, pages): one hole, owned by the head node.
    public init(pages: UInt64) { self.pages = pages }

    public var usedPages: UInt64 { nodes.reduce(0) { $0 &+ $1.pages } }

    /// Holes as (owner index, nil for the head node; start; size; seq).
    private var holes: [(owner: Int?, start: UInt64, size: UInt64, seq: UInt64)] {
        var out: [(owner: Int?, start: UInt64, size: UInt64, seq: UInt64)] = []
        var end: UInt64 = 0
        var owner: Int?
        var ownerSeq = headHoleSeq
        for (i, n) in nodes.enumerated() {
            if n.start > end { out.append((owner, end, n.start - end, ownerSeq)) }
            end = n.start + n.pages
            owner = i; ownerSeq = n.holeSeq
        }
        if pages > end { out.append((owner, end, pages - end, ownerSeq)) }
        return out
    }

    /// The largest hole, in pages (drm_mm's rb_first_cached(&mm->holes_size)).
    public var largestHole: UInt64 { holes.map(\.size).max() ?? 0 }

    /// drm_mm_insert_node_in_range() in DRM_MM_INSERT_BEST mode with no alignment or colour:
    /// the node goes at the start of the best hole; what is left of the hole becomes the new
    /// node's hole (add_hole(node)). Returns the first page, or nil for -ENOSPC.
    public mutating func alloc(pages want: UInt64) -> UInt64? {
        guard want > 0, want <= pages else { return nil }
        var best: (owner: Int?, start: UInt64, size: UInt64, seq: UInt64)?
        for h in holes where h.size >= want {
            if let b = best, h.size > b.size || (h.size == b.size && h.seq < b.seq) { continue }
            best = h
        }
        guard let hole = best else { return nil }
        var node = Node(start: hole.start, pages: want)
        if hole.size > want { seq += 1; node.holeSeq = seq }
        let at = (hole.owner ?? -1) + 1
        nodes.insert(node, at: at)
        return hole.start
    }

    /// drm_mm_remove_node(): the node's hole and its predecessor's merge into the predecessor's,
    /// which is added anew.
    public mutating func free(start: UInt64) {
        guard let i = nodes.firstIndex(where: { $0.start == start }) else { return }
        nodes.remove(at: i)
        seq += 1
        if i == 0 { headHoleSeq = seq } else { nodes[i - 1].holeSeq = seq }
    }
}
