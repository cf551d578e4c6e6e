import Foundation

/// A dataset given as a folder of PNGs, laid out as torchvision's `ImageFolder` expects:
/// `DIR/train/<class>/…/*.png` and `DIR/test/<class>/…/*.png`.
///
/// - Classes are the sub-folders of `train`, sorted by name (byte order, as Python sorts);
///   `test` must have the same ones. Folders starting with `.` are ignored.
/// - Images are the files ending in `.png` (any case) anywhere below a class folder, in
///   `ImageFolder`'s order: by folder path, then by file name. A class without one is an error.
/// - Each image becomes 32x32 RGB: gray repeated, alpha dropped (`readPNG`), other sizes resized
///   with Pillow's bilinear filter (`resizeBilinear`, as torchvision's `Resize((32, 32))`).
/// - Normalisation: per-channel mean and (population) standard deviation of the training images
///   after that conversion (those kept, if `trainPerClass` limits them), in [0, 1] units; a
///   channel with zero spread gets std 1.
/// - Augmentation: CIFAR's (crop, flip, brightness).
enum PNGFolder {
    static func load(directory: String, trainPerClass: Int?, testPerClass: Int?) throws -> Dataset {
        guard isDirectory(directory) else { throw DatasetError.missingDirectory(path: directory) }
        let trainDir = joinPath(directory, "train"), testDir = joinPath(directory, "test")
        for dir in [trainDir, testDir] where !isDirectory(dir) { throw DatasetError.missingDirectory(path: dir) }
        let classes = try commonClassFolders(train: trainDir, test: testDir)
        let train = try readImages(trainDir, classes: classes, perClass: trainPerClass)
        let test = try readImages(testDir, classes: classes, perClass: testPerClass)
        let (mean, std) = normalization(of: train)
        let name = URL(fileURLWithPath: directory).standardizedFileURL.lastPathComponent
        return Dataset(name: name, kind: .png, classNames: classes, train: train, test: test,
                       mean: mean, std: std, augmentation: .cifar)
    }

    /// Sub-folders of `dir`, sorted by name.
    static func classFolders(_ dir: String) throws -> [String] {
        let entries: [String]
        do {
            entries = try FileManager.default.contentsOfDirectory(atPath: dir)
        } catch {
            throw DatasetError.cannotRead(path: dir, reason: systemReason(error))
        }
        let classes = entries.filter { !$0.hasPrefix(".") && isDirectory(joinPath(dir, $0)) }.sorted(by: byteOrder)
        guard !classes.isEmpty else { throw DatasetError.noClasses(path: dir) }
        return classes
    }

    /// The class folders of `train`, which `test` must have too (sorted by name).
    static func commonClassFolders(train trainDir: String, test testDir: String) throws -> [String] {
        let classes = try classFolders(trainDir)
        let testClasses = try classFolders(testDir)
        guard classes == testClasses else {
            throw DatasetError.classFoldersDiffer(
                train: trainDir, test: testDir,
                onlyInTrain: classes.filter { !testClasses.contains($0) },
                onlyInTest: testClasses.filter { !classes.contains($0) })
        }
        return classes
    }

    /// The files below a class folder whose names end in one of `extensions` (lower case, with
    /// the dot; any case in the name), in `ImageFolder` order.
    static func imageFiles(_ classDir: String, extensions: [String] = [".png"]) -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: classDir) else { return [] }
        var files: [(folder: String, name: String)] = []
        while let relative = walker.nextObject() as? String {
            let lower = relative.lowercased()
            guard extensions.contains(where: { lower.hasSuffix($0) }) else { continue }
            let path = joinPath(classDir, relative)
            guard !isDirectory(path) else { continue }
            let slash = path.lastIndex(of: "/")!
            files.append((String(path[..<slash]), String(path[path.index(after: slash)...])))
        }
        files.sort { a, b in a.folder != b.folder ? byteOrder(a.folder, b.folder) : byteOrder(a.name, b.name) }
        return files.map { $0.folder + "/" + $0.name }
    }

    /// Decodes every class's images (the first `perClass` of each, if given) as 32x32 RGB.
    static func readImages(_ dir: String, classes: [String], perClass: Int?) throws -> ImageSet {
        let side = NetworkInput.side
        var pixels = [UInt8](), labels = [Int]()
        for (label, name) in classes.enumerated() {
            let classDir = joinPath(dir, name)
            var files = imageFiles(classDir)
            guard !files.isEmpty else { throw DatasetError.emptyClass(path: classDir) }
            if let perClass { files = Array(files.prefix(perClass)) }
            for file in files {
                var image = try readPNG(file)
                if image.width != side || image.height != side { image = resizeBilinear(image, width: side, height: side) }
                pixels += image.pixels
                labels.append(label)
            }
        }
        return ImageSet(pixels: pixels, labels: labels, height: side, width: side, channels: 3)
    }

    /// Per-channel mean and population standard deviation of `set`'s pixels / 255.
    static func normalization(of set: ImageSet) -> (mean: [Float], std: [Float]) {
        let c = set.channels
        var sum = [Int](repeating: 0, count: c), sumSquares = [Int](repeating: 0, count: c)
        set.pixels.withUnsafeBufferPointer { p in
            for i in 0..<p.count {
                let v = Int(p[i])
                sum[i % c] += v
                sumSquares[i % c] += v * v
            }
        }
        let n = Double(max(set.pixels.count / c, 1))
        var mean = [Float](), std = [Float]()
        for k in 0..<c {
            let m = Double(sum[k]) / n
            let variance = max(Double(sumSquares[k]) / n - m * m, 0)
            let s = variance.squareRoot() / 255
            mean.append(Float(m / 255))
            std.append(s > 0 ? Float(s) : 1)
        }
        return (mean, std)
    }

    /// Byte-wise (code point) order of UTF-8 strings, which is how Python sorts names.
    static func byteOrder(_ a: String, _ b: String) -> Bool {
        a.utf8.lexicographicallyPrecedes(b.utf8)
    }
}
