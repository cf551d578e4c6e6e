import Foundation

// `memo-infer classify`: the top-k classes of PNG or JPEG images under a stage checkpoint, with the CNN
// head (softmax probabilities of `fc`) or the NME head (squared distances to the class means).
//
// Images go through the training pipeline exactly: each PNG or JPEG is decoded as 8-bit RGB
// (`readImage`: `readPNG`, every colour type and bit depth, or `readJPEG`), converted to the format the checkpoint's dataset stores
// (its exemplar images' shape: 32x32x3 for CIFAR and PNG folders, 28x28x1 for Fashion-MNIST;
// for an ImageNet folder the test pipeline's `Resize(256)` + `CenterCrop(224)`, 224x224x3),
// put into a one-image-per-entry `ImageSet`, and `MEMONetwork.infer` runs `makeBatch`
// (padding to 32x32, channel repetition, the checkpoint's normalisation) and the network.

/// Which classifier of a MEMO network answers.
public enum ClassifierHead: String, CaseIterable, Codable, Sendable {
    /// The `fc` classifier over all specialized blocks' features: softmax probabilities.
    case cnn
    /// Nearest mean of exemplars: squared Euclidean distance between the L2-normalised feature
    /// and each class mean, smallest first.
    case nme

    /// What the score of a prediction is.
    public var scoreName: String { self == .cnn ? "probability" : "squared_distance" }
}

/// Conversion of a decoded image to a dataset's stored format.
public enum InputConversion {
    /// Luminance of an RGB pixel as Pillow's `convert("L")` computes it: ITU-R 601-2,
    /// L = (299 R + 587 G + 114 B) / 1000, in Pillow's 16-bit fixed point with rounding:
    /// `(19595 R + 38470 G + 7471 B + 32768) >> 16` (the weights sum to 65536, so a gray pixel
    /// keeps its value).
    public static func luminance(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> UInt8 {
        let red: UInt32 = UInt32(r) * 19595
        let green: UInt32 = UInt32(g) * 38470
        let blue: UInt32 = UInt32(b) * 7471
        return UInt8((red + green + blue + 0x8000) >> 16)
    }

    /// The image as `height x width x channels` bytes (HWC): resized with Pillow's bilinear
    /// filter (`resizeBilinear`) when its size differs, then, for one channel, reduced to
    /// ``luminance(_:_:_:)`` (resize first, then gray).
    public static func storedPixels(_ image: RGBImage, height: Int, width: Int, channels: Int) -> [UInt8] {
        precondition(channels == 1 || channels == 3, "stored images have 1 or 3 channels")
        let sized = resizeBilinear(image, width: width, height: height)
        guard channels == 1 else { return sized.pixels }
        var gray = [UInt8](repeating: 0, count: width * height)
        for p in 0..<gray.count {
            gray[p] = luminance(sized.pixels[3 * p], sized.pixels[3 * p + 1], sized.pixels[3 * p + 2])
        }
        return gray
    }
}

/// Softmax of one row of logits, in Double (max subtracted first).
public func softmax(_ logits: ArraySlice<Float>) -> [Double] {
    guard let m = logits.max() else { return [] }
    let e = logits.map { exp(Double($0) - Double(m)) }
    let sum = e.reduce(0, +)
    return e.map { $0 / sum }
}

/// One ranked class of an image.
public struct ClassPrediction: Codable, Equatable, Sendable {
    /// 1 for the best class.
    public var rank: Int
    /// Model output (position in the class order).
    public var label: Int
    /// Original class id in the dataset (`class_order[label]`).
    public var classID: Int
    /// Class name.
    public var name: String
    /// Softmax probability (CNN) or squared distance to the class mean (NME).
    public var score: Double

    enum CodingKeys: String, CodingKey { case rank, label, classID = "class_id", name = "class", score }
}

/// The grown network of a checkpoint, ready to classify images.
public final class Classifier {
    public let model: CheckpointModel
    public var network: MEMONetwork { model.network }
    /// Stored image format of the checkpoint's dataset.
    public let height: Int, width: Int, channels: Int

    /// Classifies with the network of `checkpoint`; `path` names it in errors.
    /// - Throws: as ``init(model:path:)``, and `CheckpointError` if a tensor is missing.
    public convenience init(checkpoint: Checkpoint, path: String = "checkpoint") throws {
        try self.init(model: CheckpointModel(checkpoint: checkpoint), path: path)
    }

