import XCTest
@testable import DmemModel

extension Model {
    mutating func w(_ p: String, _ f: String, _ s: String, nonblock: Bool = false) -> FileResult {
        write(CgroupPath(parsing: Substring(p))!, f, Array(s.utf8), nonblock: nonblock)
    }
    mutating func r(_ p: String, _ f: String) -> String? {
        if case .data(let d) = read(CgroupPath(parsing: Substring(p))!, f) { return String(decoding: d, as: UTF8.self) }
        return nil
    }
    mutating func rr(_ p: String, _ f: String) -> FileResult { read(CgroupPath(parsing: Substring(p))!, f) }
    mutating func md(_ p: String) -> Errno? { mkdir(CgroupPath(parsing: Substring(p))!) }
}

/// Interface files: presence, formatting, write parsing per profile (kernel/cgroup/dmem.c).
final class FilesTests: XCTestCase {
    func model(_ profile: KernelProfile, _ options: ModelOptions = []) -> Model {
        var m = Model(profile: profile, options: options)
        _ = m.register("vkms/a", size: 1 << 20)
        _ = m.register("vkms/b", size: 2 << 20)
        XCTAssertNil(m.md("/g"))
        return m
    }

    /// The posted 7.2 series as options (ModelOption.singleRegionWrite, .peakFile): the 7.3
    /// parser on a 7.2 kernel, without 7.3's reclaim; dmem.peak on non-root cgroups only.
    func testPostedSeriesOptionsOn72() {
        var m = model(.v7_2, [.singleRegionWrite])
        // Two lines in one write: 7.2 applies both, the series refuses the write (strsep leaves
        // "1024\nvkms/b 2048" as the value, which memparse does not consume) and applies nothing.
        XCTAssertEqual(m.w("/g", "dmem.max", "vkms/a 1024\nvkms/b 2048"), .error(.EINVAL))
        XCTAssertEqual(m.r("/g", "dmem.max"), "vkms/a max\nvkms/b max\n")
        var plain = model(.v7_2)
        XCTAssertEqual(plain.w("/g", "dmem.max", "vkms/a 1024\nvkms/b 2048"), .ok)
        XCTAssertEqual(plain.r("/g", "dmem.max"), "vkms/a 1024\nvkms/b 2048\n")
        // One pair works; a max below usage is still left alone (7.2's set_resource_max ignores
        // page_counter_set_max's EBUSY; the series does not add 7.3's reclaim).
        XCTAssertEqual(m.w("/g", "dmem.max", " vkms/a 4096 "), .ok)
        XCTAssertEqual(m.r("/g", "dmem.max"), "vkms/a 4096\nvkms/b max\n")
        var p = model(.v7_2, [.peakFile])
        XCTAssertEqual(p.r("/g", "dmem.peak"), "vkms/a 0\nvkms/b 0\n")
        XCTAssertEqual(p.rr("/", "dmem.peak"), .error(.ENOENT))
        XCTAssertEqual(p.w("/g", "dmem.peak", "vkms/a 1"), .error(.EINVAL))
    }

    func testWhichFilesExistWhere() {
        var m = model(.v7_2)
        XCTAssertEqual(m.r("/", "dmem.capacity"), "vkms/a 1048576\nvkms/b 2097152\n")
        XCTAssertEqual(m.r("/", "dmem.current"), "vkms/a 0\nvkms/b 0\n")   // source: present on root
        XCTAssertEqual(m.rr("/", "dmem.max"), .error(.ENOENT))
        XCTAssertEqual(m.rr("/g", "dmem.capacity"), .error(.ENOENT))
        XCTAssertEqual(m.r("/g", "dmem.max"), "vkms/a max\nvkms/b max\n")     // no pool yet: defaults
        XCTAssertEqual(m.r("/g", "dmem.min"), "vkms/a 0\nvkms/b 0\n")
        XCTAssertEqual(m.rr("/g", "dmem.peak"), .error(.ENOENT))              // 7.3 only
        var m3 = model(.v7_3)
        XCTAssertEqual(m3.r("/g", "dmem.peak"), "vkms/a 0\nvkms/b 0\n")
        XCTAssertEqual(m3.rr("/", "dmem.peak"), .error(.ENOENT))
        var doc = model(.v7_3, [.noCurrentOnRoot])
        XCTAssertEqual(doc.rr("/", "dmem.current"), .error(.ENOENT))
    }

    func testWriteErrorsBeforeParsing() {
        var m = model(.v7_3)
        XCTAssertEqual(m.w("/g", "dmem.current", "vkms/a 1"), .error(.EINVAL))   // no handler, not EACCES (checked on 7.3.4)
        XCTAssertEqual(m.w("/g", "dmem.current", ""), .ok)
        XCTAssertEqual(m.w("/", "dmem.capacity", "vkms/a 1"), .error(.EINVAL))
        XCTAssertEqual(m.w("/g", "dmem.bogus", "vkms/a 1"), .error(.ENOENT))
        XCTAssertEqual(m.w("/nosuch", "dmem.max", "vkms/a 1"), .error(.ENOENT))
        XCTAssertEqual(m.w("/g", "dmem.max", String(repeating: " ", count: 4097)), .error(.E2BIG))
        XCTAssertEqual(m.w("/g", "dmem.max", ""), .ok)                          // cgroup_file_write: 0 bytes
        XCTAssertEqual(m.w("/g", "dmem.max", "\0vkms/a 5"), .error(.EINVAL))    // C string ends at NUL
    }

