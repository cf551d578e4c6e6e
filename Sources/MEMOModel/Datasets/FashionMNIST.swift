/// Zalando's Fashion-MNIST (Xiao, Rasul, Vollgraf 2017): 60,000 training and 10,000 test gray
/// 28x28 images of 10 classes, as four IDX files, gzip'd or not
/// (`train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]`, `t10k-...`).
///
/// Not a PyCIL dataset: docs/memo.md fixes its treatment. Images stay 28x28x1 in memory (784 bytes per
/// exemplar); `makeBatch` zero-pads them to 32x32 and repeats the channel. Normalisation mean
/// 0.2860, std 0.3530; augmentation `.gray` (crop with padding 4, horizontal flip).
enum FashionMNIST {
    static let classNames = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                             "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    static let mean: Float = 0.2860
    static let std: Float = 0.3530
    static let imagesMagic: UInt32 = 0x0000_0803  // unsigned byte, 3 dimensions
    static let labelsMagic: UInt32 = 0x0000_0801  // unsigned byte, 1 dimension

    static func load(directory: String) throws -> Dataset {
        guard isDirectory(directory) else { throw DatasetError.missingDirectory(path: directory) }
        func part(_ prefix: String) throws -> ImageSet {
            let images = try readIDXImages(locate(directory, "\(prefix)-images-idx3-ubyte"))
            let labelsPath = try locate(directory, "\(prefix)-labels-idx1-ubyte")
            let labels = try readIDXLabels(labelsPath, classCount: classNames.count)
            guard labels.count == images.count else {
                throw DatasetError.countMismatch(path: labelsPath, expected: images.count, found: labels.count,
                                                 what: "labels for as many images")
            }
            return ImageSet(pixels: images.pixels, labels: labels, height: images.height, width: images.width, channels: 1)
        }
        let m = [Float](repeating: mean, count: NetworkInput.channels)
        let s = [Float](repeating: std, count: NetworkInput.channels)
        return Dataset(name: DatasetKind.fashionMNIST.rawValue, kind: .fashionMNIST, classNames: classNames,
                       train: try part("train"), test: try part("t10k"), mean: m, std: s, augmentation: .gray)
    }

    /// `name.gz` if present, else `name`.
    private static func locate(_ directory: String, _ name: String) throws -> String {
        let gz = joinPath(directory, name + ".gz")
        if fileExists(gz) { return gz }
        let plain = joinPath(directory, name)
        if fileExists(plain) { return plain }
        throw DatasetError.missingFile(path: gz, hint: "nor \(name)")
    }

    /// Reads an IDX image file (`0x00000803`, big-endian count, rows, columns, then the bytes).
    static func readIDXImages(_ path: String) throws -> (pixels: [UInt8], count: Int, height: Int, width: Int) {
        let data = try readDatasetFile(path)
        let dims = try idxHeader(data, path: path, magic: imagesMagic, dimensions: 3)
        let (count, height, width) = (dims[0], dims[1], dims[2])
        guard height > 0, width > 0 else {
            throw DatasetError.wrongSize(path: path, problem: "image size \(height)x\(width)")
        }
        guard height <= NetworkInput.side, width <= NetworkInput.side else {
            throw DatasetError.wrongSize(path: path, problem: "images of \(height)x\(width) are larger than "
                + "\(NetworkInput.side)x\(NetworkInput.side)")
        }
        return (Array(data[16...]), count, height, width)
    }

    /// Reads an IDX label file (`0x00000801`, big-endian count, then one byte per label).
    static func readIDXLabels(_ path: String, classCount: Int) throws -> [Int] {
        let data = try readDatasetFile(path)
        let count = try idxHeader(data, path: path, magic: labelsMagic, dimensions: 1)[0]
        var labels = [Int](repeating: 0, count: count)
        for i in 0..<count {
            let y = Int(data[8 + i])
            guard y < classCount else {
                throw DatasetError.labelOutOfRange(path: path, index: i, label: y, classCount: classCount)
            }
            labels[i] = y
        }
        return labels
    }

    /// Checks magic and total size; returns the dimensions.
    private static func idxHeader(_ data: [UInt8], path: String, magic: UInt32, dimensions: Int) throws -> [Int] {
        func word(_ at: Int) -> UInt32 {
            data[at..<(at + 4)].reduce(0) { $0 << 8 | UInt32($1) }
        }
        let header = 4 + 4 * dimensions
        guard data.count >= 4 else {
            throw DatasetError.wrongSize(path: path, problem: "\(data.count) bytes is too short for an IDX file")
        }
        guard word(0) == magic else { throw DatasetError.wrongMagic(path: path, expected: magic, found: word(0)) }
        guard data.count >= header else {
            throw DatasetError.wrongSize(path: path, problem: "\(data.count) bytes is too short for an IDX header")
        }
        let dims = (0..<dimensions).map { Int(word(4 + 4 * $0)) }
        let expected = header + dims.reduce(1, *)
        guard data.count == expected else {
            throw DatasetError.wrongSize(path: path, problem: "\(data.count) bytes, expected \(expected) for "
                + dims.map(String.init).joined(separator: "x") + " values")
        }
        return dims
    }
}
