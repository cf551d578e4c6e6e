import Foundation

/// CIFAR-10 and CIFAR-100 (Krizhevsky 2009), binary version: 32x32 RGB images, 50,000 for
/// training and 10,000 for testing.
///
/// - CIFAR-10 (`cifar-10-batches-bin/`): `data_batch_1.bin` ... `data_batch_5.bin` (read in that
///   order, as torchvision does), `test_batch.bin`, records of 3,073 bytes `<label><3072 CHW>`;
///   class names in `batches.meta.txt`.
/// - CIFAR-100 (`cifar-100-binary/`): `train.bin`, `test.bin`, records of 3,074 bytes
///   `<coarse label><fine label><3072 CHW>`; the fine labels are the classes, named in
///   `fine_label_names.txt`.
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
    }

    static let imageBytes = 32 * 32 * 3

    static func load(_ variant: Variant, directory: String) throws -> Dataset {
        guard isDirectory(directory) else { throw DatasetError.missingDirectory(path: directory) }
        let folder = try resolveFolder(variant, directory: directory)
        let names = try readClassNames(joinPath(folder, variant.namesFile), count: variant.classCount)
        var train = [UInt8](), trainLabels = [Int]()
        for file in variant.trainFiles {
            let part = try readRecords(joinPath(folder, file), variant: variant)
            train += part.pixels
            trainLabels += part.labels
        }
        let test = try readRecords(joinPath(folder, variant.testFile), variant: variant)
        return Dataset(name: variant.kind.rawValue, kind: variant.kind, classNames: names,
                       train: ImageSet(pixels: train, labels: trainLabels, height: 32, width: 32, channels: 3),
                       test: test, mean: variant.mean, std: variant.std, augmentation: .cifar)
    }

    /// The folder holding the files: `directory` itself or `directory/<cifar-…-bin>`.
    static func resolveFolder(_ variant: Variant, directory: String) throws -> String {
        let nested = joinPath(directory, variant.folder)
        for candidate in [directory, nested] where fileExists(joinPath(candidate, variant.testFile)) {
            return candidate
        }
        let python = variant == .cifar10 ? "cifar-10-batches-py" : "cifar-100-python"
        throw DatasetError.missingFile(path: joinPath(nested, variant.testFile),
                                       hint: "nor in \(directory); memo-swift reads the binary version of the "
                                           + "dataset, not \(python)")
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
                    // CHW planes (1024 R, 1024 G, 1024 B) -> HWC.
                    let image = base + variant.labelBytes
                    let out = i * imageBytes
                    for p in 0..<1024 {
                        dst[out + 3 * p] = src[image + p]
                        dst[out + 3 * p + 1] = src[image + 1024 + p]
                        dst[out + 3 * p + 2] = src[image + 2048 + p]
                    }
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
}
