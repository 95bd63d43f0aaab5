/// The DRM ioctl numbers the guest agent issues and the C reproducer prints into its table
/// header (`ReproTables`): one place, so the two cannot disagree. Foundation-free (the agent
/// links it). x86_64/LP64 layout, as the guest is.
public enum DrmIoctl {
    /// _IOC(dir, 'd', nr, size) of include/uapi/asm-generic/ioctl.h.
    public static func ioc(_ dir: UInt, _ nr: UInt, _ size: Int) -> UInt {
        (dir << 30) | (UInt(size) << 16) | (0x64 << 8) | nr
    }
    public static let read: UInt = 2, write: UInt = 1
    /// DRM_COMMAND_BASE: driver-private ioctls start here.
    public static let commandBase: UInt = 0x40

    /// struct drm_version (include/uapi/drm/drm.h).
    public struct Version {
        public var major: Int32 = 0, minor: Int32 = 0, patch: Int32 = 0
        public var nameLen: Int = 0; public var name: UnsafeMutablePointer<CChar>? = nil
        public var dateLen: Int = 0; public var date: UnsafeMutablePointer<CChar>? = nil
        public var descLen: Int = 0; public var desc: UnsafeMutablePointer<CChar>? = nil
        public init() {}
    }

    public static let VERSION = ioc(read | write, 0x00, MemoryLayout<Version>.size)
    /// struct drm_gem_close { __u32 handle, pad; }
    public static let GEM_CLOSE = ioc(write, 0x09, 8)
    /// struct drm_mode_create_dumb (32 bytes).
    public static let MODE_CREATE_DUMB = ioc(read | write, 0xB2, 32)
    // vgem private ioctls of the dmem test patch (vm/patches/<ver>/, include/uapi/drm/vgem_drm.h).
    /// struct drm_vgem_dmem_create { __u64 size; __u32 region, handle; __u64 id; }
    public static let VGEM_DMEM_CREATE = ioc(read | write, commandBase + 0x3, 24)
    /// struct drm_vgem_dmem_info { __u32 handle, resident; __u64 size, id; }
    public static let VGEM_DMEM_INFO = ioc(read | write, commandBase + 0x4, 24)
    /// struct drm_vgem_dmem_transfer { __u32 handle, pid; }, DRM_IOW: 0x40086445.
    public static let VGEM_DMEM_TRANSFER = ioc(write, commandBase + 0x5, 8)

    /// Every number, by the name the C reproducer's `#define`s give it.
    public static let all: [(name: String, value: UInt)] = [
        ("DRM_VERSION", VERSION), ("GEM_CLOSE", GEM_CLOSE), ("MODE_CREATE_DUMB", MODE_CREATE_DUMB),
        ("VGEM_CREATE", VGEM_DMEM_CREATE), ("VGEM_INFO", VGEM_DMEM_INFO), ("VGEM_TRANSFER", VGEM_DMEM_TRANSFER),
    ]
}