    /// Classifies with `model` (`CheckpointModel.read` reads only what this needs); `path` names
    /// it in errors.
    /// - Throws: ``InferenceError/missing(path:what:)`` if the stored image shape is not one the
    ///   input pipeline takes (at most 32x32, 1 or 3 channels; an ImageNet folder's crop size
    ///   squared, 3 channels) or the normalisation does not fit.
    public init(model: CheckpointModel, path: String = "checkpoint") throws {
        let shape = model.imageShape
        let crop = ImageNetTransforms.reference.cropSize
        let imageNet = model.config.dataset == .imagenet100
        guard shape.count == 3,
              imageNet ? shape == [crop, crop, 3]
                       : (1...NetworkInput.side).contains(shape[0]) && (1...NetworkInput.side).contains(shape[1]) && (shape[2] == 1 || shape[2] == 3) else {
            throw InferenceError.missing(path: path, what: "stored image shape \(shape) is not "
                + (imageNet ? "\(crop)x\(crop)x3, the ImageNet pipeline's" : "HxWx1 or HxWx3 of at most 32x32"))
        }
        guard model.normalizationMean.count == model.normalizationStd.count,
              [1, NetworkInput.channels].contains(model.normalizationMean.count) else {
            throw InferenceError.missing(path: path, what: "normalisation needs 1 or 3 means and standard deviations")
        }
        self.model = model
        (height, width, channels) = (shape[0], shape[1], shape[2])
        transforms = imageNet ? .reference : nil
    }

    /// The ImageNet test pipeline, for a checkpoint of an ImageNet folder; nil for the others.
    public let transforms: ImageNetTransforms?

    /// An image in the checkpoint's stored format: its dataset's test view (ImageNet:
    /// `Resize(256)` + `CenterCrop(224)`), else resized to the stored size (`InputConversion`).
    public func stored(_ image: RGBImage) -> [UInt8] {
        if let transforms { return transforms.testView(image).pixels }
        return InputConversion.storedPixels(image, height: height, width: width, channels: channels)
    }

    /// How `stored(_:)` changes an image of this size, for a note; nil if it does not.
    public func conversionNote(width w: Int, height h: Int) -> String? {
        if let transforms {
            let (rw, rh) = ImageNetTransforms.shorterSideSize(width: w, height: h, to: transforms.resizeSize)
            return "\(w)x\(h) resized to \(rw)x\(rh) (bilinear, shorter side \(transforms.resizeSize)) and center-cropped to "
                + "\(transforms.cropSize)x\(transforms.cropSize)"
        }
        return w != width || h != height ? "\(w)x\(h) resized to \(width)x\(height) (bilinear)" : nil
    }

    /// Runs the network (evaluation mode) over images already in the stored format.
    public func infer(stored images: [[UInt8]]) -> InferenceOutput {
        let set = ImageSet(pixels: images.flatMap { $0 }, labels: [Int](repeating: 0, count: images.count),
                           height: height, width: width, channels: channels)
        return network.infer(set, indices: Array(images.indices), mean: model.normalizationMean,
                             std: model.normalizationStd)
    }

    /// The `top` best classes of each image, best first (ties: lower label first). The NME head
    /// needs the model's class means (`CheckpointModel.read(_:classMeans: true)`).
    public func predict(_ images: [RGBImage], head: ClassifierHead, top: Int) -> [[ClassPrediction]] {
        precondition(top > 0, "top must be positive")
        precondition(head == .cnn || model.classMeans.count == network.classCount, "the NME head needs the class means")
        guard !images.isEmpty else { return [] }
        let out = infer(stored: images.map(stored))
        let k = min(top, out.classCount)
        let distances = head == .nme ? out.nmeDistances(classMeans: model.classMeans) : []
        return (0..<out.count).map { r in
            let scores: [Double], order: [Int]
            switch head {
            case .cnn:
                let row = out.logits[(r * out.classCount)..<((r + 1) * out.classCount)]
                scores = softmax(row)
                order = topK(Array(row), k: k, largest: true)
            case .nme:
                scores = distances[r].map(Double.init)
                order = topK(distances[r], k: k, largest: false)
            }
            return order.enumerated().map { i, label in
                ClassPrediction(rank: i + 1, label: label, classID: model.classOrder[label],
                                name: model.className(label: label), score: scores[label])
            }
        }
    }
}

/// The answer of `memo-infer classify` for a list of files and folders.
public struct ClassifyReport: Sendable {
    /// One classified image.
    public struct Entry: Codable, Equatable, Sendable {
        public var file: String
        /// Size of the image as decoded.
        public var width: Int
        public var height: Int
        /// Whether it was resized to the stored size (ImageNet: always, by `Resize(256)`).
        public var resized: Bool
        public var predictions: [ClassPrediction]
    }

    /// An input that could not be classified, with a one-line message naming it.
    public struct Failure: Codable, Equatable, Sendable {
        public var file: String
        public var message: String
    }

    public var head: ClassifierHead
    public var entries: [Entry]
    public var failures: [Failure]
    /// Remarks for stderr, e.g. a resized image.
    public var notes: [String]

