import Foundation

/// manifest.json of a kernel build, as vm/build-kernel.sh's manifest step writes it (json.dump
/// of one object; `applied_patches` are vm/series.py's .dmemfuzz-applied records).
public struct KernelManifest: Codable, Sendable, Equatable {
    public struct Series: Codable, Sendable, Equatable {
        public var path: String
        public var sha256: String
    }
    /// One patch apply-series.sh applied or skipped.
    public struct AppliedPatch: Codable, Sendable, Equatable {
        /// series, test or skipped.
        public var kind: String
        public var file: String
        /// Its number in an mbox, nil for a file of its own.
        public var mail: Int?
        public var subject: String?
        public var messageID: String?
        /// exact, fuzz or skipped.
        public var how: String
        public var offsetHunks: [String]
        public var fuzzedHunks: [String]
        /// Why a skipped patch was skipped.
        public var reason: String?
        /// The files it touched (nil in manifests from before they were recorded).
        public var paths: [String]?
        enum CodingKeys: String, CodingKey {
            case kind, file, mail, subject, how, reason, paths
            case messageID = "message_id", offsetHunks = "offset_hunks", fuzzedHunks = "fuzzed_hunks"
        }
    }
    public struct TestPatch: Codable, Sendable, Equatable {
        public var file: String
        public var sha256: String
        public var applied: Bool
    }

    public var key: String
    public var kernelRelease: String
    public var kernelVersion: String
    public var source: String
    public var sourcePath: String
    public var sourceIdentity: String
    public var debianVersion: String?
    public var series: [Series]
    public var appliedPatches: [AppliedPatch]
    public var configFragmentSHA256: String
    /// Warnings in the series' C files under W=1 that the base tree does not have
    /// (vm/series-warnings.py); nil in manifests of builds before it existed.
    public var seriesWarnings: [String]?
    public var testPatches: [TestPatch]
    public var buildTimeSeconds: Int
    public var makeTimeSeconds: Int
    public var bzImage: String
    public var modroot: String
    public var modulesDir: String
    public var vmlinux: String
    public var workDir: String

    enum CodingKeys: String, CodingKey {
        case key, source, series, bzImage, modroot, vmlinux
        case kernelRelease = "kernel_release", kernelVersion = "kernel_version", sourcePath = "source_path"
        case sourceIdentity = "source_identity", debianVersion = "debian_version", appliedPatches = "applied_patches"
        case configFragmentSHA256 = "config_fragment_sha256", seriesWarnings = "series_warnings", testPatches = "test_patches"
        case buildTimeSeconds = "build_time_seconds", makeTimeSeconds = "make_time_seconds"
        case modulesDir = "modules_dir", workDir = "work_dir"
    }

    public init(json: Data) throws { self = try JSONDecoder().decode(Self.self, from: json) }

    /// `<dir>/manifest.json`; an unreadable or malformed one is a setup error naming the file.
    public static func read(dir: URL) throws -> KernelManifest {
        let file = dir.appendingPathComponent("manifest.json")
        do { return try KernelManifest(json: try Data(contentsOf: file)) }
        catch let e as DecodingError { throw KernelError.setup("\(file.path): \(Self.describe(e))") }
        catch { throw KernelError.setup("\(file.path): \(error.localizedDescription)") }
    }

    /// A decoding error as one line: what is wrong, and where (`applied_patches[0].how`).
    static func describe(_ e: DecodingError) -> String {
        func path(_ c: [CodingKey]) -> String {
            c.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().drop { $0 == "." }.description
        }
        switch e {
        case let .keyNotFound(k, c): return "no \(path(c.codingPath + [k]))"
        case let .typeMismatch(_, c), let .valueNotFound(_, c): return "\(path(c.codingPath)): \(c.debugDescription)"
        case let .dataCorrupted(c): return c.codingPath.isEmpty ? "not JSON" : "\(path(c.codingPath)): \(c.debugDescription)"
        @unknown default: return "\(e)"
        }
    }
}

extension KernelBuild {
    /// The build's manifest.json.
    public func manifest() throws -> KernelManifest { try KernelManifest.read(dir: dir) }
}
