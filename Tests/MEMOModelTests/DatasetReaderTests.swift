import Foundation
import Testing
@testable import MEMOModel

/// The dataset readers on small files of the real formats, written into a temporary folder,
/// and on Debian's Fashion-MNIST.
@Suite struct DatasetReaderTests {
    // MARK: gzip

    @Test func gzipAndPlainFilesReadTheSameBytes() throws {
        let dir = try DataFixtures.temporaryDirectory("gz")
        defer { DataFixtures.cleanUp(dir) }
        let payload: [UInt8] = (0..<70_000).map { (i: Int) -> UInt8 in UInt8((i * 7 + i / 256) % 256) }  // more than one stored block
        try DataFixtures.write(DataFixtures.gzip(payload), to: dir + "/a.gz")
        try DataFixtures.write(payload, to: dir + "/a.bin")
        #expect(try readGzipFile(dir + "/a.gz") == payload)
        #expect(try readGzipFile(dir + "/a.bin") == payload)
        // Two concatenated members read as one stream (what `gzip` produces for `cat a.gz b.gz`).
        try DataFixtures.write(DataFixtures.gzip([1, 2]) + DataFixtures.gzip([3]), to: dir + "/two.gz")
        #expect(try readGzipFile(dir + "/two.gz") == [1, 2, 3])
    }

