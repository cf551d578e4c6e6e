import Foundation

/// CIFAR-10 and CIFAR-100 (Krizhevsky 2009): 32x32 RGB images, 50,000 for training and 10,000
/// for testing, read from either published version.
///
/// Binary version:
/// - CIFAR-10 (`cifar-10-batches-bin/`): `data_batch_1.bin` ... `data_batch_5.bin` (read in that
///   order, as torchvision does), `test_batch.bin`, records of 3,073 bytes `<label><3072 CHW>`;
///   class names in `batches.meta.txt`.
/// - CIFAR-100 (`cifar-100-binary/`): `train.bin`, `test.bin`, records of 3,074 bytes
///   `<coarse label><fine label><3072 CHW>`; the fine labels are the classes, named in
///   `fine_label_names.txt`.
///
/// Python version (what torchvision downloads, so what the reference's `data/` holds):
/// `cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}` and
/// `cifar-100-python/{train, test, meta}`, pickles of dicts with `data` (a uint8 numpy array
/// [N, 3072] of CHW images), `labels` / `fine_labels`, and in the meta file `label_names` /
/// `fine_label_names`. They are read by the restricted `PickleMachine` with `NumpyBytesPolicy`:
/// plain data and uint8 arrays only, nothing executed.
///
/// The torchvision archives themselves (`cifar-10-python.tar.gz`, `cifar-100-python.tar.gz`) are
/// not read: given one, its published MD5 is checked and the error says to extract it.
///
/// Images are stored HWC (as the reference's numpy arrays are). Normalisation and augmentation
/// are the reference's (`utils/data.py`).
enum CIFAR {
    enum Variant {
        case cifar10, cifar100

        var folder: String { self == .cifar10 ? "cifar-10-batches-bin" : "cifar-100-binary" }
        var trainFiles: [String] {
            self == .cifar10 ? (1...5).map { "data_batch_\($0).bin" } : ["train.bin"]
        }
        var testFile: String { self == .cifar10 ? "test_batch.bin" : "test.bin" }
        var namesFile: String { self == .cifar10 ? "batches.meta.txt" : "fine_label_names.txt" }
        var classCount: Int { self == .cifar10 ? 10 : 100 }
        /// Bytes before the image in a record, the last of them the class label.
        var labelBytes: Int { self == .cifar10 ? 1 : 2 }
        var kind: DatasetKind { self == .cifar10 ? .cifar10 : .cifar100 }
        var mean: [Float] { self == .cifar10 ? [0.4914, 0.4822, 0.4465] : [0.5071, 0.4867, 0.4408] }
        var std: [Float] { self == .cifar10 ? [0.2023, 0.1994, 0.2010] : [0.2675, 0.2565, 0.2761] }

        // The python version.
        var pythonFolder: String { self == .cifar10 ? "cifar-10-batches-py" : "cifar-100-python" }
        var pythonTrainFiles: [String] { self == .cifar10 ? (1...5).map { "data_batch_\($0)" } : ["train"] }
        var pythonTestFile: String { self == .cifar10 ? "test_batch" : "test" }
        var pythonMetaFile: String { self == .cifar10 ? "batches.meta" : "meta" }
        var pythonLabelKey: String { self == .cifar10 ? "labels" : "fine_labels" }
        var pythonNamesKey: String { self == .cifar10 ? "label_names" : "fine_label_names" }
        /// torchvision's archive of the python version and its published MD5.
        var archive: String { self == .cifar10 ? "cifar-10-python.tar.gz" : "cifar-100-python.tar.gz" }
        var archiveMD5: String { self == .cifar10 ? "c58f30108f718f92721af3b95e74349a" : "eb9058c3a382ffc7106e4002c42a8d85" }
        var title: String { self == .cifar10 ? "CIFAR-10" : "CIFAR-100" }

        /// Both layouts, for messages.
        var expectedFiles: String {
            self == .cifar10
                ? "cifar-10-batches-bin/{data_batch_1..5,test_batch}.bin + batches.meta.txt (binary version) or "
                    + "cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta} (python version)"
                : "cifar-100-binary/{train,test}.bin + fine_label_names.txt (binary version) or "
                    + "cifar-100-python/{train,test,meta} (python version)"
        }
    }

    enum Layout: Equatable {
        case binary(String), python(String)
    }

