import Foundation
import Shell

/// A finding's C reproducer, built the way a kernel developer would build it to run in a guest.
public enum ReproBinary {
    /// gcc -static -O1: the guest has no libc of its own to link against.
    public static func gcc(source: URL, output: URL) -> [String] {
        ["gcc", "-static", "-O1", "-Wall", "-pthread", "-o", output.path, source.path]
    }

    public static func compile(source: URL, output: URL) async throws {
        try await Shell.run(gcc(source: source, output: output))
    }

    /// The static binary of the C `source`, compiled in a scratch directory (removed after), ready
    /// for `vm.agent.put`.
    public static func build(_ source: String) async throws -> [UInt8] {
        let fm = FileManager.default
        let dir = fm.temporaryDirectory.appendingPathComponent("dmemfuzz-repro-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try fm.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? fm.removeItem(at: dir) }
        let c = dir.appendingPathComponent("repro.c"), bin = dir.appendingPathComponent("repro")
        try Data(source.utf8).write(to: c)
        try await compile(source: c, output: bin)
        return Array(try Data(contentsOf: bin))
    }
}
