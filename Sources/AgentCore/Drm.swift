// DRM ioctls (vgem dmem extension, dumb buffers) and card discovery through sysfs.
import Glibc
import CKmod
import AgentProtocol

enum Drm {
    // The numbers live in AgentProtocol's DrmIoctl, which the C reproducer's tables print too.
    static let VERSION = DrmIoctl.VERSION
    static let GEM_CLOSE = DrmIoctl.GEM_CLOSE
    static let MODE_CREATE_DUMB = DrmIoctl.MODE_CREATE_DUMB
    static let VGEM_DMEM_CREATE = DrmIoctl.VGEM_DMEM_CREATE
    static let VGEM_DMEM_INFO = DrmIoctl.VGEM_DMEM_INFO
    static let VGEM_DMEM_TRANSFER = DrmIoctl.VGEM_DMEM_TRANSFER
    typealias DrmVersion = DrmIoctl.Version

    /// Returns 0 or errno.
    static func ioctl<T>(_ fd: Int32, _ req: UInt, _ arg: inout T) -> Int32 {
        let r = withUnsafeMutablePointer(to: &arg) { dmemfuzz_ioctl(fd, req, UnsafeMutableRawPointer($0)) }
        return r < 0 ? errno : 0
    }

    static func driverName(fd: Int32) -> String? {
        var buf = [CChar](repeating: 0, count: 64)
        return buf.withUnsafeMutableBufferPointer { b -> String? in
            var v = DrmVersion()
            v.nameLen = b.count - 1; v.name = b.baseAddress
            guard ioctl(fd, VERSION, &v) == 0 else { return nil }
            return String(decoding: UnsafeRawBufferPointer(start: b.baseAddress, count: min(v.nameLen, b.count - 1)), as: UTF8.self)
        }
    }

    struct Card { var minor: Int; var path: String; var driver: String; var device: String }

    /// Every /dev/dri/cardN with its driver (DRM_IOCTL_VERSION) and device name (sysfs), e.g.
    /// driver vgem/device vgem, driver vkms/device vkms (default) or <configfs name>.
    static func cards() -> [Card] {
        var out: [Card] = []
        for name in Sys.listDir("/sys/class/drm") where name.hasPrefix("card") && !name.contains("-") {
            guard let minor = Int(name.dropFirst(4)) else { continue }
            let dev = Sys.readlink("/sys/class/drm/\(name)/device").map(Sys.basename) ?? ""
            let path = "/dev/dri/\(name)"
            var driver = Sys.readlink("/sys/class/drm/\(name)/device/driver").map(Sys.basename) ?? ""
            let fd = open(path, O_RDWR | O_CLOEXEC)
            if fd >= 0 { if let d = driverName(fd: fd) { driver = d }; close(fd) }
            out.append(Card(minor: minor, path: path, driver: driver, device: dev))
        }
        return out.sorted { $0.minor < $1.minor }
    }

    enum Target: Equatable {
        case vgem(card: Int, region: UInt32), vkms(card: Int)
        /// The card minor the target's ioctls go to.
        var card: Int { switch self { case .vgem(let c, _), .vkms(let c): return c } }
    }

    /// Maps a dmem region name to the card that charges it.
    static func target(region: String) -> Target? {
        let parts = region.split(separator: "/", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { return nil }
        let cs = cards()
        switch parts[0] {
        case "vgem":
            guard parts[1].hasPrefix("region"), let idx = UInt32(parts[1].dropFirst(6)),
                  let c = cs.first(where: { $0.driver == "vgem" }) else { return nil }
            return .vgem(card: c.minor, region: idx)
        case "vkms":
            let dev = parts[1] == "default" ? "vkms" : parts[1]
            let vk = cs.filter { $0.driver == "vkms" }
            if let c = vk.first(where: { $0.device == dev }) { return .vkms(card: c.minor) }
            return nil
        default: return nil
        }
    }

    /// The `drm-` lines of a DRM fdinfo file, in order, without drm-client-id (a counter over
    /// every file ever opened) and drm-pdev (no PCI here): what the model predicts.
    static func fdinfoLines(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        for line in bytes.split(separator: UInt8(ascii: "\n")) where line.starts(with: Array("drm-".utf8)) {
            if line.starts(with: Array("drm-client-id:".utf8)) || line.starts(with: Array("drm-pdev:".utf8)) { continue }
            out += line + [UInt8(ascii: "\n")]
        }
        return out
    }
}
