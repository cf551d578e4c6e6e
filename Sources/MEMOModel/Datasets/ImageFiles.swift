import Foundation

/// The images of a folder dataset that is not held in memory (an ImageNet-style folder): one
/// file per image, decoded (JPEG with libjpeg-turbo, or PNG, told apart by their first bytes:
/// `readImage`) when a batch needs it, through a `DecodedImageCache` bounded in bytes, then
/// transformed by torchvision's ImageNet pipelines (`ImageNetTransforms`).
///
/// A file that does not decode (removed, damaged since the listing) gives a black image where
/// it is used and is recorded; `ImageSet.checkReadable()` turns the first record into a
/// `DatasetError`, which the trainer and the evaluation check after each batch or pass.
public struct ImageFiles: Sendable, Equatable {
    public let paths: [String]
    public let transforms: ImageNetTransforms
    public let cache: DecodedImageCache
    private let failures: FailureLog

    public init(paths: [String], transforms: ImageNetTransforms = .reference, cache: DecodedImageCache) {
        self.init(paths: paths, transforms: transforms, cache: cache, failures: FailureLog())
    }

    private init(paths: [String], transforms: ImageNetTransforms, cache: DecodedImageCache, failures: FailureLog) {
        self.paths = paths
        self.transforms = transforms
        self.cache = cache
        self.failures = failures
    }

    /// The files at `indices`, sharing this list's cache and failure record.
    public func subset(indices: [Int]) -> ImageFiles {
        ImageFiles(paths: indices.map { paths[$0] }, transforms: transforms, cache: cache, failures: failures)
    }

    /// Image `index` decoded as RGB, from the cache or the file; nil (and recorded) if the file
    /// does not decode.
    public func decoded(_ index: Int) -> RGBImage? {
        let path = paths[index]
        if let image = cache.image(path) { return image }
        do {
            let image = try readImage(path)
            guard image.width > 0, image.height > 0 else {
                failures.record(path: path, reason: "image has no pixels")
                return nil
            }
            cache.insert(image, for: path)
            return image
        } catch {
            failures.record(path: path, reason: "\(error)")
            return nil
        }
    }

    /// Image `index` as the test pipeline sees it (`Resize` then `CenterCrop`): cropSize x
    /// cropSize x 3 bytes (HWC), all 0 if the file does not decode. What a checkpoint stores for
    /// an exemplar or a misclassified test image.
    public func testView(_ index: Int) -> [UInt8] {
        guard let image = decoded(index) else {
            return [UInt8](repeating: 0, count: transforms.cropSize * transforms.cropSize * 3)
        }
        return transforms.testView(image).pixels
    }

    /// The first file that did not decode, as a one-line error.
    public var firstFailure: DatasetError? {
        failures.first.map { DatasetError.cannotRead(path: $0.path, reason: $0.reason) }
    }

    public static func == (a: ImageFiles, b: ImageFiles) -> Bool {
        a.paths == b.paths && a.transforms == b.transforms
    }
}

/// Files that did not decode, first one kept (shared by a list and its subsets).
private final class FailureLog: @unchecked Sendable {
    private let lock = NSLock()
    private var firstFailure: (path: String, reason: String)?

    var first: (path: String, reason: String)? { lock.withLock { firstFailure } }

    func record(path: String, reason: String) {
        lock.withLock {
            if firstFailure == nil {
                // `readImage`'s errors already name the file; keep the reason without it.
                let prefix = path + ": "
                firstFailure = (path, reason.hasPrefix(prefix) ? String(reason.dropFirst(prefix.count)) : reason)
            }
        }
    }
}