    @Test func gzipErrorsNameTheFile() throws {
        let dir = try DataFixtures.temporaryDirectory("gz")
        defer { DataFixtures.cleanUp(dir) }
        #expect(throws: GzipError.cannotOpen(path: dir + "/missing.gz", reason: "No such file or directory")) {
            try readGzipFile(dir + "/missing.gz")
        }
        let full = DataFixtures.gzip([UInt8](repeating: 9, count: 1000))
        try DataFixtures.write(Array(full.prefix(500)), to: dir + "/cut.gz")
        let error = #expect(throws: GzipError.self) { try readGzipFile(dir + "/cut.gz") }
        #expect(error?.description.hasPrefix(dir + "/cut.gz: cannot decompress") == true)
    }

    // MARK: Fashion-MNIST (IDX)

    /// Writes a small Fashion-MNIST folder: `train` images with labels `trainLabels`, 3 test images.
    static func writeIDXFolder(_ dir: String, trainLabels: [Int], compress: Bool = true) throws {
        func images(_ n: Int) -> [UInt8] {
            var v: [UInt8] = []
            for i in 0..<n { for y in 0..<28 { for x in 0..<28 { v.append(DataFixtures.pixel(i, y, x, 0)) } } }
            return DataFixtures.idx(dimensions: [n, 28, 28], values: v)
        }
        let suffix = compress ? ".gz" : ""
        func put(_ bytes: [UInt8], _ name: String) throws {
            try DataFixtures.write(compress ? DataFixtures.gzip(bytes) : bytes, to: dir + "/" + name + suffix)
        }
        try put(images(trainLabels.count), "train-images-idx3-ubyte")
        try put(DataFixtures.idx(dimensions: [trainLabels.count], values: trainLabels.map { UInt8($0) }), "train-labels-idx1-ubyte")
        try put(images(3), "t10k-images-idx3-ubyte")
        try put(DataFixtures.idx(dimensions: [3], values: [5, 0, 9]), "t10k-labels-idx1-ubyte")
    }

    static func message<T>(_ body: () throws -> T) -> String? {
        do { _ = try body(); return nil } catch { return "\(error)" }
    }

    @Test(arguments: [true, false])
    func idxFilesLoadAsFashionMNIST(compressed: Bool) throws {
        let dir = try DataFixtures.temporaryDirectory("idx")
        defer { DataFixtures.cleanUp(dir) }
        try Self.writeIDXFolder(dir, trainLabels: [9, 0, 0, 3, 9, 0], compress: compressed)
        let d = try Dataset.load(kind: .fashionMNIST, dataDir: dir)
        #expect(d.name == "fashion-mnist")
        #expect(d.train.count == 6 && d.test.count == 3)
        #expect(d.train.labels == [9, 0, 0, 3, 9, 0] && d.test.labels == [5, 0, 9])
        #expect(d.train.height == 28 && d.train.width == 28 && d.train.channels == 1)
        #expect(Array(d.train.image(4)) == (0..<784).map { DataFixtures.pixel(4, $0 / 28, $0 % 28, 0) })
        #expect(d.classNames[9] == "Ankle boot" && d.classNames.count == 10)
        #expect(d.mean == [0.2860, 0.2860, 0.2860] && d.std == [0.3530, 0.3530, 0.3530])
        #expect(d.augmentation == .gray)
        // The first N of each class, in file order.
        let small = try Dataset.load(kind: .fashionMNIST, dataDir: dir, trainPerClass: 2, testPerClass: 1)
        #expect(small.train.labels == [9, 0, 0, 3, 9])
        #expect(small.train.image(4) == d.train.image(4))
        #expect(small.test.labels == [5, 0, 9])
    }

    @Test func idxErrorsNameTheFileAndProblem() throws {
        let dir = try DataFixtures.temporaryDirectory("idx")
        defer { DataFixtures.cleanUp(dir) }
        try Self.writeIDXFolder(dir, trainLabels: [1, 2])
        let labels = dir + "/train-labels-idx1-ubyte.gz"
        // Label out of range.
        try DataFixtures.write(DataFixtures.gzip(DataFixtures.idx(dimensions: [2], values: [1, 10])), to: labels)
        #expect(throws: DatasetError.labelOutOfRange(path: labels, index: 1, label: 10, classCount: 10)) {
            try Dataset.load(kind: .fashionMNIST, dataDir: dir)
        }
        // Wrong magic (an images file where labels belong).
        try DataFixtures.write(DataFixtures.gzip(DataFixtures.idx(dimensions: [2, 1, 1], values: [1, 2])), to: labels)
        let magic = #expect(throws: DatasetError.self) { try Dataset.load(kind: .fashionMNIST, dataDir: dir) }
        #expect(magic == .wrongMagic(path: labels, expected: 0x801, found: 0x803))
        #expect(magic?.description == "\(labels): wrong magic number 0x00000803, expected 0x00000801")
        // Truncated data.
        try DataFixtures.write(DataFixtures.gzip(DataFixtures.idx(dimensions: [3], values: [1, 2])), to: labels)
        #expect(throws: DatasetError.wrongSize(path: labels, problem: "10 bytes, expected 11 for 3 values")) {
            try Dataset.load(kind: .fashionMNIST, dataDir: dir)
        }
        // Label count differs from image count.
        try DataFixtures.write(DataFixtures.gzip(DataFixtures.idx(dimensions: [3], values: [1, 2, 3])), to: labels)
        #expect(throws: DatasetError.countMismatch(path: labels, expected: 2, found: 3, what: "labels for as many images")) {
            try Dataset.load(kind: .fashionMNIST, dataDir: dir)
        }
        // Missing file.
        try FileManager.default.removeItem(atPath: labels)
        let missing = #expect(throws: DatasetError.self) { try Dataset.load(kind: .fashionMNIST, dataDir: dir) }
        #expect(missing?.description == "\(labels): no such file (nor train-labels-idx1-ubyte)")
        #expect(throws: DatasetError.noDataFolder(kind: .fashionMNIST, path: dir + "/nope", isDefault: false)) {
            try Dataset.load(kind: .fashionMNIST, dataDir: dir + "/nope")
        }
        // The seed's command without data: the default folder, what it should hold, the flag.
        let cwd = FileManager.default.currentDirectoryPath
        FileManager.default.changeCurrentDirectoryPath(dir)
        defer { FileManager.default.changeCurrentDirectoryPath(cwd) }
        #expect(DatasetReaderTests.message { try Dataset.load(kind: .cifar100) }
            == "--data-dir not given and its default folder data does not exist; name the folder that holds cifar100 "
                + "(cifar-100-binary/ or cifar-100-python/, or their parent)")
    }

    @Test func realFashionMNIST() throws {
        let d = try Dataset.load(kind: .fashionMNIST)
        #expect(d.train.count == 60_000 && d.test.count == 10_000)
        #expect(d.train.pixels.count == 60_000 * 784)
        #expect(d.train.labels[0] == 9 && d.classNames[d.train.labels[0]] == "Ankle boot")
        #expect(d.test.labels[0] == 9)
        // 6,000 training and 1,000 test images per class.
        #expect((0..<10).allSatisfy { c in d.train.labels.filter { $0 == c }.count == 6_000 })
        #expect((0..<10).allSatisfy { c in d.test.labels.filter { $0 == c }.count == 1_000 })
    }

    // MARK: CIFAR

    static let cifar10Names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

    /// A small CIFAR-10 binary folder: batch b holds labels `[b, 9 - b]`, the test batch `[3, 3, 1]`.
    static func writeCIFAR10(_ folder: String) throws {
        for b in 1...5 {
            try DataFixtures.write(DataFixtures.cifarRecords(labels: [b, 9 - b], labelBytes: 1),
                                   to: folder + "/data_batch_\(b).bin")
        }
        try DataFixtures.write(DataFixtures.cifarRecords(labels: [3, 3, 1], labelBytes: 1), to: folder + "/test_batch.bin")
        try DataFixtures.write(Array((cifar10Names.joined(separator: "\n") + "\n\n").utf8), to: folder + "/batches.meta.txt")
    }

    @Test func cifar10BinaryLoadsFromTheFolderOrItsParent() throws {
        let dir = try DataFixtures.temporaryDirectory("cifar10")
        defer { DataFixtures.cleanUp(dir) }
        let folder = dir + "/cifar-10-batches-bin"
        try Self.writeCIFAR10(folder)
        for path in [dir, folder] {
            let d = try Dataset.load(kind: .cifar10, dataDir: path)
            #expect(d.name == "cifar10" && d.classNames == Self.cifar10Names)
            #expect(d.train.labels == [1, 8, 2, 7, 3, 6, 4, 5, 5, 4])
            #expect(d.test.labels == [3, 3, 1])
            #expect(d.train.height == 32 && d.train.width == 32 && d.train.channels == 3)
            // CHW records become HWC: pixel (y 5, x 7) of the 4th image (record 1 of batch 2).
            let image = d.train.image(3)
            #expect([image[image.startIndex + (5 * 32 + 7) * 3], image[image.startIndex + (5 * 32 + 7) * 3 + 1],
                     image[image.startIndex + (5 * 32 + 7) * 3 + 2]]
                    == [DataFixtures.pixel(1, 5, 7, 0), DataFixtures.pixel(1, 5, 7, 1), DataFixtures.pixel(1, 5, 7, 2)])
            #expect(d.mean == [0.4914, 0.4822, 0.4465] && d.std == [0.2023, 0.1994, 0.2010])
            #expect(d.augmentation == .cifar)
        }
    }

    @Test func cifar100BinaryUsesTheFineLabels() throws {
        let dir = try DataFixtures.temporaryDirectory("cifar100")
        defer { DataFixtures.cleanUp(dir) }
        let folder = dir + "/cifar-100-binary"
        let names = (0..<100).map { "class_\($0)" }
        try DataFixtures.write(DataFixtures.cifarRecords(labels: [99, 0, 42, 42], labelBytes: 2), to: folder + "/train.bin")
        try DataFixtures.write(DataFixtures.cifarRecords(labels: [17], labelBytes: 2), to: folder + "/test.bin")
        try DataFixtures.write(Array(names.joined(separator: "\r\n").utf8), to: folder + "/fine_label_names.txt")
        let d = try Dataset.load(kind: .cifar100, dataDir: dir, trainPerClass: 1)
        #expect(d.name == "cifar100" && d.classNames == names)
        #expect(d.train.labels == [99, 0, 42] && d.test.labels == [17])
        #expect(Array(d.test.image(0).prefix(6)) == [DataFixtures.pixel(0, 0, 0, 0), DataFixtures.pixel(0, 0, 0, 1),
                                                     DataFixtures.pixel(0, 0, 0, 2), DataFixtures.pixel(0, 0, 1, 0),
                                                     DataFixtures.pixel(0, 0, 1, 1), DataFixtures.pixel(0, 0, 1, 2)])
        #expect(d.mean == [0.5071, 0.4867, 0.4408] && d.std == [0.2675, 0.2565, 0.2761])
    }

    @Test func cifarErrorsNameTheFileAndProblem() throws {
        let dir = try DataFixtures.temporaryDirectory("cifar")
        defer { DataFixtures.cleanUp(dir) }
        let folder = dir + "/cifar-10-batches-bin"
        try Self.writeCIFAR10(folder)
        // A record too many bytes: size is not a multiple of 3073.
        let batch3 = folder + "/data_batch_3.bin"
        try DataFixtures.write(DataFixtures.cifarRecords(labels: [1], labelBytes: 1) + [0], to: batch3)
        let size = #expect(throws: DatasetError.self) { try Dataset.load(kind: .cifar10, dataDir: dir) }
        #expect(size?.description == "\(batch3): size 3074 bytes is not a positive multiple of the 3073-byte cifar10 record")
        // A label out of range.
        try DataFixtures.write(DataFixtures.cifarRecords(labels: [1, 10], labelBytes: 1), to: batch3)
        #expect(throws: DatasetError.labelOutOfRange(path: batch3, index: 1, label: 10, classCount: 10)) {
            try Dataset.load(kind: .cifar10, dataDir: dir)
        }
        // A missing training batch.
        try FileManager.default.removeItem(atPath: batch3)
        #expect(throws: DatasetError.missingFile(path: batch3, hint: nil)) { try Dataset.load(kind: .cifar10, dataDir: dir) }
        // Wrong number of class names.
        try Self.writeCIFAR10(folder)
        try DataFixtures.write(Array("a\nb\n".utf8), to: folder + "/batches.meta.txt")
        #expect(throws: DatasetError.classNames(path: folder + "/batches.meta.txt", problem: "2 class names, expected 10")) {
            try Dataset.load(kind: .cifar10, dataDir: folder)
        }
        // No CIFAR files at all: the message names the flag and both layouts.
        let empty = dir + "/empty"
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        let missing = #expect(throws: DatasetError.self) { try Dataset.load(kind: .cifar100, dataDir: empty) }
        #expect(missing?.description == "--data-dir \(empty): holds no cifar100 files; expected cifar-100-binary/{train,test}.bin "
            + "+ fine_label_names.txt (binary version) or cifar-100-python/{train,test,meta} (python version), "
            + "in this folder or as the folder itself")
    }

    // MARK: PNG folder

    /// A PNG folder with classes "b_cat" (three training images) and "a_dog" (two), one test image
    /// each; colour types and sizes vary.
    static func writePNGFolder(_ dir: String) throws {
        func rgb(_ w: Int, _ h: Int, _ v: Int) -> [UInt8] {
            DataFixtures.png(width: w, height: h, bitDepth: 8, colorType: .rgb,
                             samples: (0..<h).map { _ in (0..<w).map { _ in [v, v + 1, v + 2] } })
        }
        func gray(_ w: Int, _ h: Int, _ v: Int) -> [UInt8] {
            DataFixtures.png(width: w, height: h, bitDepth: 8, colorType: .gray,
                             samples: (0..<h).map { _ in (0..<w).map { _ in [v] } })
        }
        try DataFixtures.write(rgb(32, 32, 10), to: dir + "/train/b_cat/2.png")
        try DataFixtures.write(gray(16, 16, 200), to: dir + "/train/b_cat/10.PNG")      // upscaled, repeated
        try DataFixtures.write(rgb(40, 50, 100), to: dir + "/train/b_cat/sub/0.png")    // downscaled; after the folder's own files
        try DataFixtures.write(Array("not an image".utf8), to: dir + "/train/b_cat/notes.txt")
        try DataFixtures.write(rgb(32, 32, 50), to: dir + "/train/a_dog/x.png")
        try DataFixtures.write(DataFixtures.png(width: 32, height: 32, bitDepth: 8, colorType: .rgba,
                                                samples: (0..<32).map { _ in (0..<32).map { _ in [60, 61, 62, 0] } }),
                               to: dir + "/train/a_dog/y.png")
        try DataFixtures.write(rgb(8, 8, 7), to: dir + "/test/a_dog/t.png")
        try DataFixtures.write(rgb(32, 32, 9), to: dir + "/test/b_cat/t.png")
    }

    @Test func pngFolderLoadsSortedClassesAsRGB32() throws {
        let root = try DataFixtures.temporaryDirectory("pngset")
        defer { DataFixtures.cleanUp(root) }
        let dir = root + "/flowers"
        try Self.writePNGFolder(dir)
        let d = try Dataset.load(kind: .png, dataDir: dir)
        #expect(d.name == "flowers" && d.kind == .png && d.augmentation == .cifar)
        #expect(d.classNames == ["a_dog", "b_cat"])
        #expect(d.train.labels == [0, 0, 1, 1, 1] && d.test.labels == [0, 1])
        #expect(d.train.height == 32 && d.train.width == 32 && d.train.channels == 3)
        // File order: a_dog/x, a_dog/y, b_cat/10.PNG, b_cat/2.png, b_cat/sub/0.png (constant images
        // stay constant through the resize; alpha is dropped).
        let firstPixels = (0..<5).map { Array(d.train.image($0).prefix(3)) }
        #expect(firstPixels == [[50, 51, 52], [60, 61, 62], [200, 200, 200], [10, 11, 12], [100, 101, 102]])
        #expect(Set(d.train.image(2)) == [200] && Set(d.test.image(0)) == [7, 8, 9])
        // Normalisation from the training images: channel means of (50, 60, 200, 10, 100) + c.
        for c in 0..<3 {
            let values = [50.0 + Double(c), 60 + Double(c), 200, 10 + Double(c), 100 + Double(c)].map { $0 / 255 }
            let mean = values.reduce(0, +) / 5
            let std = (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 5).squareRoot()
            #expect(abs(Double(d.mean[c]) - mean) < 1e-6 && abs(Double(d.std[c]) - std) < 1e-6)
        }
        let small = try Dataset.load(kind: .png, dataDir: dir, trainPerClass: 1)
        #expect(small.train.labels == [0, 1] && small.train.image(1) == d.train.image(2))
    }

    @Test func pngFolderErrorsNameTheFileOrFolder() throws {
        let root = try DataFixtures.temporaryDirectory("pngset")
        defer { DataFixtures.cleanUp(root) }
        let dir = root + "/set"
        try Self.writePNGFolder(dir)
        // A broken PNG.
        let broken = dir + "/train/b_cat/sub/0.png"
        try DataFixtures.write(Array("\u{89}PNG garbage".utf8), to: broken)
        let e1 = #expect(throws: PNGError.self) { try Dataset.load(kind: .png, dataDir: dir) }
        #expect(e1?.description.hasPrefix(broken + ": not a valid PNG") == true)
        // A test class missing.
        try Self.writePNGFolder(dir)
        try FileManager.default.removeItem(atPath: dir + "/test/b_cat")
        try FileManager.default.createDirectory(atPath: dir + "/test/c_owl", withIntermediateDirectories: true)
        let e2 = #expect(throws: DatasetError.self) { try Dataset.load(kind: .png, dataDir: dir) }
        #expect(e2 == .classFoldersDiffer(train: dir + "/train", test: dir + "/test", onlyInTrain: ["b_cat"], onlyInTest: ["c_owl"]))
        #expect(e2?.description == "class folders of \(dir)/train and \(dir)/test differ: only in \(dir)/train: b_cat; "
            + "only in \(dir)/test: c_owl")
        // A class folder without images.
        try FileManager.default.removeItem(atPath: dir + "/test/c_owl")
        try DataFixtures.write(Array("x".utf8), to: dir + "/test/b_cat/readme.txt")
        #expect(throws: DatasetError.emptyClass(path: dir + "/test/b_cat")) { try Dataset.load(kind: .png, dataDir: dir) }
        // No directory given, or no train folder.
        #expect(throws: DatasetError.directoryRequired(.png)) { try Dataset.load(kind: .png) }
        #expect(throws: DatasetError.missingDirectory(path: root + "/train")) { try Dataset.load(kind: .png, dataDir: root) }
    }

    @Test func datasetNamesParse() throws {
        #expect(try DatasetKind.parse("Fashion_MNIST") == .fashionMNIST)
        #expect(try DatasetKind.parse("cifar100") == .cifar100 && DatasetKind.parse("CIFAR-10") == .cifar10)
        #expect(try DatasetKind.parse("PNG") == .png)
        #expect(try DatasetKind.parse("ImageNet-100") == .imagenet100)
        let error = #expect(throws: DatasetError.self) { try DatasetKind.parse("imagenet1000") }
        #expect(error?.description == "unknown dataset 'imagenet1000' (known: fashion-mnist, cifar100, cifar10, png, imagenet100)")
    }
}
