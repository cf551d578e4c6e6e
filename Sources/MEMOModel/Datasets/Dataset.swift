import Foundation

/// The datasets memo-swift reads. The raw values are the names `--dataset` accepts.
public enum DatasetKind: String, CaseIterable, Sendable, Codable {
    /// Zalando's Fashion-MNIST, gzip'd IDX files (Debian package `dataset-fashion-mnist`).
    case fashionMNIST = "fashion-mnist"
    /// CIFAR-100, binary (`cifar-100-binary/`) or python version (`cifar-100-python/`).
    case cifar100
    /// CIFAR-10, binary (`cifar-10-batches-bin/`) or python version (`cifar-10-batches-py/`).
    case cifar10
    /// A folder of PNGs: `DIR/train/<class>/*.png` and `DIR/test/<class>/*.png`.
    case png
    /// An ImageNet-style folder, the reference's ImageNet-100 (`iImageNet100`):
    /// `DIR/train/<wnid>/*.JPEG` and `DIR/val/<wnid>/*.JPEG`, any number of classes, decoded on
    /// the fly and fed at 224x224.
    case imagenet100

    /// Parses a dataset name, ignoring case, `-` and `_` (`Fashion_MNIST`, `cifar-100`).
    public static func parse(_ name: String) throws -> DatasetKind {
        func key(_ s: String) -> String { s.lowercased().filter { $0 != "-" && $0 != "_" } }
        guard let kind = allCases.first(where: { key($0.rawValue) == key(name) }) else {
            throw DatasetError.unknownDataset(name)
        }
        return kind
    }

    /// What the dataset's folder holds, for messages.
    public var expectedContents: String {
        switch self {
        case .fashionMNIST: return "train-images-idx3-ubyte.gz and the other three IDX files; Debian: apt-get install dataset-fashion-mnist"
        case .cifar10: return "cifar-10-batches-bin/ or cifar-10-batches-py/, or their parent"
        case .cifar100: return "cifar-100-binary/ or cifar-100-python/, or their parent"
        case .png: return "train/<class>/*.png and test/<class>/*.png"
        case .imagenet100: return "train/<wnid>/*.JPEG and val/<wnid>/*.JPEG"
        }
    }

    /// Decodes any spelling `parse` accepts.
    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        let name = try c.decode(String.self)
        guard let kind = try? DatasetKind.parse(name) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "unknown dataset '\(name)'")
        }
        self = kind
    }

    /// Where the data is read from when no directory is given: Debian's Fashion-MNIST, and
    /// `./data` for CIFAR (the reference's download folder). A PNG or ImageNet folder has no default.
    public var defaultDirectory: String? {
        switch self {
        case .fashionMNIST: return "/usr/share/datasets/fashion-mnist"
        case .cifar10, .cifar100: return "data"
        case .png, .imagenet100: return nil
        }
    }
}

/// Why a dataset could not be loaded; each description is one line naming the file or folder.
public enum DatasetError: Error, CustomStringConvertible, Equatable {
    case unknownDataset(String)
    case directoryRequired(DatasetKind)
    case missingDirectory(path: String)
    /// The dataset's folder itself is missing; `isDefault` when no --data-dir was given.
    case noDataFolder(kind: DatasetKind, path: String, isDefault: Bool)
    case missingFile(path: String, hint: String?)
    case cannotRead(path: String, reason: String)
    case wrongMagic(path: String, expected: UInt32, found: UInt32)
    case wrongSize(path: String, problem: String)
    case countMismatch(path: String, expected: Int, found: Int, what: String)
    case labelOutOfRange(path: String, index: Int, label: Int, classCount: Int)
    case classNames(path: String, problem: String)
    case noClasses(path: String)
    case emptyClass(path: String)
    case classFoldersDiffer(train: String, test: String, onlyInTrain: [String], onlyInTest: [String])
    case invalidClassOrder(path: String, problem: String)
    /// No CIFAR files in the --data-dir folder (`expected` lists both layouts); `isDefault` when
    /// no --data-dir was given.
    case noCIFARFiles(kind: DatasetKind, path: String, expected: String, isDefault: Bool)
    /// torchvision's CIFAR archive whose MD5 is not the published one.
    case archiveChecksum(path: String, found: String, expected: String)
    /// torchvision's CIFAR archive (MD5 verified) where its extracted folder is needed.
    case archiveNotExtracted(path: String, command: String, folder: String)
    /// A python-version file that does not unpickle (malformed, a refused global).
    case pickle(PickleError)
    /// A python-version file that unpickles to something other than the expected data.
    case unexpectedContent(path: String, problem: String)