    /// The image files named by `arguments`: files as given, folders expanded to the `.png`,
    /// `.jpg` and `.jpeg` files directly inside them (any case), sorted by name. A folder without
    /// one is a failure.
    public static func expand(_ arguments: [String]) -> (files: [String], failures: [Failure]) {
        var files: [String] = [], failures: [Failure] = []
        for argument in arguments {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: argument, isDirectory: &isDir), isDir.boolValue else {
                files.append(argument)
                continue
            }
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: argument)) ?? [])
                .filter { name in
                    let lower = name.lowercased()
                    return !name.hasPrefix(".") && [".png", ".jpg", ".jpeg"].contains { lower.hasSuffix($0) }
                }
                .sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            if names.isEmpty {
                failures.append(Failure(file: argument, message: InferenceError.noImages(path: argument).description))
            }
            files += names.map { joinPath(argument, $0) }
        }
        return (files, failures)
    }

    /// Reads every PNG or JPEG named by `arguments` (told apart by their first bytes, `readImage`)
    /// and classifies those that decode, all in one pass of
    /// the network. Unreadable files become ``failures`` (the others are still classified).
    public static func run(_ classifier: Classifier, arguments: [String], head: ClassifierHead, top: Int) -> ClassifyReport {
        let expanded = expand(arguments)
        var failures = expanded.failures
        var images: [RGBImage] = [], names: [String] = [], notes: [String] = []
        for file in expanded.files {
            do {
                let image = try readImage(file)
                guard image.width > 0, image.height > 0 else {
                    failures.append(Failure(file: file, message: "\(file): image has no pixels"))
                    continue
                }
                images.append(image)
                names.append(file)
                if let note = classifier.conversionNote(width: image.width, height: image.height) {
                    notes.append("\(file): " + note)
                }
            } catch {
                failures.append(Failure(file: file, message: "\(error)"))
            }
        }
        // A gray image (R = G = B, as libpng expands gray PNGs) is its own luminance: only colour
        // images are changed by the conversion, and only they get a note.
        if classifier.channels == 1 {
            for (file, image) in zip(names, images) where !image.isGray {
                notes.append("\(file): colour converted to gray (L = (299 R + 587 G + 114 B) / 1000) as the checkpoint's "
                    + "dataset stores \(classifier.width)x\(classifier.height)x1 images")
            }
        }
        let predictions = classifier.predict(images, head: head, top: top)
        let entries = zip(zip(names, images), predictions).map { pair, p in
            Entry(file: pair.0, width: pair.1.width, height: pair.1.height,
                  resized: classifier.conversionNote(width: pair.1.width, height: pair.1.height) != nil, predictions: p)
        }
        return ClassifyReport(head: head, entries: entries, failures: failures, notes: notes)
    }

    /// The score as printed: 6 decimals.
    static func score(_ value: Double) -> String { String(format: "%.6f", value) }

    /// The report in `format`. Table and CSV: one line per (image, rank); JSON: the entries and
    /// failures with the score's meaning.
    public func render(_ format: ReportFormat) throws -> String {
        switch format {
        case .table:
            var table = TextTable(header: ["file", "rank", "label", "class_id", "class", head.scoreName], leftAligned: [4])
            for e in entries {
                for p in e.predictions {
                    table.append([p.rank == 1 ? e.file : "", "\(p.rank)", "\(p.label)", "\(p.classID)", p.name,
                                  Self.score(p.score)])
                }
            }
            let what = head == .cnn ? "CNN head, softmax probability of fc" : "NME head, squared distance to the class mean (smaller is closer)"
            return "# \(what)\n" + table.text
        case .csv:
            var s = csvLine(["file", "rank", "label", "class_id", "class", head.scoreName])
            for e in entries {
                for p in e.predictions {
                    s += csvLine([e.file, "\(p.rank)", "\(p.label)", "\(p.classID)", p.name, Self.score(p.score)])
                }
            }
            return s
        case .json:
            // Each prediction carries its score under the quantity's name (the table's column):
            // `probability` for the CNN head, `squared_distance` for NME.
            struct Prediction: Encodable {
                let p: ClassPrediction, scoreName: String
                struct Key: CodingKey {
                    var stringValue: String
                    init(_ s: String) { stringValue = s }
                    init?(stringValue: String) { self.stringValue = stringValue }
                    var intValue: Int? { nil }
                    init?(intValue: Int) { nil }
                }
                func encode(to encoder: Encoder) throws {
                    var c = encoder.container(keyedBy: Key.self)
                    try c.encode(p.rank, forKey: Key("rank"))
                    try c.encode(p.label, forKey: Key("label"))
                    try c.encode(p.classID, forKey: Key("class_id"))
                    try c.encode(p.name, forKey: Key("class"))
                    try c.encode(p.score, forKey: Key(scoreName))
                }
            }
            struct Image: Encodable { var file: String; var width: Int; var height: Int; var resized: Bool; var predictions: [Prediction] }
            struct Output: Encodable { var head: String; var images: [Image]; var failures: [Failure] }
            let images = entries.map { e in
                Image(file: e.file, width: e.width, height: e.height, resized: e.resized,
                      predictions: e.predictions.map { Prediction(p: $0, scoreName: head.scoreName) })
            }
            return try prettyJSON(Output(head: head.rawValue, images: images, failures: failures))
        }
    }
}