    static let imageBytes = 32 * 32 * 3

    /// `isDefault`: the folder is the default one, no --data-dir was given (for messages).
    static func load(_ variant: Variant, directory: String, isDefault: Bool = false) throws -> Dataset {
        let names: [String]
        var train = [UInt8](), trainLabels = [Int]()
        let test: ImageSet
        switch try resolveLayout(variant, directory: directory, isDefault: isDefault) {
        case let .binary(folder):
            names = try readClassNames(joinPath(folder, variant.namesFile), count: variant.classCount)
            for file in variant.trainFiles {
                let part = try readRecords(joinPath(folder, file), variant: variant)
                train += part.pixels
                trainLabels += part.labels
            }
            test = try readRecords(joinPath(folder, variant.testFile), variant: variant)
        case let .python(folder):
            names = try readPythonClassNames(joinPath(folder, variant.pythonMetaFile), variant: variant)
            for file in variant.pythonTrainFiles {
                let part = try readPythonBatch(joinPath(folder, file), variant: variant)
                train += part.pixels
                trainLabels += part.labels
            }
            test = try readPythonBatch(joinPath(folder, variant.pythonTestFile), variant: variant)
        }
        return Dataset(name: variant.kind.rawValue, kind: variant.kind, classNames: names,
                       train: ImageSet(pixels: train, labels: trainLabels, height: 32, width: 32, channels: 3),
                       test: test, mean: variant.mean, std: variant.std, augmentation: .cifar)
    }

    /// Where the files are: `directory` itself or its `cifar-…-bin` / `cifar-…-python` subfolder,
    /// the binary version first. A folder holding only torchvision's archive gets the archive's
    /// verdict (`archiveAdvice`).
    static func resolveLayout(_ variant: Variant, directory: String, isDefault: Bool = false) throws -> Layout {
        for candidate in [directory, joinPath(directory, variant.folder)]
        where fileExists(joinPath(candidate, variant.testFile)) {
            return .binary(candidate)
        }
        for candidate in [directory, joinPath(directory, variant.pythonFolder)]
        where fileExists(joinPath(candidate, variant.pythonTestFile)) && fileExists(joinPath(candidate, variant.pythonMetaFile)) {
            return .python(candidate)
        }
        let archive = joinPath(directory, variant.archive)
        if fileExists(archive) { throw try archiveAdvice(variant, archive: archive) }
        throw DatasetError.noCIFARFiles(kind: variant.kind, path: directory, expected: variant.expectedFiles, isDefault: isDefault)
    }

    /// The error for torchvision's archive given instead of its extracted folder: a wrong MD5
    /// (incomplete or damaged download), else how to extract it.
    static func archiveAdvice(_ variant: Variant, archive: String) throws -> DatasetError {
        let digest = try MD5.hexDigest(ofFile: archive)
        guard digest == variant.archiveMD5 else {
            return .archiveChecksum(path: archive, found: digest, expected: variant.archiveMD5)
        }
        let parent = (archive as NSString).deletingLastPathComponent
        return .archiveNotExtracted(path: archive, command: "tar -xzf \(archive) -C \(parent.isEmpty ? "." : parent)",
                                    folder: joinPath(parent.isEmpty ? "." : parent, variant.pythonFolder))
    }

    /// CHW image planes (1024 R, 1024 G, 1024 B each) starting at `source[from]` to HWC at `destination[to]`.
    @inline(__always)
    static func copyCHWToHWC(_ source: UnsafeBufferPointer<UInt8>, from: Int, _ destination: UnsafeMutableBufferPointer<UInt8>, to: Int) {
        for p in 0..<1024 {
            destination[to + 3 * p] = source[from + p]
            destination[to + 3 * p + 1] = source[from + 1024 + p]
            destination[to + 3 * p + 2] = source[from + 2048 + p]
        }
    }

