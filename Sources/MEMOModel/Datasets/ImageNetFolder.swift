import Foundation

/// An ImageNet-style folder, as the reference's `iImageNet100` (PyCIL `utils/data.py`) reads it
/// with torchvision's `ImageFolder`: `DIR/train/<wnid>/…/*.JPEG` and `DIR/val/<wnid>/…/*.JPEG`.
///
/// - Classes are the sub-folders of `train`, sorted by name (byte order, as Python sorts), so
///   class id i is the i-th wnid; `val` must have the same ones. PyCIL's `shuffle: true` then
///   permutes the ids with seed 1993 (`ClassOrder.pycil`), as for CIFAR.
/// - Images are `ImageFolder`'s: files ending in `.jpg`, `.jpeg` or `.png` (any case) anywhere
///   below a class folder, by folder path, then by file name. Files with `ImageFolder`'s other
///   extensions (`.bmp`, `.ppm`, `.pgm`, `.tif`, `.tiff`, `.webp`) are refused, not skipped,
///   so the image list stays the reference's.
/// - Nothing is decoded when the folder is read: the images are decoded when a batch needs them
///   (`ImageFiles`, libjpeg-turbo), through one cache of `cacheBytes` shared by train and val.
/// - Training: `RandomResizedCrop(224)` + `RandomHorizontalFlip()`; test: `Resize(256)` +
///   `CenterCrop(224)` (`ImageNetTransforms.reference`); normalisation: ImageNet's mean and std.
enum ImageNetFolder {
    /// `Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])`.
    static let mean: [Float] = [0.485, 0.456, 0.406]
    static let std: [Float] = [0.229, 0.224, 0.225]
    /// The extensions read, and `ImageFolder`'s others, which are refused.
    static let readExtensions = [".jpg", ".jpeg", ".png"]
    static let refusedExtensions = [".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp"]

    static func load(directory: String, trainPerClass: Int?, testPerClass: Int?, cacheBytes: Int) throws -> Dataset {
        guard isDirectory(directory) else { throw DatasetError.missingDirectory(path: directory) }
        let trainDir = joinPath(directory, "train"), testDir = joinPath(directory, "val")
        for dir in [trainDir, testDir] where !isDirectory(dir) { throw DatasetError.missingDirectory(path: dir) }
        let classes = try PNGFolder.commonClassFolders(train: trainDir, test: testDir)
        let cache = DecodedImageCache(byteLimit: cacheBytes)
        let train = try listImages(trainDir, classes: classes, perClass: trainPerClass, cache: cache)
        let test = try listImages(testDir, classes: classes, perClass: testPerClass, cache: cache)
        let name = URL(fileURLWithPath: directory).standardizedFileURL.lastPathComponent
        return Dataset(name: name, kind: .imagenet100, classNames: classes, train: train, test: test,
                       mean: mean, std: std, augmentation: .imagenet)
    }

    /// Every class's image files (the first `perClass` of each, if given), labelled by class.
    static func listImages(_ dir: String, classes: [String], perClass: Int?, cache: DecodedImageCache) throws -> ImageSet {
        var paths: [String] = [], labels: [Int] = []
        for (label, name) in classes.enumerated() {
            let classDir = joinPath(dir, name)
            if let refused = PNGFolder.imageFiles(classDir, extensions: refusedExtensions).first {
                throw DatasetError.unexpectedContent(path: refused, problem: "only JPEG and PNG images are read")
            }
            var files = PNGFolder.imageFiles(classDir, extensions: readExtensions)
            guard !files.isEmpty else {
                throw DatasetError.unexpectedContent(path: classDir, problem: "class folder holds no .jpg, .jpeg or .png images")
            }
            if let perClass { files = Array(files.prefix(perClass)) }
            paths += files
            labels += repeatElement(label, count: files.count)
        }
        return ImageSet(files: ImageFiles(paths: paths, cache: cache), labels: labels)
    }
}
