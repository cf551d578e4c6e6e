import Foundation
import Testing
@testable import MEMOModel

/// Data checksums of checkpoints (format version 2): every dataset carries HDF5's Fletcher-32
/// filter, so damaged numbers or strings are refused naming the file and the dataset instead of
/// loading as a different model; version-1 files (no data checksums) still load and say so; files
/// rewritten by h5repack are read identically or refused with the command that rewrites them.
@Suite(.serialized)
struct CheckpointChecksumTests {
    static func run() throws -> String { try CheckpointSurgery.untrainedRun.get() }

    /// The description of the error `body` throws, or nil.
    static func message(_ body: () throws -> Void) -> String? {
        do { try body(); return nil } catch { return "\(error)" }
    }

    @Test func aFlippedBitInAStoredWeightRowIsRefusedNamingTheFileAndTheTensor() throws {
        let dir = try DataFixtures.temporaryDirectory("checksum-flip")
        defer { DataFixtures.cleanUp(dir) }
        let path = dir + "/stage-01.h5"
        try FileManager.default.copyItem(atPath: try Self.run() + "/stage-01.h5", toPath: path)
        // The issue's damage: 0x01 XOR'ed into the third byte of every float of row 1 of fc.weight [4, 128].
        let changed = try CheckpointSurgery.flipBits(of: "model/fc.weight", in: path, row: 1, rowLength: 128)
        #expect(changed.count == 128)
        #expect(Self.message { _ = try Checkpoint.read(path) }
            == "\(path): model/fc.weight: data checksum mismatch (the file is damaged)")
    }

    @Test func aVersion1FileLoadsAndSaysItCarriesNoDataChecksums() throws {
        let source = try Self.run() + "/stage-01.h5"
        let original = try Checkpoint.read(source)
        #expect(original.fileFormatVersion == 3 && original.hasDataChecksums && original.notes.isEmpty)
        let dir = try DataFixtures.temporaryDirectory("checksum-v1")
        defer { DataFixtures.cleanUp(dir) }
        let path = dir + "/stage-01.h5"
        // As the version-1 writer laid it out: only the (compressed) exemplar images checksummed.
        try CheckpointSurgery.rewrite(source, to: path, version1Layout: true) { $0.attributes["format_version"] = .int(1) }
        let old = try Checkpoint.read(path)
        #expect(CheckpointSurgery.differences(old, original).isEmpty)
        #expect(old.fileFormatVersion == 1 && !old.hasDataChecksums)
        #expect(old.notes == ["\(path): this checkpoint (format version 1) carries no data checksums, so damage to its "
            + "numbers would go unnoticed; add them with: \(HDF5File.rewriteCommand(path))"])
        // What the note warns of: in such a file the issue's damage still loads, as a different model.
        try CheckpointSurgery.flipBits(of: "model/fc.weight", in: path, row: 1, rowLength: 128)
        #expect(CheckpointSurgery.differences(try Checkpoint.read(path), original) == ["tensor fc.weight"])

        // The same layout claiming version 3 (a rewrite that stripped the filters) is refused,
        // naming the first dataset read and the command that restores the checksums.
        try CheckpointSurgery.rewrite(source, to: path, version1Layout: true) { _ in }
        #expect(Self.message { _ = try Checkpoint.read(path) } == HDF5Error.unchecksummed(path: path, name: "dataset/class_names").description)
    }

    /// Rewrites of a stage file by h5repack: the checksummed format with filters kept (`-L`) reads
    /// identically; the pre-1.8 format (h5repack's default, also with `-f NONE`) and stripped
    /// filters (`-L -f NONE`) are refused with a command that, run as given, makes a file that
    /// reads identically. The note's command upgrades a version-1 file the same way.
    @Test(.enabled(if: CheckpointSurgery.h5repack != nil, "h5repack (Debian: hdf5-tools) is not installed"))
    func h5repackedCopiesReadIdenticallyOrAreRefusedWithTheRewriteCommand() throws {
        let h5repack = CheckpointSurgery.h5repack!
        let source = try Self.run() + "/stage-01.h5"
        let original = try Checkpoint.read(source)
        let dir = try DataFixtures.temporaryDirectory("checksum-h5repack")
        defer { DataFixtures.cleanUp(dir) }
        let path = dir + "/stage-01.h5"
        /// Runs the command at the end of `message` (after "with: ") and checks the result loads
        /// as the original, with data checksums.
        func runRewrite(from message: String, _ what: String) throws {
            let marker = try #require(message.range(of: "with: "), "\(what): no command in \(message)")
            let command = String(message[marker.upperBound...])
            #expect(command == HDF5File.rewriteCommand(path), "\(what)")
            let result = try CheckpointSurgery.shell(command)
            #expect(result.status == 0, "\(what): \(command): \(result.stderr)")
            let rewritten = try Checkpoint.read(path)
            #expect(CheckpointSurgery.differences(rewritten, original).isEmpty, "\(what)")
            #expect(rewritten.hasDataChecksums && rewritten.notes.isEmpty, "\(what)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["stage-01.h5"], "\(what)")
        }
        let cases: [(arguments: [String], refusal: String?)] = [
            (["-L"], nil),
            ([], "superblock version 0 is the pre-1.8 HDF5 format"),
            (["-f", "NONE"], "superblock version 0 is the pre-1.8 HDF5 format"),
            (["-L", "-f", "NONE"], "dataset 'dataset/class_names' carries no Fletcher-32 data checksum"),
        ]
        for (arguments, refusal) in cases {
            let what = "h5repack \(arguments.joined(separator: " "))"
            try? FileManager.default.removeItem(atPath: path)
            let repack = try CheckpointSurgery.run(h5repack, arguments + [source, path])
            #expect(repack.status == 0, "\(what): \(repack.stderr)")
            let message = Self.message { _ = try Checkpoint.read(path) }
            if let refusal {
                #expect(message?.hasPrefix(path + ": ") == true && message?.contains(refusal) == true, "\(what): \(message ?? "loaded")")
                try runRewrite(from: message ?? "", what)
            } else {
                #expect(message == nil, "\(what): \(message ?? "")")
                #expect(CheckpointSurgery.differences(try Checkpoint.read(path), original).isEmpty, "\(what)")
            }
        }
        // A version-1 file: the note's command adds the checksums.
        try FileManager.default.removeItem(atPath: path)
        try CheckpointSurgery.rewrite(source, to: path, version1Layout: true) { $0.attributes["format_version"] = .int(1) }
        let note = try #require(try Checkpoint.read(path).notes.first)
        try runRewrite(from: note, "version-1 note")
    }
}
