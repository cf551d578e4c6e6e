/// Labelled images kept as stored: raw `uint8`, each image `height x width x channels` (HWC),
/// one after another. Fashion-MNIST is 28x28x1, CIFAR 32x32x3, a PNG folder 32x32x3 after
/// conversion. Labels are the dataset's original class ids (before any class order).
///
/// Or, for an ImageNet-style folder, labelled image files read on the fly (`files`): `pixels`
/// is empty and the shape is the test view's, 224x224x3 (`Resize(256)` + `CenterCrop(224)`),
/// the form in which the reference counts an exemplar and a checkpoint stores one.
///
/// Raw bytes are what an exemplar costs in the memory arithmetic and what a checkpoint stores;
/// `makeBatch` turns them into normalised network input.
public struct ImageSet: Sendable, Equatable {
    public var pixels: [UInt8]
    public var labels: [Int]
    public let height: Int
    public let width: Int
    public let channels: Int
    /// The image files when the images are not held in memory; nil for an in-memory set.
    public let files: ImageFiles?

    public init(pixels: [UInt8], labels: [Int], height: Int, width: Int, channels: Int) {
        precondition(height > 0 && width > 0 && channels > 0, "ImageSet needs a positive image shape")
        precondition(pixels.count == labels.count * height * width * channels,
                     "ImageSet of \(labels.count) images of \(height)x\(width)x\(channels) needs "
                        + "\(labels.count * height * width * channels) bytes, got \(pixels.count)")
        self.pixels = pixels
        self.labels = labels
        self.height = height
        self.width = width
        self.channels = channels
        files = nil
    }

    /// A set read from files on the fly: `files.paths[i]` has label `labels[i]`.
    public init(files: ImageFiles, labels: [Int]) {
        precondition(files.paths.count == labels.count, "one label per file")
        pixels = []
        self.labels = labels
        height = files.transforms.cropSize
        width = files.transforms.cropSize
        channels = 3
        self.files = files
    }

    /// Side of the square network input `makeBatch` makes of this set: the crop size of a file
    /// set (224); for an in-memory set `NetworkInput.side` (32) or, for larger stored images
    /// (a 224x224x3 ImageNet checkpoint's), their larger side.
    public var inputSide: Int { files?.transforms.cropSize ?? max(NetworkInput.side, height, width) }

    /// Throws the first image file that did not decode (nothing for an in-memory set).
    public func checkReadable() throws {
        if let failure = files?.firstFailure { throw failure }
    }

    /// Number of images.
    public var count: Int { labels.count }

    /// Bytes per image (`height * width * channels`).
    public var imageByteCount: Int { height * width * channels }

    /// The raw HWC bytes of image `i` (of a file set: its test view, all 0 if it does not decode).
    public func image(_ i: Int) -> ArraySlice<UInt8> {
        if let files { return files.testView(i)[...] }
        let n = imageByteCount
        return pixels[(i * n)..<((i + 1) * n)]
    }

    /// The images at `indices`, in that order.
    public func subset(indices: [Int]) -> ImageSet {
        if let files { return ImageSet(files: files.subset(indices: indices), labels: indices.map { labels[$0] }) }
        let n = imageByteCount
        var out = [UInt8]()
        out.reserveCapacity(indices.count * n)
        for i in indices { out += pixels[(i * n)..<((i + 1) * n)] }
        return ImageSet(pixels: out, labels: indices.map { labels[$0] }, height: height, width: width, channels: channels)
    }

    /// The first `perClass` images of each class, in file order (a class with fewer keeps all).
    public func subset(perClass: Int) -> ImageSet {
        precondition(perClass >= 0, "perClass must not be negative")
        var taken: [Int: Int] = [:]
        var keep: [Int] = []
        for (i, y) in labels.enumerated() where taken[y, default: 0] < perClass {
            taken[y, default: 0] += 1
            keep.append(i)
        }
        return subset(indices: keep)
    }
}