    func testV72MultiLineWritesStopAtFirstBadLineKeepingEarlierOnes() {
        var m = model(.v7_2)
        XCTAssertEqual(m.w("/g", "dmem.max", "vkms/a 1M\nnosuch 2M\nvkms/b 3M\n"), .error(.EINVAL))
        XCTAssertEqual(m.r("/g", "dmem.max"), "vkms/a 1048576\nvkms/b max\n")
        XCTAssertEqual(m.w("/g", "dmem.max", "\n\n  vkms/b\t5  \n\n"), .ok)      // blank lines skipped, tab splits
        XCTAssertEqual(m.r("/g", "dmem.max"), "vkms/a 1048576\nvkms/b 5\n")
        XCTAssertEqual(m.w("/g", "dmem.low", "vkms/a 1k\nvkms/b 2k"), .ok)
        XCTAssertEqual(m.r("/g", "dmem.low"), "vkms/a 1024\nvkms/b 2048\n")
        XCTAssertEqual(m.w("/g", "dmem.min", "vkms/a"), .error(.EINVAL))        // no value
        XCTAssertEqual(m.w("/g", "dmem.min", "vkms/a  1"), .error(.EINVAL))     // value " 1"
        XCTAssertEqual(m.w("/g", "dmem.min", "vkms/a 1\r\n"), .ok)              // \r is isspace
    }

    func testV73TakesExactlyOnePair() {
        var m = model(.v7_3)
        XCTAssertEqual(m.w("/g", "dmem.max", "vkms/a 1M\n"), .ok)
        XCTAssertEqual(m.w("/g", "dmem.max", "vkms/a 2M\nvkms/b 3M\n"), .error(.EINVAL))
        XCTAssertEqual(m.w("/g", "dmem.max", "\n\nvkms/b 3M"), .ok)            // whole-buffer strstrip
        XCTAssertEqual(m.r("/g", "dmem.max"), "vkms/a 1048576\nvkms/b 3145728\n")
        XCTAssertEqual(m.w("/g", "dmem.max", "vkms/a  1"), .error(.EINVAL))
        XCTAssertEqual(m.w("/g", "dmem.max", "\n"), .error(.EINVAL))
        XCTAssertEqual(m.w("/g", "dmem.max", "nosuch 1"), .error(.EINVAL))
    }

    func testMaxIsPrintedAtOrAbovePageCounterMax() {
        var m = model(.v7_3)
        XCTAssertEqual(m.w("/g", "dmem.max", "vkms/a 2251799813685246"), .ok)
        XCTAssertEqual(m.w("/g", "dmem.min", "vkms/a 2251799813685247"), .ok)
        XCTAssertEqual(m.w("/g", "dmem.low", "vkms/a 9223372036854775808"), .ok)
        XCTAssertEqual(m.r("/g", "dmem.max"), "vkms/a 2251799813685246\nvkms/b max\n")
        XCTAssertEqual(m.r("/g", "dmem.min"), "vkms/a max\nvkms/b 0\n")
        XCTAssertEqual(m.r("/g", "dmem.low"), "vkms/a max\nvkms/b 0\n")
        XCTAssertEqual(m.w("/g", "dmem.max", "vkms/a 16E"), .ok)                // saturates to ULLONG_MAX
        XCTAssertEqual(m.r("/g", "dmem.max"), "vkms/a max\nvkms/b max\n")
    }

    func testSubtreeControl() {
        var m = model(.v7_3)
        XCTAssertEqual(m.r("/", "cgroup.subtree_control"), "dmem\n")
        XCTAssertEqual(m.w("/g", "cgroup.subtree_control", "dmem"), .error(.EINVAL))   // no +/-
        XCTAssertEqual(m.w("/g", "cgroup.subtree_control", "+bogus"), .error(.EINVAL))
        XCTAssertEqual(m.w("/g", "cgroup.subtree_control", "+memory"), .error(.ENOENT)) // parent lacks it
        XCTAssertEqual(m.w("/g", "cgroup.subtree_control", "+dmem\t"), .ok)            // trailing tab stripped
        XCTAssertNil(m.md("/g/h"))
        XCTAssertEqual(m.r("/g/h", "dmem.max"), "vkms/a max\nvkms/b max\n")
        XCTAssertEqual(m.w("/g/h", "cgroup.subtree_control", "+dmem"), .ok)
        XCTAssertEqual(m.w("/g", "cgroup.subtree_control", "-dmem"), .error(.EBUSY))    // a child has it
        XCTAssertEqual(m.w("/g/h", "cgroup.subtree_control", "+dmem -dmem"), .ok)       // last one wins
        XCTAssertEqual(m.w("/g", "cgroup.subtree_control", "-dmem"), .ok)
        XCTAssertEqual(m.rr("/g/h", "dmem.max"), .error(.ENOENT))
    }
}
