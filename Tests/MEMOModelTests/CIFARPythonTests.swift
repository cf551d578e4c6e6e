import Foundation
import Testing
@testable import MEMOModel

/// The python version of CIFAR (torchvision's download) read by the restricted unpickler: the
/// fixtures of scripts/make_pickle_fixtures.py hold the same images in both layouts, pickled as
/// Python 2's cPickle wrote the published files.
@Suite struct CIFARPythonTests {
    static var fixtures: String { Bundle.module.resourcePath! + "/Fixtures/pickle/cifar" }

    static func message<T>(_ body: () throws -> T) -> String? {
        do { _ = try body(); return nil } catch { return "\(error)" }
    }

    static func expectSame(_ a: Dataset, _ b: Dataset) {
        #expect(a.name == b.name && a.kind == b.kind && a.classNames == b.classNames)
        #expect(a.train.labels == b.train.labels && a.train.pixels == b.train.pixels)
        #expect(a.test.labels == b.test.labels && a.test.pixels == b.test.pixels)
        #expect(a.mean == b.mean && a.std == b.std)
    }

    @Test func cifar100PythonEqualsBinary() throws {
        let python = try Dataset.load(kind: .cifar100, dataDir: Self.fixtures + "/cifar-100-python")
        let binary = try Dataset.load(kind: .cifar100, dataDir: Self.fixtures + "/cifar-100-binary")
        Self.expectSame(python, binary)
        #expect(python.train.labels == [3, 42, 99, 42, 3, 99, 99, 42, 3] && python.test.labels == [42, 3, 99])
        #expect(python.classNames.count == 100 && python.classNames[42] == "fine_42")
        #expect(python.train.count == 9 && python.train.pixels.count == 9 * 3072)
    }

    @Test func cifar10PythonEqualsBinaryFromTheFolderOrItsParent() throws {
        let binary = try Dataset.load(kind: .cifar10, dataDir: Self.fixtures + "/cifar-10-batches-bin")
        #expect(binary.train.labels == [1, 8, 2, 7, 3, 6, 4, 5, 5, 4] && binary.test.labels == [3, 3, 1])
        // The parent of a python folder (as torchvision's download leaves it in ./data).
        let dir = try DataFixtures.temporaryDirectory("cifar10-py")
        defer { DataFixtures.cleanUp(dir) }
        try FileManager.default.copyItem(atPath: Self.fixtures + "/cifar-10-batches-py", toPath: dir + "/cifar-10-batches-py")
        for path in [Self.fixtures + "/cifar-10-batches-py", dir] {
            Self.expectSame(try Dataset.load(kind: .cifar10, dataDir: path), binary)
        }
        #expect(binary.classNames == DatasetReaderTests.cifar10Names)
    }

    @Test func batchesPickledByPython3ReadTheSame() throws {
        let original = try CIFAR.readPythonBatch(Self.fixtures + "/cifar-10-batches-py/test_batch", variant: .cifar10)
        for protocolVersion in [2, 4] {
            let batch = try CIFAR.readPythonBatch(Self.fixtures + "/test_batch_py3_protocol\(protocolVersion)", variant: .cifar10)
            #expect(batch.pixels == original.pixels && batch.labels == original.labels)
        }
    }

