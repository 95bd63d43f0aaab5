import Kernel
import Campaign
import ArgumentParser
import Trace

/// Typed option values, each validated where it is parsed, so a bad value is a one-line usage
/// error before any work starts. Options that take them use `parsing: .unconditional`, so
/// `--ops -1` reaches the check (and says what is wrong) instead of being "Missing value".

/// A count (`--ops`, `--batch`, `--round`, `--attempts`, `--memory`): decimal, in `range`.
struct Count: Sendable {
    static let ops = 1...1_000_000_000

    /// The transform for `@Option(transform:)`.
    static func parser(_ range: ClosedRange<Int>) -> @Sendable (String) throws -> Int {
        { s in
            guard let v = Int(s) else { throw ValidationError("not a number (want \(range.lowerBound)...\(range.upperBound))") }
            guard range.contains(v) else { throw ValidationError("out of range (want \(range.lowerBound)...\(range.upperBound))") }
            return v
        }
    }
}

/// `bench lockstep --jobs 1,2`: job counts, each 1...16, comma-separated.
enum JobCounts {
    @Sendable static func parse(_ s: String) throws -> [Int] {
        let parts = s.split(separator: ",", omittingEmptySubsequences: false)
        let counts = parts.compactMap { Int($0) }
        guard counts.count == parts.count, !counts.isEmpty, counts.allSatisfy((1...16).contains) else {
            throw ValidationError("not a list of job counts (want e.g. 1,2; each 1...16)")
        }
        return counts
    }
}

/// `--shard K/N`.
enum ShardArgument {
    @Sendable static func parse(_ s: String) throws -> Shard {
        guard let sh = Shard(parsing: s) else { throw ValidationError("not a shard (want K/N with 0 <= K < N, e.g. 0/4)") }
        return sh
    }
}

/// A seed: any UInt64, decimal.
enum Seed {
    @Sendable static func parse(_ s: String) throws -> UInt64 {
        guard let v = UInt64(s) else { throw ValidationError("not a seed (want 0...\(UInt64.max))") }
        return v
    }
}

/// How long to fuzz: a positive, finite number of seconds, minutes or hours (`90s`, `10m`,
/// `1.5h`, a bare number is seconds), at most a week.
struct FuzzDuration: Sendable, CustomStringConvertible {
    let seconds: Double
    let text: String
    var description: String { text }
    static let week = 7 * 24 * 3600.0

    init(_ s: String) throws {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600]
        var digits = Substring(s), mul = 1.0
        if let u = s.last, let m = units[u] { digits = s.dropLast(); mul = m }
        // Plain decimal only: Double() would also take "nan", "inf", "1e3", "0x10", "-5".
        let plain = !digits.isEmpty && digits.allSatisfy { $0.isASCII && ($0.isNumber || $0 == ".") }
            && digits.filter { $0 == "." }.count <= 1 && digits != "."
        guard plain, let v = Double(digits) else {
            throw ValidationError("not a duration (want e.g. 90s, 10m, 1h)")
        }
        guard v * mul > 0 else { throw ValidationError("not positive (want e.g. 90s, 10m, 1h)") }
        guard v * mul <= Self.week else { throw ValidationError("longer than a week") }
        seconds = v * mul; text = s
    }
    /// A default written in the source.
    init(seconds: Double, text: String) { self.seconds = seconds; self.text = text }
    @Sendable static func parse(_ s: String) throws -> FuzzDuration { try FuzzDuration(s) }
}

/// `check --duration` / `selftest --duration`: a fuzzing duration, or `0` (`0s`, `0m`, `0h`) for none.
enum CheckDuration: Sendable, CustomStringConvertible {
    case skip
    case fuzz(FuzzDuration)
    var seconds: Double { if case .fuzz(let d) = self { return d.seconds }; return 0 }
    var description: String { if case .fuzz(let d) = self { return d.text }; return "0" }
    @Sendable static func parse(_ s: String) throws -> CheckDuration {
        ["0", "0s", "0m", "0h"].contains(s) ? .skip : .fuzz(try FuzzDuration(s))
    }
}

/// A user-supplied string as it goes into a one-line message: invisible and non-ASCII bytes
/// (BOM, NBSP, NUL, ESC, a stray newline) escaped the way the trace language writes them.
struct Shown: CustomStringConvertible {
    let bytes: [UInt8]
    init(_ s: some StringProtocol) { bytes = Array(s.utf8) }
    var description: String { TracePrinter.visible(bytes) }
}

extension Sanitizer: ExpressibleByArgument {}
