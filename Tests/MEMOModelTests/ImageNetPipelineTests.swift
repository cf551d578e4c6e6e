import Foundation
import Testing
@testable import MEMOModel

/// The ImageNet path: torchvision's transforms byte for byte (`Fixtures/imagenet_transforms.json`
/// from `scripts/make_imagenet_transform_fixture.py`), `RandomResizedCrop`'s boxes, the
/// ImageNet-style folder (layout, class order, refusals), the decoded-image cache's bound, and
/// `makeBatch` on a file set. Every image is generated here; none is committed.
@Suite struct ImageNetPipelineTests {
    struct TestView: Decodable { let width, height, out_width, out_height: Int; let md5, normalized_md5: String }
    struct ResizedCrop: Decodable {
        let width, height, top, left, box_height, box_width: Int
        let md5: String
        let flipped_md5: String?
    }
    struct Fixture: Decodable {
        let mean, std: [Float]
        let test_view: [TestView]
        let resized_crop: [ResizedCrop]
        let random_resized_crop_fallback: [ResizedCrop]
    }

    static func fixture() throws -> Fixture {
        let url = try #require(Bundle.module.url(forResource: "imagenet_transforms", withExtension: "json", subdirectory: "Fixtures"))
        return try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }

    /// The script's `pattern`: (3 x² + 7 y + x y + 85 c + (x xor y)) mod 256.
    static func pattern(width: Int, height: Int) -> RGBImage {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                for c in 0..<3 { pixels[(y * width + x) * 3 + c] = UInt8((3 * x * x + 7 * y + x * y + 85 * c + (x ^ y)) % 256) }
            }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    static func md5<T>(_ values: [T]) -> String {
        var h = MD5()
        values.withUnsafeBytes { h.update($0) }
        return h.hexDigest()
    }

    @Test func testViewMatchesTorchvision() throws {
        let t = ImageNetTransforms.reference
        for c in try Self.fixture().test_view {
            let out = t.testView(Self.pattern(width: c.width, height: c.height))
            #expect(out.width == c.out_width && out.height == c.out_height, "\(c.width)x\(c.height)")
            #expect(Self.md5(out.pixels) == c.md5, "Resize(256) + CenterCrop(224) of \(c.width)x\(c.height)")
        }
        // The sizes torchvision's Resize(256) computes: int(256 * long / short).
        let landscape = ImageNetTransforms.shorterSideSize(width: 333, height: 257, to: 256)
        let portrait = ImageNetTransforms.shorterSideSize(width: 375, height: 500, to: 256)
        #expect(landscape.width == 331 && landscape.height == 256 && portrait.width == 256 && portrait.height == 341)
    }

    @Test func resizedCropsMatchTorchvision() throws {
        let t = ImageNetTransforms.reference
        let fixture = try Self.fixture()
        for c in fixture.resized_crop {
            let box = ImageNetTransforms.Box(top: c.top, left: c.left, height: c.box_height, width: c.box_width)
            let image = Self.pattern(width: c.width, height: c.height)
            #expect(Self.md5(t.trainView(image, box: box, flip: false).pixels) == c.md5, "resized_crop \(box)")
            #expect(Self.md5(t.trainView(image, box: box, flip: true).pixels) == c.flipped_md5, "flipped \(box)")
        }
        // Images so elongated that no attempt fits: the central fallback, whatever the draws.
        for c in fixture.random_resized_crop_fallback {
            let expected = ImageNetTransforms.Box(top: c.top, left: c.left, height: c.box_height, width: c.box_width)
            for seed in [1, 2, 3] as [UInt64] {
                var rng = MEMORandom(seed: seed)
                #expect(t.randomBox(width: c.width, height: c.height, rng: &rng) == expected, "\(c.width)x\(c.height)")
            }
            let out = t.trainView(Self.pattern(width: c.width, height: c.height), box: expected, flip: false)
            #expect(Self.md5(out.pixels) == c.md5, "RandomResizedCrop(224) of \(c.width)x\(c.height)")
        }
    }

