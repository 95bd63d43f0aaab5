import Foundation
import Logging

/// dmemfuzz's one log handler (swift-log): every message goes to stderr exactly as written, one
/// line, with no timestamp, level or label. The progress lines (`fuzz: …`, `check: …`) and the
/// one-line errors are the user interface, and `Tests/CLITests` pins them byte for byte; the level
/// only decides what is shown (`--log-level`).
public struct StderrLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public init(level: Logger.Level = .info) { logLevel = level }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        FileHandle.standardError.write(Data(Self.format(event.message).utf8))
    }

    /// The bytes a message becomes: its text and a newline (a message of several lines, like
    /// `boot failed: …\nconsole: …`, keeps its own).
    public static func format(_ message: Logger.Message) -> String { message.description + "\n" }
}

extension Logger {
    /// A logger with dmemfuzz's handler at `level` (no global bootstrap: each command makes its
    /// own and passes it down).
    public static func dmemfuzz(_ label: String = "dmemfuzz", level: Logger.Level = .info) -> Logger {
        Logger(label: label, factory: { _ in StderrLogHandler(level: level) })
    }
}