    /// Reads one binary batch file into an HWC image set.
    static func readRecords(_ path: String, variant: Variant) throws -> ImageSet {
        let data = try readDatasetFile(path)
        let record = variant.labelBytes + imageBytes
        guard !data.isEmpty, data.count % record == 0 else {
            throw DatasetError.wrongSize(path: path, problem: "size \(data.count) bytes is not a positive multiple "
                + "of the \(record)-byte \(variant.kind.rawValue) record")
        }
        let count = data.count / record
        var labels = [Int](repeating: 0, count: count)
        var pixels = [UInt8](repeating: 0, count: count * imageBytes)
        try data.withUnsafeBufferPointer { src in
            try pixels.withUnsafeMutableBufferPointer { dst in
                for i in 0..<count {
                    let base = i * record
                    let label = Int(src[base + variant.labelBytes - 1])
                    guard label < variant.classCount else {
                        throw DatasetError.labelOutOfRange(path: path, index: i, label: label,
                                                           classCount: variant.classCount)
                    }
                    labels[i] = label
                    copyCHWToHWC(src, from: base + variant.labelBytes, dst, to: i * imageBytes)
                }
            }
        }
        return ImageSet(pixels: pixels, labels: labels, height: 32, width: 32, channels: 3)
    }

    /// One class name per non-empty line.
    static func readClassNames(_ path: String, count: Int) throws -> [String] {
        let data = try readDatasetFile(path)
        let names = String(decoding: data, as: UTF8.self)
            .split(whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" })
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        guard names.count == count else {
            throw DatasetError.classNames(path: path, problem: "\(names.count) class names, expected \(count)")
        }
        return names
    }

    // MARK: Python version

    /// Unpickles a python-version file to its top-level dict.
    static func readPythonDict(_ path: String) throws -> PickleDict {
        let bytes = try readDatasetFile(path)
        let root: PickleValue
        do {
            root = try PickleMachine(file: path).load(bytes, policy: NumpyBytesPolicy(file: path))
        } catch let error as PickleError {
            throw DatasetError.pickle(error)
        }
        guard case let .dict(dict) = root else {
            throw DatasetError.unexpectedContent(path: path, problem: "holds a \(root.typeName), expected a dict")
        }
        return dict
    }

    /// One python-version batch (`data_batch_1`, `test`, ...) into an HWC image set.
    static func readPythonBatch(_ path: String, variant: Variant) throws -> ImageSet {
        let dict = try readPythonDict(path)
        guard case let .native(object)? = dict[text: "data"], let array = object as? NumpyByteArray, array.filled,
              array.shape.count == 2, array.shape[1] == imageBytes else {
            throw DatasetError.unexpectedContent(path: path, problem: "no 'data' uint8 array of shape [N, \(imageBytes)]")
        }
        guard let items = dict[text: variant.pythonLabelKey]?.items else {
            throw DatasetError.unexpectedContent(path: path, problem: "no '\(variant.pythonLabelKey)' list")
        }
        let count = array.shape[0]
        guard items.count == count else {
            throw DatasetError.countMismatch(path: path, expected: count, found: items.count, what: variant.pythonLabelKey)
        }
        var labels = [Int](repeating: 0, count: count)
        for (i, item) in items.enumerated() {
            guard let label = item.intValue else {
                throw DatasetError.unexpectedContent(path: path, problem: "\(variant.pythonLabelKey)[\(i)] is a \(item.typeName), not an int")
            }
            guard (0..<variant.classCount).contains(label) else {
                throw DatasetError.labelOutOfRange(path: path, index: i, label: label, classCount: variant.classCount)
            }
            labels[i] = label
        }
        var pixels = [UInt8](repeating: 0, count: count * imageBytes)
        array.bytes.withUnsafeBufferPointer { src in
            pixels.withUnsafeMutableBufferPointer { dst in
                for i in 0..<count { copyCHWToHWC(src, from: i * imageBytes, dst, to: i * imageBytes) }
            }
        }
        return ImageSet(pixels: pixels, labels: labels, height: 32, width: 32, channels: 3)
    }

    /// The class names in the python-version meta file (`label_names` / `fine_label_names`).
    static func readPythonClassNames(_ path: String, variant: Variant) throws -> [String] {
        let dict = try readPythonDict(path)
        guard let items = dict[text: variant.pythonNamesKey]?.items else {
            throw DatasetError.classNames(path: path, problem: "no '\(variant.pythonNamesKey)' list")
        }
        let names = items.compactMap(\.text)
        guard names.count == items.count else {
            throw DatasetError.classNames(path: path, problem: "'\(variant.pythonNamesKey)' holds values other than strings")
        }
        guard names.count == variant.classCount else {
            throw DatasetError.classNames(path: path, problem: "\(names.count) class names, expected \(variant.classCount)")
        }
        return names
    }
}