    public var description: String {
        switch self {
        case let .unknownDataset(name):
            return "unknown dataset '\(name)' (known: \(DatasetKind.allCases.map(\.rawValue).joined(separator: ", ")))"
        case let .directoryRequired(kind): return "dataset \(kind.rawValue) needs a data directory (--data-dir)"
        case let .missingDirectory(path): return "\(path): no such directory"
        case let .noDataFolder(kind, path, isDefault):
            return isDefault
                ? "--data-dir not given and its default folder \(path) does not exist; name the folder that holds \(kind.rawValue) (\(kind.expectedContents))"
                : "--data-dir \(path): no such directory"
        case let .missingFile(path, hint): return "\(path): no such file" + (hint.map { " (\($0))" } ?? "")
        case let .cannotRead(path, reason): return "\(path): cannot read: \(reason)"
        case let .wrongMagic(path, expected, found):
            return "\(path): wrong magic number 0x\(hex(found)), expected 0x\(hex(expected))"
        case let .wrongSize(path, problem): return "\(path): \(problem)"
        case let .countMismatch(path, expected, found, what):
            return "\(path): \(found) \(what), expected \(expected)"
        case let .labelOutOfRange(path, index, label, classCount):
            return "\(path): record \(index) has label \(label), outside 0..<\(classCount)"
        case let .classNames(path, problem): return "\(path): \(problem)"
        case let .noClasses(path): return "\(path): no class folders"
        case let .emptyClass(path): return "\(path): class folder holds no .png images"
        case let .classFoldersDiffer(train, test, onlyTrain, onlyTest):
            var parts: [String] = []
            if !onlyTrain.isEmpty { parts.append("only in \(train): \(onlyTrain.joined(separator: ", "))") }
            if !onlyTest.isEmpty { parts.append("only in \(test): \(onlyTest.joined(separator: ", "))") }
            return "class folders of \(train) and \(test) differ: " + parts.joined(separator: "; ")
        case let .invalidClassOrder(path, problem): return "\(path): invalid class order: \(problem)"
        case let .noCIFARFiles(kind, path, expected, isDefault):
            return (isDefault ? "--data-dir not given and its default folder \(path) holds" : "--data-dir \(path): holds")
                + " no \(kind.rawValue) files; expected \(expected), in this folder or as the folder itself"
        case let .archiveChecksum(path, found, expected):
            return "\(path): MD5 \(found) is not the published \(expected): the download is incomplete or damaged"
        case let .archiveNotExtracted(path, command, folder):
            return "\(path): the archive itself is not read (its MD5 is the published one); extract it with "
                + "'\(command)' and give --data-dir \(folder) or its parent"
        case let .pickle(error): return error.description
        case let .unexpectedContent(path, problem): return "\(path): \(problem)"
        }
    }
}

private func hex(_ v: UInt32) -> String {
    let s = String(v, radix: 16)
    return String(repeating: "0", count: max(0, 8 - s.count)) + s
}

/// A loaded dataset: raw train and test images with their original labels, class names (indexed
/// by original label), the per-channel normalisation of the network input and the training
/// augmentation.
public struct Dataset: Sendable {
    /// `fashion-mnist`, `cifar10`, `cifar100`, or for a PNG or ImageNet folder the folder's name.
    public var name: String
    public var kind: DatasetKind
    public var classNames: [String]
    public var train: ImageSet
    public var test: ImageSet
    /// Mean and standard deviation of each of the 3 network input channels, in [0, 1] units
    /// (a gray dataset repeats its value).
    public var mean: [Float]
    public var std: [Float]
    public var augmentation: Augmentation