    @Test func aBatchThatWouldRunACommandIsRefused() throws {
        try? FileManager.default.removeItem(atPath: PyTorchFileTests.marker)
        let path = Self.fixtures + "/evil_batch"
        #expect(throws: DatasetError.pickle(.refusedGlobal(file: path, global: "posix.system", hint: nil))) {
            try CIFAR.readPythonBatch(path, variant: .cifar10)
        }
        #expect(!FileManager.default.fileExists(atPath: PyTorchFileTests.marker))
    }

    @Test func wrongContentsNameTheFileAndTheProblem() throws {
        let dir = try DataFixtures.temporaryDirectory("cifar-py-bad")
        defer { DataFixtures.cleanUp(dir) }
        try FileManager.default.copyItem(atPath: Self.fixtures + "/cifar-100-python", toPath: dir + "/cifar-100-python")
        // The meta file where a batch belongs, a batch where the meta file belongs.
        let train = dir + "/cifar-100-python/train", meta = dir + "/cifar-100-python/meta"
        let trainBytes = try Data(contentsOf: URL(fileURLWithPath: train))
        try FileManager.default.removeItem(atPath: train)
        try FileManager.default.copyItem(atPath: meta, toPath: train)
        #expect(Self.message { try Dataset.load(kind: .cifar100, dataDir: dir) }
            == "\(train): no 'data' uint8 array of shape [N, 3072]")
        try trainBytes.write(to: URL(fileURLWithPath: meta))
        #expect(Self.message { try Dataset.load(kind: .cifar100, dataDir: dir) } == "\(meta): no 'fine_label_names' list")
        // A CIFAR-100 folder read as CIFAR-10: no test_batch there, so no CIFAR-10 files.
        #expect(Self.message { try Dataset.load(kind: .cifar10, dataDir: dir + "/cifar-100-python") }?
            .hasPrefix("--data-dir \(dir)/cifar-100-python: holds no cifar10 files; expected cifar-10-batches-bin/") == true)
        // A truncated pickle: one line naming the file.
        try DataFixtures.write(Array(trainBytes.prefix(5000)), to: meta)
        let truncated = Self.message { try Dataset.load(kind: .cifar100, dataDir: dir) }
        #expect(truncated?.hasPrefix("\(meta): malformed pickle at byte ") == true, "\(truncated ?? "loaded")")
    }

    @Test func aTorchvisionArchiveIsCheckedAndNotRead() throws {
        let dir = try DataFixtures.temporaryDirectory("cifar-archive")
        defer { DataFixtures.cleanUp(dir) }
        let archive = dir + "/cifar-100-python.tar.gz"
        try DataFixtures.write(Array("not an archive".utf8), to: archive)
        let expected = "\(archive): MD5 e157643d05e1e5b238fdee5486f1f16f is not the published "
            + "eb9058c3a382ffc7106e4002c42a8d85: the download is incomplete or damaged"
        // Given as the folder's content or as --data-dir itself.
        #expect(Self.message { try Dataset.load(kind: .cifar100, dataDir: dir) } == expected)
        #expect(Self.message { try Dataset.load(kind: .cifar100, dataDir: archive) } == expected)
        // The extraction advice, for an archive whose digest is the published one.
        let advice = DatasetError.archiveNotExtracted(path: archive, command: "tar -xzf \(archive) -C \(dir)",
                                                      folder: dir + "/cifar-100-python")
        #expect(advice.description == "\(archive): the archive itself is not read (its MD5 is the published one); "
            + "extract it with 'tar -xzf \(archive) -C \(dir)' and give --data-dir \(dir)/cifar-100-python or its parent")
    }

    /// RFC 1321's test suite, and a digest across the 64-byte block and update boundaries.
    @Test func md5MatchesRFC1321() throws {
        let vectors = [
            ("", "d41d8cd98f00b204e9800998ecf8427e"), ("a", "0cc175b9c0f1b6a831c399e269772661"),
            ("abc", "900150983cd24fb0d6963f7d28e17f72"), ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            ("abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"),
            ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", "d174ab98d277d9f5a5611c2c9f419d9f"),
            (String(repeating: "1234567890", count: 8), "57edf4a22be3c955ac49da2e2107b67a"),
        ]
        for (text, digest) in vectors {
            var md5 = MD5()
            // Fed in pieces of 7 bytes, to cross the block boundaries inside update.
            let bytes = Array(text.utf8)
            for start in stride(from: 0, to: bytes.count, by: 7) { md5.update(Array(bytes[start..<min(start + 7, bytes.count)])) }
            #expect(md5.hexDigest() == digest, "\(text)")
        }
    }
}
