import ArgumentParser
import Log
import Logging

/// `--log-level`: which of dmemfuzz's stderr messages are shown. `info` (the default) is the
/// progress lines and errors as they always were; `warning` or `error` hides the progress.
struct LogOptions: ParsableArguments {
    enum Level: String, CaseIterable, ExpressibleByArgument {
        case trace, debug, info, notice, warning, error, critical
        var level: Logger.Level { Logger.Level(rawValue: rawValue)! }
    }

    @Option(name: .customLong("log-level"), help: "Messages shown on stderr: trace, debug, info (progress, the default), notice, warning, error or critical.")
    var logLevel: Level = .info

    func logger() -> Logger { .dmemfuzz(level: logLevel.level) }
}