    /// Every box lies inside its image, its area fraction and aspect ratio within torchvision's
    /// ranges up to the rounding of its sides; boxes vary.
    @Test func randomBoxesStayInBounds() {
        let t = ImageNetTransforms.reference
        var rng = MEMORandom(seed: 7)
        for (w, h) in [(500, 375), (375, 500), (250, 250), (64, 48), (1, 1), (3, 400)] {
            var seen = Set<[Int]>()
            for _ in 0..<300 {
                let b = t.randomBox(width: w, height: h, rng: &rng)
                #expect(b.top >= 0 && b.left >= 0 && b.height >= 1 && b.width >= 1, "\(b) in \(w)x\(h)")
                #expect(b.top + b.height <= h && b.left + b.width <= w, "\(b) in \(w)x\(h)")
                if b != t.fallbackBox(width: w, height: h) {
                    // Sides are rounded to whole pixels: allow half a pixel on each.
                    let fraction = Double((b.width + 1) * (b.height + 1)) / Double(w * h)
                    #expect(fraction >= 0.08, "\(b) in \(w)x\(h)")
                    let ratioHigh = (Double(b.width) + 0.5) / max(Double(b.height) - 0.5, 0.5)
                    let ratioLow = max(Double(b.width) - 0.5, 0.5) / (Double(b.height) + 0.5)
                    #expect(ratioHigh >= 0.75 && ratioLow <= 4.0 / 3, "\(b) in \(w)x\(h)")
                }
                seen.insert([b.top, b.left, b.height, b.width])
            }
            if w >= 48 { #expect(seen.count > 100, "\(w)x\(h): \(seen.count) distinct boxes") }
        }
    }

    /// Writes an ImageNet-style folder: `train/<wnid>/*.JPEG` (libjpeg-turbo) and
    /// `val/<wnid>/*.png`, pattern images of varied sizes.
    static func makeFolder(wnids: [String], trainPerClass: Int, valPerClass: Int) throws -> String {
        let dir = try DataFixtures.temporaryDirectory("imagenet")
        for (k, wnid) in wnids.enumerated() {
            for i in 0..<trainPerClass {
                let image = pattern(width: 60 + 13 * i + 7 * k, height: 50 + 11 * k)
                try DataFixtures.write(try encodeJPEG(image, quality: 90), to: "\(dir)/train/\(wnid)/\(wnid)_\(i).JPEG")
            }
            for i in 0..<valPerClass {
                let image = pattern(width: 70 + 5 * i, height: 64 + 3 * k)
                try FileManager.default.createDirectory(atPath: "\(dir)/val/\(wnid)", withIntermediateDirectories: true)
                try writePNG(image, to: "\(dir)/val/\(wnid)/ILSVRC_val_\(i).png")
            }
        }
        return dir
    }

    @Test func folderReadsLikeImageFolder() throws {
        let wnids = ["n02085620", "n01440764", "n01530575"]
        let dir = try Self.makeFolder(wnids: wnids, trainPerClass: 3, valPerClass: 2)
        defer { DataFixtures.cleanUp(dir) }
        let d = try Dataset.load(kind: .imagenet100, dataDir: dir, trainPerClass: 2)
        #expect(d.kind == .imagenet100 && d.augmentation == .imagenet)
        #expect(d.classNames == wnids.sorted())
        #expect(d.train.labels == [0, 0, 1, 1, 2, 2] && d.test.labels == [0, 0, 1, 1, 2, 2])
        #expect(d.train.files?.paths.first == "\(dir)/train/n01440764/n01440764_0.JPEG")
        let shape: [Int] = [d.train.height, d.train.width, d.train.channels, d.train.inputSide]
        #expect(shape == [224, 224, 3, 224])
        #expect(d.mean == [0.485, 0.456, 0.406] && d.std == [0.229, 0.224, 0.225])
        #expect(try DatasetKind.parse("ImageNet100") == .imagenet100 && DatasetKind.imagenet100.defaultDirectory == nil)
        // PyCIL's order over the folder's classes: seed 1993's permutation of the sorted ids.
        #expect(try ClassOrderChoice.pycil.resolve(classCount: 3) == ClassOrder.pycil(classCount: 3))

        // The test view of an exemplar is what a checkpoint stores.
        // Val image 1 of n01440764 (written as class 1 of `wnids`): 75x67.
        let stored = Array(d.test.image(1))
        #expect(Self.md5(stored) == Self.md5(ImageNetTransforms.reference.testView(Self.pattern(width: 75, height: 67)).pixels))

        try FileManager.default.createDirectory(atPath: "\(dir)/val/n09999999", withIntermediateDirectories: true)
        #expect(throws: DatasetError.classFoldersDiffer(train: "\(dir)/train", test: "\(dir)/val", onlyInTrain: [],
                                                       onlyInTest: ["n09999999"])) {
            try Dataset.load(kind: .imagenet100, dataDir: dir)
        }
        try FileManager.default.removeItem(atPath: "\(dir)/val/n09999999")
        try DataFixtures.write([0x42, 0x4D], to: "\(dir)/train/n01530575/x.bmp")
        #expect((try? Dataset.load(kind: .imagenet100, dataDir: dir)) == nil)
        #expect(throws: DatasetError.unexpectedContent(path: "\(dir)/train/n01530575/x.bmp", problem: "only JPEG and PNG images are read")) {
            try Dataset.load(kind: .imagenet100, dataDir: dir)
        }
        #expect(throws: DatasetError.directoryRequired(.imagenet100)) { try Dataset.load(kind: .imagenet100) }
    }

    /// The test batch equals torchvision's `ToTensor` + `Normalize` of the test view, float for
    /// float; training batches are reproducible and independent of the thread count.
    @Test func fileBatchesMatchTorchvision() throws {
        let fixture = try Self.fixture()
        let dir = try DataFixtures.temporaryDirectory("imagenet")
        defer { DataFixtures.cleanUp(dir) }
        for (k, c) in fixture.test_view.enumerated() {
            for part in ["train", "val"] {
                try FileManager.default.createDirectory(atPath: "\(dir)/\(part)/c\(k)", withIntermediateDirectories: true)
                try writePNG(Self.pattern(width: c.width, height: c.height), to: "\(dir)/\(part)/c\(k)/0.png")
            }
        }
        let d = try Dataset.load(kind: .imagenet100, dataDir: dir)
        var rng = MEMORandom(seed: 3)
        var out: [Float] = []
        makeBatch(from: d.test, indices: Array(0..<d.test.count), mean: d.mean, std: d.std, augmentation: nil, rng: &rng, into: &out)
        let size = 3 * 224 * 224
        #expect(out.count == d.test.count * size)
        for (k, c) in fixture.test_view.enumerated() {
            #expect(Self.md5(Array(out[(k * size)..<((k + 1) * size)])) == c.normalized_md5, "\(c.width)x\(c.height)")
        }
        #expect(rng.stateWords == MEMORandom(seed: 3).stateWords)

        func trainBatch(threads: Int) -> [Float] {
            var rng = MEMORandom(seed: 11), out: [Float] = []
            EngineThreads.with(threads) {
                makeBatch(from: d.train, indices: [4, 0, 2, 0], mean: d.mean, std: d.std, augmentation: .imagenet, rng: &rng, into: &out)
            }
            return out
        }
        let one = trainBatch(threads: 1)
        #expect(one == trainBatch(threads: 2))
        #expect(Array(one[(size)..<(2 * size)]) != Array(one[(3 * size)..<(4 * size)]), "two draws of one image differ")
        try d.train.checkReadable()
    }

    @Test func cacheStaysWithinItsBound() throws {
        let image = { (side: Int) in RGBImage(width: side, height: side, pixels: [UInt8](repeating: 1, count: side * side * 3)) }
        let cache = DecodedImageCache(byteLimit: 3 * 300)  // three 10x10 images
        for k in 0..<3 { cache.insert(image(10), for: "\(k)") }
        #expect(cache.count == 3 && cache.byteCount == 900)
        _ = cache.image("0")  // 0 is now the most recent, 1 the least
        cache.insert(image(10), for: "3")
        #expect(cache.image("1") == nil && cache.image("0") != nil && cache.image("3") != nil)
        cache.insert(image(20), for: "big")  // 1200 bytes > the whole bound: not kept
        #expect(cache.image("big") == nil && cache.byteCount <= 900)
        cache.insert(image(17), for: "17")  // 867 bytes: evicts all others
        #expect(cache.count == 1 && cache.byteCount == 867)
        let none = DecodedImageCache(byteLimit: 0)
        none.insert(image(1), for: "a")
        #expect(none.count == 0 && none.byteCount == 0)

        // Through a dataset: the cache holds at most its bound, hits on a second pass when it fits.
        let dir = try Self.makeFolder(wnids: ["a", "b"], trainPerClass: 4, valPerClass: 1)
        defer { DataFixtures.cleanUp(dir) }
        let bound = 40_000
        let small = try Dataset.load(kind: .imagenet100, dataDir: dir, imageCacheBytes: bound)
        let files = try #require(small.train.files)
        var rng = MEMORandom(seed: 5), out: [Float] = []
        for _ in 0..<2 {
            makeBatch(from: small.train, indices: Array(0..<8), mean: small.mean, std: small.std, augmentation: .imagenet,
                      rng: &rng, into: &out)
            #expect(files.cache.byteCount <= bound && files.cache.count >= 1)
        }
        let large = try Dataset.load(kind: .imagenet100, dataDir: dir, imageCacheBytes: 1 << 20)
        for _ in 0..<2 {
            makeBatch(from: large.train, indices: Array(0..<8), mean: large.mean, std: large.std, augmentation: nil, rng: &rng, into: &out)
        }
        #expect(large.train.files!.cache.misses == 8 && large.train.files!.cache.hits == 8)
        #expect(throws: ConfigError(flag: "--image-cache", value: "-1", allowed: "must be 0 bytes (no cache) or more")) {
            var c = MEMOConfig()
            c.imageCacheBytes = -1
            try c.validate()
        }
    }

    /// A file that stops decoding gives a typed error naming it, not a crash.
    @Test func damagedFileIsReportedByName() throws {
        let dir = try Self.makeFolder(wnids: ["a"], trainPerClass: 2, valPerClass: 1)
        defer { DataFixtures.cleanUp(dir) }
        let d = try Dataset.load(kind: .imagenet100, dataDir: dir)
        let damaged = "\(dir)/train/a/a_1.JPEG"
        try DataFixtures.write([0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10], to: damaged)
        var rng = MEMORandom(seed: 1), out: [Float] = []
        makeBatch(from: d.train, indices: [0, 1], mean: d.mean, std: d.std, augmentation: .imagenet, rng: &rng, into: &out)
        let error = #expect(throws: DatasetError.self) { try d.train.checkReadable() }
        #expect(error?.description.hasPrefix("\(damaged): cannot read: not a valid JPEG") == true, "\(String(describing: error))")
    }

    /// memo_resnet18 end to end at 224x224 on a folder: one training step, herding, evaluation,
    /// a checkpoint holding 224x224x3 exemplars, then `classify` (test view of the JPEG files)
    /// agreeing with the stored predictions and `evaluate` reproducing the stored evaluation.
    @Test func resnet18RunsAt224EndToEnd() throws {
        let dir = try Self.makeFolder(wnids: ["b", "a"], trainPerClass: 3, valPerClass: 1)
        defer { DataFixtures.cleanUp(dir) }
        var config = MEMOConfig()
        config.dataset = .imagenet100
        config.dataDir = dir
        config.backbone = .memoResNet18
        (config.initCls, config.increment, config.memorySize) = (2, 2, 2)
        (config.initEpoch, config.batchSize, config.evalEvery) = (1, 6, 0)
        config.initLR = 0.01
        let out = dir + "/run"
        let run = try TrainingRun(TrainingRequest(start: .new(folder: out), config: config, given: []))
        run.log = { _ in }
        #expect(try run.train() == 1)
        let path = out + "/" + Checkpoint.fileName(stage: 0)
        let c = try Checkpoint.read(path)
        #expect(c.imageShape == [224, 224, 3] && c.memory.count == 2 && c.exemplarImages.count == 2 * 150_528)
        #expect(MemoryReport(checkpoint: c).bytesPerExemplar == 150_528)

        let data = try Dataset.load(kind: .imagenet100, dataDir: dir)
        // The stored exemplars are the test views of the chosen training files.
        let first = c.memory.entries[0].index
        #expect(Self.md5(Array(c.exemplarImages.prefix(150_528))) == Self.md5(Array(data.train.image(first))))

        let classifier = try Classifier(checkpoint: c, path: path)
        let report = ClassifyReport.run(classifier, arguments: data.test.files!.paths, head: .cnn, top: 1)
        #expect(report.failures.isEmpty && report.entries.allSatisfy(\.resized))
        #expect(c.testIndices == [0, 1])
        #expect(report.entries.map { $0.predictions[0].label } == c.cnnTopK.map { $0[0] })

        let evaluation = try EvaluateReport.run(checkpoint: c, path: path, dataset: data)
        #expect(evaluation.matchesStored && evaluation.cnnDiffering == 0 && evaluation.nmeDiffering == 0)
    }
}
