import Foundation

/// A newc ("070701") cpio archive writer: what the kernel unpacks as an initramfs (uncompressed,
/// since decompression costs seconds under TCG).
public struct CpioWriter {
    public private(set) var data = Data()
    private var ino: UInt32 = 1
    public init() {}

    public mutating func directory(_ path: String, mode: UInt32 = 0o755) {
        entry(path, mode: 0o040000 | mode, nlink: 2, body: Data())
    }
    public mutating func file(_ path: String, contents: Data, mode: UInt32 = 0o755) {
        entry(path, mode: 0o100000 | mode, body: contents)
    }
    public mutating func symlink(_ path: String, target: String) {
        entry(path, mode: 0o120777, body: Data(target.utf8))
    }
    public mutating func charDevice(_ path: String, major: UInt32, minor: UInt32, mode: UInt32 = 0o600) {
        entry(path, mode: 0o020000 | mode, body: Data(), rdev: (major, minor))
    }
    public mutating func finish() -> Data {
        entry("TRAILER!!!", mode: 0, nlink: 1, body: Data(), isTrailer: true)
        return data
    }

    private mutating func entry(_ path: String, mode: UInt32, nlink: UInt32 = 1, body: Data,
                                rdev: (UInt32, UInt32) = (0, 0), isTrailer: Bool = false) {
        let name = path.hasPrefix("/") ? String(path.dropFirst()) : path
        let nameBytes = Array(name.utf8) + [0]
        let fields: [UInt32] = [isTrailer ? 0 : ino, mode, 0, 0, nlink, 0, UInt32(body.count), 0, 0,
                                rdev.0, rdev.1, UInt32(nameBytes.count), 0]
        var header = "070701"
        for f in fields { header += String(format: "%08X", f) }
        data.append(contentsOf: Array(header.utf8))
        data.append(contentsOf: nameBytes)
        pad()
        data.append(body)
        pad()
        if !isTrailer { ino += 1 }
    }
    private mutating func pad() { while data.count % 4 != 0 { data.append(0) } }
}
