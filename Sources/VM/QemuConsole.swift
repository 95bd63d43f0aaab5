import Foundation

/// The guest's serial console: QEMU appends it to `console.log` in the work directory (a restored
/// guest's starts with the boot log saved with its snapshot). Read whole, as the splat parser wants.
extension QemuMachine {
    public var console: String {
        (try? String(contentsOf: consoleURL, encoding: .utf8)) ?? String(decoding: (try? Data(contentsOf: consoleURL)) ?? Data(), as: UTF8.self)
    }

    /// The log file's size: `awaitSplats` waits for it to stop growing without reading it.
    public var consoleSize: Int {
        ((try? FileManager.default.attributesOfItem(atPath: consoleURL.path)[.size]) as? Int) ?? 0
    }
}