    public init(name: String, kind: DatasetKind, classNames: [String], train: ImageSet, test: ImageSet,
                mean: [Float], std: [Float], augmentation: Augmentation) {
        precondition(mean.count == NetworkInput.channels && std.count == NetworkInput.channels,
                     "mean and std have one value per input channel")
        self.name = name
        self.kind = kind
        self.classNames = classNames
        self.train = train
        self.test = test
        self.mean = mean
        self.std = std
        self.augmentation = augmentation
    }

    /// Loads a dataset.
    /// - Parameters:
    ///   - kind: which reader.
    ///   - dataDir: its folder; `nil` uses `kind.defaultDirectory`. For CIFAR the
    ///     `cifar-10-batches-bin` / `cifar-100-binary` or `cifar-10-batches-py` / `cifar-100-python`
    ///     folder itself or its parent; torchvision's `.tar.gz` archive gets an MD5 check and a
    ///     message saying how to extract it.
    ///   - trainPerClass: keep only the first N training images of each class (file order).
    ///   - testPerClass: keep only the first N test images of each class.
    ///   - imageCacheBytes: bound of the decoded-image cache of an ImageNet folder (nil:
    ///     `DecodedImageCache.defaultByteLimit`, 512 MiB); the other datasets are held in memory.
    public static func load(kind: DatasetKind, dataDir: String? = nil, trainPerClass: Int? = nil,
                            testPerClass: Int? = nil, imageCacheBytes: Int? = nil) throws -> Dataset {
        guard let dir = dataDir ?? kind.defaultDirectory else { throw DatasetError.directoryRequired(kind) }
        if kind == .cifar10 || kind == .cifar100, !isDirectory(dir), fileExists(dir) {
            let variant: CIFAR.Variant = kind == .cifar10 ? .cifar10 : .cifar100
            guard (dir as NSString).lastPathComponent == variant.archive else {
                throw DatasetError.noCIFARFiles(kind: kind, path: dir, expected: variant.expectedFiles, isDefault: dataDir == nil)
            }
            throw try CIFAR.archiveAdvice(variant, archive: dir)
        }
        guard isDirectory(dir) else { throw DatasetError.noDataFolder(kind: kind, path: dir, isDefault: dataDir == nil) }
        var dataset: Dataset
        switch kind {
        case .fashionMNIST: dataset = try FashionMNIST.load(directory: dir)
        case .cifar10: dataset = try CIFAR.load(.cifar10, directory: dir, isDefault: dataDir == nil)
        case .cifar100: dataset = try CIFAR.load(.cifar100, directory: dir, isDefault: dataDir == nil)
        case .png: dataset = try PNGFolder.load(directory: dir, trainPerClass: trainPerClass, testPerClass: testPerClass)
        case .imagenet100:
            dataset = try ImageNetFolder.load(directory: dir, trainPerClass: trainPerClass, testPerClass: testPerClass,
                                              cacheBytes: imageCacheBytes ?? DecodedImageCache.defaultByteLimit)
        }
        if kind != .png && kind != .imagenet100 {
            if let n = trainPerClass { dataset.train = dataset.train.subset(perClass: n) }
            if let n = testPerClass { dataset.test = dataset.test.subset(perClass: n) }
        }
        return dataset
    }
}

// MARK: - Shared helpers of the readers

/// Reads a whole file (gzip'd or plain), mapping I/O errors to `DatasetError`.
func readDatasetFile(_ path: String, hint: String? = nil) throws -> [UInt8] {
    guard FileManager.default.fileExists(atPath: path) else { throw DatasetError.missingFile(path: path, hint: hint) }
    do {
        return try readGzipFile(path)
    } catch let GzipError.cannotOpen(_, reason) {
        throw DatasetError.cannotRead(path: path, reason: reason)
    } catch let GzipError.corrupt(_, reason) {
        throw DatasetError.cannotRead(path: path, reason: reason)
    }
}

/// Whether `path` is an existing directory.
func isDirectory(_ path: String) -> Bool {
    var isDir: ObjCBool = false
    return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
}

/// Joins path components with `/` (no normalisation).
func joinPath(_ base: String, _ parts: String...) -> String {
    parts.reduce(base) { $0.hasSuffix("/") ? $0 + $1 : $0 + "/" + $1 }
}

/// Whether `path` exists (file or folder).
func fileExists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }
