import Foundation

/// One stage of a MEMO run in one self-describing HDF5 file (layout: docs/checkpoint-format.md).
///
/// Loading reads only data (numbers and strings): nothing in the file is executed. A file without
/// the format attributes, or of a newer format version, is refused.
///
/// Version 2 puts a Fletcher-32 checksum on every dataset; a damaged dataset is refused naming
/// the file and the dataset, and a file of version 2 or later whose datasets lack the checksum
/// (filters stripped by a rewrite) is refused with the command that restores them. Version 3
/// (written now) adds the stage's training curve (`epochs`) and weight-align factor
/// (`alignGamma`) and a few misclassified test images. Versions 1 and 2 still load without them
/// (empty, `nil`); version 1 (no
/// checksum except on the exemplar images) with `hasDataChecksums` false and a note.
public struct Checkpoint {
    public static let formatName = "memo-swift-checkpoint"
    public static let formatVersion: Int64 = 3

    public var config: MEMOConfig
    public var stage: Int
    public var datasetName: String
    public var classNames: [String]
    public var classOrder: [Int]
    public var taskSizes: [Int]
    public var backbone: Backbone
    /// Every tensor of the network by dotted name.
    public var tensors: [String: Tensor]
    public var generalizedState: MEMONetwork.PartState
    public var specializedStates: [MEMONetwork.PartState]
    public var memory: ExemplarMemory
    /// Exemplar images [count, H, W, C] uint8, in `memory.entries` order.
    public var exemplarImages: [UInt8]
    public var imageShape: [Int]
    public var classMeans: [[Float]]
    public var evaluation: StageEvaluation
    public var testIndices: [Int]
    public var testLabels: [Int]
    public var cnnTopK: [[Int]]
    public var nmeTopK: [[Int]]
    public var rngState: [UInt64]
    public var normalizationMean: [Float]
    public var normalizationStd: [Float]
    /// The stage's training epochs (format version 3; empty in older files).
    public var epochs: [EpochRecord] = []
    /// The weight-align factor gamma of the stage (`nil` at stage 0, where nothing is aligned,
    /// and in files older than format version 3).
    public var alignGamma: Float? = nil
    /// Up to `Misclassified.limit` test images the CNN head got wrong (format version 3):
    /// positions into `testIndices` and their pixels [n, H, W, C] in `imageShape`, for the report.
    public var misclassifiedPositions: [Int] = []
    public var misclassifiedImages: [UInt8] = []
    /// The format version of the file this was read from (`formatVersion` for a new checkpoint).
    public var fileFormatVersion: Int64 = Checkpoint.formatVersion
    /// Whether every dataset of the file carries a data checksum (always from version 2 on; a
    /// version-1 file only if a rewrite added them), so that damage to the numbers is detected.
    public var hasDataChecksums = true
    /// One line each, naming the file, for the user: what reading found that is not an error
    /// (a file without data checksums). Empty for a current file.
    public var notes: [String] = []
    /// For a checkpoint made by `memo-infer import` from a PyTorch state_dict: where its network
    /// came from and how its exemplars and class means were obtained (the optional root
    /// attribute `import_json`); nil for a stage memo-train wrote.
    public var importInfo: ImportInfo? = nil

    public var classesSeen: Int { taskSizes.reduce(0, +) }
    public var knownClasses: Int { classesSeen - (taskSizes.last ?? 0) }

    /// File name of a stage inside a run folder.
    public static func fileName(stage: Int) -> String { String(format: "stage-%02d.h5", stage) }
    /// Whether `name` is named like a stage checkpoint ("stage-XX.h5"), finished or not.
    public static func isStageFileName(_ name: String) -> Bool { name.hasPrefix("stage-") && name.hasSuffix(".h5") }
}

public enum CheckpointError: Error, CustomStringConvertible {
    case notACheckpoint(path: String, reason: String)
    case newerVersion(path: String, version: Int64)
    case inconsistent(path: String, reason: String)

    /// One line: reasons quote strings from the file, which may hold control characters.
    public var description: String {
        let text: String
        switch self {
        case let .notACheckpoint(p, r): text = "\(p): not a memo-swift checkpoint (\(r))"
        case let .newerVersion(p, v):
            text = "\(p): checkpoint format version \(v) is newer than this tool reads (\(Checkpoint.formatVersion))"
        case let .inconsistent(p, r): text = "\(p): \(r)"
        }
        return HDF5Error.oneLine(text)
    }
}

extension Checkpoint {
    /// Writes the checkpoint atomically (temporary file in the same folder, fsync, rename).
    public func write(to path: String) throws {
        try writeAtomically(to: path) { tmp in
            let f = try HDF5File.create(tmp)
            defer { f.close() }
            try f.setAttribute("format", string: Checkpoint.formatName)
            try f.setAttribute("format_version", int: Checkpoint.formatVersion)
            try f.setAttribute("stage", int: Int64(stage))
            try f.setAttribute("backbone", string: backbone.rawValue)
            try f.setAttribute("dataset", string: datasetName)
            let enc = JSONEncoder()
            enc.outputFormatting = [.sortedKeys]
            try f.setAttribute("config_json", string: String(decoding: try enc.encode(config), as: UTF8.self))
            try f.write("dataset/class_names", strings: classNames)
            try f.write("dataset/class_order", int64s: classOrder.map(Int64.init), shape: [classOrder.count])
            try f.write("dataset/task_sizes", int64s: taskSizes.map(Int64.init), shape: [taskSizes.count])
            try f.write("dataset/normalization_mean", floats: normalizationMean, shape: [normalizationMean.count])
            try f.write("dataset/normalization_std", floats: normalizationStd, shape: [normalizationStd.count])
            for (name, t) in tensors.sorted(by: { $0.key < $1.key }) {
                try f.write("model/" + name, floats: t.data, shape: t.shape)
            }
            let states = [generalizedState] + specializedStates
            try f.write("model_state/trainable", int64s: states.map { $0.trainable ? 1 : 0 }, shape: [states.count])
            try f.write("model_state/batch_statistics", int64s: states.map { $0.batchStatistics ? 1 : 0 }, shape: [states.count])
            let entries = memory.entries
            try f.write("memory/train_indices", int64s: entries.map { Int64($0.index) }, shape: [entries.count])
            try f.write("memory/labels", int64s: entries.map { Int64($0.label) }, shape: [entries.count])
            try f.write("memory/images", uint8s: exemplarImages, shape: [entries.count] + imageShape, compress: true)
            let width = classMeans.first?.count ?? 0
            try f.write("class_means", floats: classMeans.flatMap { $0 }, shape: [classMeans.count, width])
            try f.setAttribute("evaluation_json", string: String(decoding: try enc.encode(evaluation), as: UTF8.self))
            if let importInfo {
                try f.setAttribute("import_json", string: String(decoding: try enc.encode(importInfo), as: UTF8.self))
            }
            try f.write("evaluation/test_indices", int64s: testIndices.map(Int64.init), shape: [testIndices.count])
            try f.write("evaluation/labels", int64s: testLabels.map(Int64.init), shape: [testLabels.count])
            let k = cnnTopK.first?.count ?? 0
            try f.write("evaluation/cnn_topk", int64s: cnnTopK.flatMap { $0.map(Int64.init) }, shape: [cnnTopK.count, k])
            try f.write("evaluation/nme_topk", int64s: nmeTopK.flatMap { $0.map(Int64.init) }, shape: [nmeTopK.count, k])
            try f.write("training/rng_state", int64s: rngState.map { Int64(bitPattern: $0) }, shape: [4])
            // Absent for a stage trained 0 epochs: an empty dataset cannot carry a checksum, and
            // h5repack's checksum-restoring rewrite fails on one.
            if !epochs.isEmpty {
                let e = epochs.count
                try f.write("training/epoch_loss", floats: epochs.map { Float($0.loss) }, shape: [e])
                try f.write("training/epoch_aux_loss", floats: epochs.map { Float($0.auxLoss) }, shape: [e])
                try f.write("training/epoch_train_accuracy", floats: epochs.map { Float($0.trainAccuracy) }, shape: [e])
                try f.write("training/epoch_learning_rate", floats: epochs.map { Float($0.learningRate) }, shape: [e])
            }
            if let alignGamma { try f.setAttribute("align_gamma", double: Double(alignGamma)) }
            if !misclassifiedPositions.isEmpty {
                let n = misclassifiedPositions.count
                try f.write("evaluation/misclassified_positions", int64s: misclassifiedPositions.map(Int64.init), shape: [n])
                try f.write("evaluation/misclassified_images", uint8s: misclassifiedImages, shape: [n] + imageShape, compress: true)
            }
        }
    }

    /// Reads and validates a checkpoint.
    public static func read(_ path: String) throws -> Checkpoint {
        let (f, version) = try openChecked(path)
        defer { f.close() }
        let config = try readConfig(f, path: path)
        let (backbone, stage, classNames, order, sizes) = try readClasses(f, path: path)
        let network = try readNetwork(f, path: path, backbone: backbone, taskSizes: sizes)
        let tensors = Dictionary(uniqueKeysWithValues: network.namedParameters().map { ($0.0, $0.1.value) })
        let memIdx = try f.readInt64s("memory/train_indices").values.map(Int.init)
        let memLabels = try f.readInt64s("memory/labels").values.map(Int.init)
        let (images, imageShapeAll) = try f.readUInt8s("memory/images")
        let classesSeen = sizes.reduce(0, +)
        guard memIdx.count == memLabels.count, imageShapeAll.count == 4, imageShapeAll[0] == memIdx.count,
              memLabels.allSatisfy({ $0 >= 0 && $0 < classesSeen }) else {
            throw CheckpointError.inconsistent(path: path, reason: "exemplar memory datasets disagree in size or labels")
        }
        var byClass = [[Int]](repeating: [], count: classesSeen)
        for (i, y) in zip(memIdx, memLabels) { byClass[y].append(i) }
        let width = backbone.featureWidth * sizes.count
        let classMeans = try readClassMeans(f, classesSeen: classesSeen, width: width)
        let evalJSON = try f.attributeString("evaluation_json")
        let evaluation: StageEvaluation
        do { evaluation = try JSONDecoder().decode(StageEvaluation.self, from: Data(evalJSON.utf8)) } catch {
            throw CheckpointError.inconsistent(path: path, reason: "evaluation json does not decode")
        }
        let testIdx = try f.readInt64s("evaluation/test_indices").values.map(Int.init)
        let testLabels = try f.readInt64s("evaluation/labels").values.map(Int.init)
        func topk(_ name: String) throws -> [[Int]] {
            let (v, s) = try f.readInt64s(name)
            guard s.count == 2, s[0] == testIdx.count, s[1] > 0 || s[0] == 0 else {
                throw CheckpointError.inconsistent(path: path, reason: "\(name) has shape \(s)")
            }
            return (0..<s[0]).map { r in v[(r * s[1])..<((r + 1) * s[1])].map(Int.init) }
        }
        let rng = try f.readInt64s("training/rng_state").values.map { UInt64(bitPattern: $0) }
        guard rng.count == 4 else { throw CheckpointError.inconsistent(path: path, reason: "rng state has \(rng.count) words") }
        let mean = try f.readFloats("dataset/normalization_mean").values
        let std = try f.readFloats("dataset/normalization_std").values
        let cnnTopK = try topk("evaluation/cnn_topk"), nmeTopK = try topk("evaluation/nme_topk")
        var epochs: [EpochRecord] = []
        var alignGamma: Float?
        if version >= 3, f.exists("training/epoch_loss") {
            let curves = try ["loss", "aux_loss", "train_accuracy", "learning_rate"].map { name -> [Float] in
                let (v, s) = try f.readFloats("training/epoch_" + name)
                guard s.count == 1 else { throw CheckpointError.inconsistent(path: path, reason: "training/epoch_\(name) has shape \(s)") }
                return v
            }
            guard Set(curves.map(\.count)).count == 1 else {
                throw CheckpointError.inconsistent(path: path, reason: "training/epoch_* datasets differ in length")
            }
            epochs = curves[0].indices.map {
                EpochRecord(epoch: $0 + 1, loss: Double(curves[0][$0]), auxLoss: Double(curves[1][$0]),
                            trainAccuracy: Double(curves[2][$0]), learningRate: Double(curves[3][$0]))
            }
        }
        if version >= 3, f.hasAttribute("align_gamma") { alignGamma = Float(try f.attributeDouble("align_gamma")) }
        var misclassifiedPositions: [Int] = [], misclassifiedImages: [UInt8] = []
        if version >= 3, f.exists("evaluation/misclassified_positions") {
            misclassifiedPositions = try f.readInt64s("evaluation/misclassified_positions").values.map(Int.init)
            let (pixels, shape) = try f.readUInt8s("evaluation/misclassified_images")
            guard misclassifiedPositions.allSatisfy({ testIdx.indices.contains($0) }),
                  shape == [misclassifiedPositions.count] + Array(imageShapeAll.dropFirst()) else {
                throw CheckpointError.inconsistent(path: path, reason: "misclassified examples do not fit the test set or the image shape")
            }
            misclassifiedImages = pixels
        }
        var importInfo: ImportInfo?
        if f.hasAttribute("import_json") {
            do { importInfo = try JSONDecoder().decode(ImportInfo.self, from: Data(try f.attributeString("import_json").utf8)) } catch {
                throw CheckpointError.inconsistent(path: path, reason: "import_json does not decode")
            }
        }
        let checksummed = f.unchecksummedDatasets.isEmpty  // every dataset has been read
        var checkpoint = Checkpoint(
            config: config, stage: stage, datasetName: try f.attributeString("dataset"), classNames: classNames,
            classOrder: order, taskSizes: sizes, backbone: backbone, tensors: tensors,
            generalizedState: network.generalizedState, specializedStates: network.specializedStates,
            memory: ExemplarMemory(indicesByClass: byClass),
            exemplarImages: images, imageShape: Array(imageShapeAll.dropFirst()), classMeans: classMeans,
            evaluation: evaluation, testIndices: testIdx, testLabels: testLabels, cnnTopK: cnnTopK,
            nmeTopK: nmeTopK, rngState: rng, normalizationMean: mean, normalizationStd: std,
            epochs: epochs, alignGamma: alignGamma, misclassifiedPositions: misclassifiedPositions,
            misclassifiedImages: misclassifiedImages, fileFormatVersion: version, hasDataChecksums: checksummed,
            notes: checksummed ? [] : [noDataChecksumsNote(path: path, version: version)])
        checkpoint.importInfo = importInfo
        return checkpoint
    }

    /// The note for a file whose datasets carry no data checksums (format version 1).
    static func noDataChecksumsNote(path: String, version: Int64) -> String {
        HDF5Error.oneLine("\(path): this checkpoint (format version \(version)) carries no data checksums, so damage "
            + "to its numbers would go unnoticed; add them with: \(HDF5File.rewriteCommand(path))")
    }

    /// Opens `path` as a checkpoint of a format version this reads (and requires data checksums
    /// from version 2 on). The caller closes the file.
    static func openChecked(_ path: String) throws -> (file: HDF5File, version: Int64) {
        let f = try HDF5File.open(path)
        do {
            guard f.hasAttribute("format") else {
                throw CheckpointError.notACheckpoint(path: path, reason: "no 'format' attribute")
            }
            let format = try f.attributeString("format")
            guard format == formatName else {
                throw CheckpointError.notACheckpoint(path: path, reason: "format is '\(format)', expected '\(formatName)'")
            }
            guard f.hasAttribute("format_version") else {
                throw CheckpointError.notACheckpoint(path: path, reason: "no format version")
            }
            let version = try f.attributeInt("format_version")
            guard version <= formatVersion else { throw CheckpointError.newerVersion(path: path, version: version) }
            guard version >= 1 else { throw CheckpointError.notACheckpoint(path: path, reason: "format version \(version)") }
            // A writer of version 2 or later checksums every dataset: one without is a rewrite that stripped them.
            f.requiresDataChecksums = version >= 2
            return (f, version)
        } catch {
            f.close()
            throw error
        }
    }

    /// The run's configuration (`config_json`).
    static func readConfig(_ f: HDF5File, path: String) throws -> MEMOConfig {
        let configJSON = try f.attributeString("config_json")
        do { return try JSONDecoder().decode(MEMOConfig.self, from: Data(configJSON.utf8)) } catch {
            throw CheckpointError.inconsistent(path: path, reason: "config_json does not decode: \(error)")
        }
    }

    /// The stage's backbone, number, class names, class order and task sizes, checked against
    /// each other.
    static func readClasses(_ f: HDF5File, path: String) throws
        -> (backbone: Backbone, stage: Int, classNames: [String], classOrder: [Int], taskSizes: [Int]) {
        let backboneName = try f.attributeString("backbone")
        guard let backbone = Backbone(name: backboneName) else {
            throw CheckpointError.inconsistent(path: path, reason: "unknown backbone '\(backboneName)'")
        }
        let stage = Int(try f.attributeInt("stage"))
        let classNames = try f.readStrings("dataset/class_names")
        let order = try f.readInt64s("dataset/class_order").values.map(Int.init)
        let sizes = try f.readInt64s("dataset/task_sizes").values.map(Int.init)
        guard order.count == classNames.count, Set(order) == Set(0..<classNames.count) else {
            throw CheckpointError.inconsistent(path: path, reason: "class order is not a permutation of the \(classNames.count) classes")
        }
        guard !sizes.isEmpty, sizes.allSatisfy({ $0 > 0 && $0 <= classNames.count }), sizes.reduce(0, +) <= classNames.count,
              sizes.count - 1 == stage else {  // not `stage + 1`: a hostile stage may be Int.max
            throw CheckpointError.inconsistent(path: path, reason: "task sizes \(sizes) do not fit stage \(stage) and \(classNames.count) classes")
        }
        return (backbone, stage, classNames, order, sizes)
    }

    /// The stage's network: built once without drawing an initialisation, then every tensor
    /// (`model/<name>`, with the shape the network gives it) and the parts' states
    /// (`model_state/*`) read into it.
    static func readNetwork(_ f: HDF5File, path: String, backbone: Backbone, taskSizes sizes: [Int]) throws -> MEMONetwork {
        let network = makeNetwork(backbone: backbone, taskSizes: sizes)
        for (name, p) in network.namedParameters() {
            try f.readFloats("model/" + name, expectedShape: p.shape, into: &p.value.data)
        }
        let trainable = try f.readInt64s("model_state/trainable").values
        let batchStats = try f.readInt64s("model_state/batch_statistics").values
        guard trainable.count == sizes.count + 1, batchStats.count == trainable.count else {
            throw CheckpointError.inconsistent(path: path, reason: "model_state has \(trainable.count) parts, expected \(sizes.count + 1)")
        }
        let states = zip(trainable, batchStats).map { MEMONetwork.PartState(batchStatistics: $1 != 0, trainable: $0 != 0) }
        network.generalizedState = states[0]
        network.specializedStates = Array(states.dropFirst())
        return network
    }

    /// The NME class means, one row of `width` per class seen.
    static func readClassMeans(_ f: HDF5File, classesSeen: Int, width: Int) throws -> [[Float]] {
        let means = try f.readFloats("class_means", expectedShape: [classesSeen, width])
        return (0..<classesSeen).map { Array(means[($0 * width)..<(($0 + 1) * width)]) }
    }

    /// The grown network of a stage with every parameter still to be assigned: built inside
    /// `MEMORandom.withoutInitialDraws`, so no initialisation is drawn only to be overwritten.
    static func makeNetwork(backbone: Backbone, taskSizes: [Int]) -> MEMONetwork {
        MEMORandom.withoutInitialDraws {
            var rng = MEMORandom(seed: 0)
            let net = MEMONetwork(backbone: backbone, rng: &rng)
            for s in taskSizes { net.addStage(newClasses: s, rng: &rng) }
            return net
        }
    }

    /// Rebuilds the grown network of this stage with its weights and running statistics, in the
    /// run's precision where this CPU path runs it (so evaluate and classify reproduce a bf16
    /// run's own evaluation), else float32.
    public func makeNetwork() throws -> MEMONetwork {
        let net = Checkpoint.makeNetwork(backbone: backbone, taskSizes: taskSizes)
        for (name, p) in net.namedParameters() {
            guard let t = tensors[name], t.shape == p.shape else {
                throw CheckpointError.inconsistent(path: "checkpoint", reason: "tensor \(name) missing or of wrong shape")
            }
            p.value = t
        }
        net.generalizedState = generalizedState
        net.specializedStates = specializedStates
        net.precision = Precision.forRebuilt(config.precision)
        return net
    }
}

extension MemoryReport {
    /// The memory a checkpoint's learner holds, counted from its tensors (BN running statistics
    /// excluded, as the field counts) and its exemplar memory.
    public init(checkpoint c: Checkpoint) {
        func params(_ prefix: String) -> Int {
            c.tensors.filter { $0.key.hasPrefix(prefix) && !$0.key.hasSuffix("runningMean") && !$0.key.hasSuffix("runningVar") }
                .reduce(0) { $0 + $1.value.count }
        }
        self.init(generalizedParameters: params("generalized."),
                  specializedParameters: (0..<c.taskSizes.count).map { params("specialized.\($0).") },
                  fcParameters: params("fc."), auxFCParameters: params("auxFC."),
                  exemplarCount: c.memory.count, bytesPerExemplar: c.imageShape.reduce(1, *))
    }
}
