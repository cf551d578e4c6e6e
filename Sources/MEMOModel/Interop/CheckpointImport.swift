import Foundation

/// Why a state_dict cannot become a memo-swift stage: the same one-line error (file and problem)
/// as a state_dict file no reader takes.
public typealias StateDictImportError = StateDictFileError

/// Where an imported checkpoint's network came from and how the rest of its state was obtained
/// (root attribute `import_json`, docs/checkpoint-format.md).
public struct ImportInfo: Codable, Equatable, Sendable {
    /// File name of the state_dict.
    public var sourceFile: String
    /// "safetensors" or "torch.save".
    public var sourceFormat: String
    /// "export": the exemplars listed in a memo-swift export (`memo_swift.exemplar_*`);
    /// "herding": chosen anew by herding over each class's training images with the imported
    /// network, because the state_dict holds no exemplars.
    public var exemplars: String
    /// How the NME class means were computed: always from the exemplars with the imported network.
    public var classMeans: String
    /// The accuracies the training code logged for this stage (a reference saver's sidecar), nil
    /// when none were given.
    public var logged: LoggedAccuracy?

    public init(sourceFile: String, sourceFormat: String, exemplars: String, classMeans: String, logged: LoggedAccuracy? = nil) {
        self.sourceFile = sourceFile
        self.sourceFormat = sourceFormat
        self.exemplars = exemplars
        self.classMeans = classMeans
        self.logged = logged
    }

    enum CodingKeys: String, CodingKey {
        case sourceFile = "source_file", sourceFormat = "source_format", exemplars, classMeans = "class_means", logged
    }
}

/// A stage's accuracies as another implementation logged them (percent, 2 decimals), to compare
/// with the evaluation an import computes; k = min(5, classes seen), as memo-swift's top-5.
public struct LoggedAccuracy: Codable, Equatable, Sendable {
    public var cnnTop1: Double
    public var cnnTopK: Double
    public var nmeTop1: Double?
    public var nmeTopK: Double?

    public init(cnnTop1: Double, cnnTopK: Double, nmeTop1: Double?, nmeTopK: Double?) {
        self.cnnTop1 = cnnTop1
        self.cnnTopK = cnnTopK
        self.nmeTop1 = nmeTop1
        self.nmeTopK = nmeTopK
    }

    enum CodingKeys: String, CodingKey {
        case cnnTop1 = "cnn_top1", cnnTopK = "cnn_topk", nmeTop1 = "nme_top1", nmeTopK = "nme_topk"
    }

    /// The values of `evaluation` that differ from these, as "CNN top-1 47.00 (logged 47.50)"; empty when all agree.
    public func differences(from evaluation: StageEvaluation) -> [String] {
        var out: [String] = []
        func check(_ name: String, _ computed: Double?, _ logged: Double?) {
            guard let logged else { return }
            guard let computed else { out.append("\(name): none computed (logged \(fixed2(logged)))"); return }
            if fixed2(computed) != fixed2(logged) { out.append("\(name) \(fixed2(computed)) (logged \(fixed2(logged)))") }
        }
        check("CNN top-1", evaluation.cnn.top1, cnnTop1)
        check("CNN top-k", evaluation.cnn.top5, cnnTopK)
        check("NME top-1", evaluation.nme?.top1, nmeTop1)
        check("NME top-k", evaluation.nme?.top5, nmeTopK)
        return out
    }
}

/// A PyTorch state_dict of the reference's `AdaptiveNet` as a memo-swift stage checkpoint
/// (`memo-infer import`): the tensors are mapped by AdaptiveNetKeys and checked against the network
/// the task sizes imply; then, with the dataset, the exemplar memory (from a memo-swift export, or
/// by herding), the NME class means and the stage's test evaluation are computed by the trainer's
/// own routines, so every memo-infer subcommand reads the result like a trained stage.
public enum CheckpointImport {
    /// What to import and how the run it belongs to is configured.
    public struct Request {
        /// The state_dict file (safetensors or torch.save, `StateDictFile`).
        public var source: String
        /// The checkpoint to write (`RUN/stage-XX.h5`, XX = blocks - 1).
        public var output: String
        /// The run's configuration: dataset, data folder, subsets, class order, backbone,
        /// `initCls`/`increment` (the split), memory size, `trainBase`/`trainAdaptive`, seed.
        public var config: MEMOConfig
        /// Classes per stage; nil takes the split of `config` up to the state_dict's block count.
        public var taskSizes: [Int]?
        /// An exemplar memory given beside the state_dict (training-set positions and their labels
        /// in the class order), e.g. by a reference saver's sidecar; it replaces herding.
        public var exemplars: ListedExemplars?
        /// The accuracies logged for this stage, recorded in `import_json`.
        public var logged: LoggedAccuracy?

        public init(source: String, output: String, config: MEMOConfig, taskSizes: [Int]? = nil,
                    exemplars: ListedExemplars? = nil, logged: LoggedAccuracy? = nil) {
            self.source = source
            self.output = output
            self.config = config
            self.taskSizes = taskSizes
            self.exemplars = exemplars
            self.logged = logged
        }
    }

    /// Exemplars listed as training-set positions with their labels, and where the list is from.
    public struct ListedExemplars: Sendable {
        public var indices: [Int]
        public var labels: [Int]
        /// The file that lists them, named in errors.
        public var file: String
        /// Recorded as `import_json.exemplars` ("sidecar").
        public var kind: String

        public init(indices: [Int], labels: [Int], file: String, kind: String) {
            self.indices = indices
            self.labels = labels
            self.file = file
            self.kind = kind
        }
    }

    /// Reads, converts, evaluates and writes; returns the checkpoint written. `log` receives
    /// progress and notes.
    @discardableResult
    public static func run(_ request: Request, log: (String) -> Void = { _ in }) throws -> Checkpoint {
        let (stateDict, sourceFormat) = try StateDictFile.readWithFormat(path: request.source)
        let blocks = blockCount(stateDict)
        guard blocks > 0 else {
            throw StateDictImportError(path: request.source, problem: "no AdaptiveExtractors.<k> tensors: not a state_dict of MEMO's AdaptiveNet")
        }
        var config = request.config
        if let text = stateDict.metadata["config"], let exported = try? JSONDecoder().decode(MEMOConfig.self, from: Data(text.utf8)) {
            config = exported.withDataAndSplit(of: request.config)
        }
        try config.validate()
        let data = try Dataset.load(kind: config.dataset, dataDir: config.dataDir, trainPerClass: config.trainPerClass,
                                    testPerClass: config.testPerClass, imageCacheBytes: config.imageCacheBytes)
        let classCount = data.classNames.count
        try config.validate(classCount: classCount)
        let order = try config.classOrder.resolve(classCount: classCount)
        let split = try ClassIncrementalSplit(order: order, initial: config.initCls, increment: config.increment)
        let taskSizes = request.taskSizes ?? Array(split.taskSizes.prefix(blocks))
        guard taskSizes == Array(split.taskSizes.prefix(taskSizes.count)) else {
            throw StateDictImportError(path: request.source, problem: "task sizes \(taskSizes) are not the first stages of the split "
                + "-init \(config.initCls) -incre \(config.increment) of \(classCount) classes (\(split.taskSizes))")
        }
        guard taskSizes.count == blocks else {
            throw StateDictImportError(path: request.source, problem: "holds \(blocks) specialized blocks (AdaptiveExtractors.0-\(blocks - 1)), "
                + "the task sizes \(taskSizes) give \(taskSizes.count) stages")
        }
        let stage = blocks - 1
        let name = (request.output as NSString).lastPathComponent
        if Checkpoint.isStageFileName(name), name != Checkpoint.fileName(stage: stage) {
            throw StateDictImportError(path: request.output, problem: "the state_dict is stage \(stage) (\(blocks) blocks): "
                + "name the output \(Checkpoint.fileName(stage: stage))")
        }
        if let metaOrder = stateDict.metadata["class_order"].flatMap(jsonIntegers), metaOrder != order {
            log("note: \(request.source) was exported with another class order than --class-order \(config.classOrder) gives")
        }

        let tensors = try tensors(from: stateDict, backbone: config.backbone, taskSizes: taskSizes, path: request.source)
        let net = Checkpoint.makeNetwork(backbone: config.backbone, taskSizes: taskSizes)
        for (n, p) in net.namedParameters() { p.value = tensors[n]! }  // `tensors` holds every name, checked
        net.configureTraining(trainBase: stage == 0 || config.trainBase, trainAdaptive: config.trainAdaptive)

        let trainLabels = data.train.labels.map { split.newLabel(original: $0) }
        let testLabels = data.test.labels.map { split.newLabel(original: $0) }
        let total = taskSizes.reduce(0, +)
        let m = config.exemplarsPerClass(classesSeen: total)
        var memory = ExemplarMemory()
        var exemplarSource = "herding"
        var listed: ExemplarMemory?
        if request.exemplars == nil {
            do { listed = try exportedMemory(stateDict, path: request.source, trainLabels: trainLabels, classes: total) } catch {
                log("note: \(error); its exemplars are not used")
            }
        }
        if let given = request.exemplars {
            memory = try listedMemory(indices: given.indices, labels: given.labels, path: given.file, what: "the exemplar list",
                                      trainLabels: trainLabels, classes: total)
            exemplarSource = given.kind
        } else if let listed {
            memory = listed
            exemplarSource = "export"
        } else {
            log("herding \(m) exemplars per class over the training images of \(total) classes with the imported network")
        }
        var means = [[Float]](repeating: [], count: total)
        for c in 0..<total {
            if exemplarSource != "herding" {
                means[c] = net.classMean(data.train, indices: memory.indicesByClass[c], mean: data.mean, std: data.std)
            } else {
                let candidates = trainLabels.indices.filter { trainLabels[$0] == c }
                let (exemplars, mean) = net.herdExemplars(data.train, candidates: candidates, m: m, mean: data.mean, std: data.std)
                memory.indicesByClass.append(exemplars)
                means[c] = mean
            }
        }
        let test = try StageTest(network: net, testSet: data.test, labels: testLabels, taskSizes: taskSizes, classMeans: means,
                                 mean: data.mean, std: data.std)

        // Stages imported into one folder are one run: take the run id of the stages already there.
        let folder = (request.output as NSString).deletingLastPathComponent
        let existing = try (0..<stage).map { (folder.isEmpty ? "" : folder + "/") + Checkpoint.fileName(stage: $0) }
            .filter { FileManager.default.fileExists(atPath: $0) }.map { try Checkpoint.read($0) }
        config.threads = config.threads ?? EngineThreads.processDefault
        config.runID = nil
        let set = data.train
        var images = [UInt8]()
        images.reserveCapacity(memory.count * set.height * set.width * set.channels)
        for e in memory.entries { images += set.image(e.index) }
        var checkpoint = Checkpoint(
            config: config, stage: stage, datasetName: data.name, classNames: data.classNames, classOrder: order,
            taskSizes: taskSizes, backbone: config.backbone, tensors: tensors, generalizedState: net.generalizedState,
            specializedStates: net.specializedStates, memory: memory, exemplarImages: images,
            imageShape: [set.height, set.width, set.channels], classMeans: means, evaluation: test.evaluation,
            testIndices: test.indices, testLabels: test.labels, cnnTopK: test.cnnTopK, nmeTopK: test.nmeTopK,
            rngState: MEMORandom(seed: UInt64(config.seed)).stateWords, normalizationMean: data.mean, normalizationStd: data.std)
        if let first = existing.first {
            var other = first
            other.config.runID = nil
            let differences = RunFolder.differences(other, checkpoint)
            guard differences.isEmpty else {
                throw StateDictImportError(path: request.output, problem: "the folder holds stages of another run "
                    + "(they differ in \(differences.joined(separator: ", "))); import into another folder")
            }
            checkpoint.config.runID = first.config.runID
        }
        checkpoint.config.runID = checkpoint.config.runID ?? TrainingRun.newRunID()
        checkpoint.importInfo = ImportInfo(sourceFile: (request.source as NSString).lastPathComponent, sourceFormat: sourceFormat.rawValue,
                                           exemplars: exemplarSource, classMeans: "exemplars", logged: request.logged)
        try checkpoint.write(to: request.output)
        return checkpoint
    }

    /// Specialized blocks in a state_dict: 1 + the largest k of `AdaptiveExtractors.<k>.` keys
    /// (with or without a `module.` prefix), 0 if none.
    public static func blockCount(_ stateDict: StateDict) -> Int {
        var largest = -1
        for key in stateDict.tensors.keys {
            let k = key.hasPrefix("module.") ? String(key.dropFirst("module.".count)) : key
            guard k.hasPrefix("AdaptiveExtractors.") else { continue }
            let rest = k.dropFirst("AdaptiveExtractors.".count)
            if let index = Int(rest.prefix { $0 != "." }), index >= 0, index < 100_000 { largest = max(largest, index) }
        }
        return largest + 1
    }

    /// The memo-swift tensors of the network of `taskSizes` from an AdaptiveNet state_dict.
    /// Every key must be there with its shape (any floating-point dtype, converted to float32,
    /// finite; running variances not negative); `num_batches_tracked` may be missing (PyTorch
    /// fills it too) and is not kept; a `module.` prefix (DataParallel) is dropped; keys under
    /// `memo_swift.` (a memo-swift export's extras) are not network tensors. A missing or
    /// unexpected key, a wrong shape or dtype is an error naming the key.
    public static func tensors(from stateDict: StateDict, backbone: Backbone, taskSizes: [Int], path: String) throws -> [String: Tensor] {
        func fail(_ problem: String) -> StateDictImportError { StateDictImportError(path: path, problem: problem) }
        var byKey: [String: StateDictTensor] = [:]
        for (key, t) in stateDict.tensors where !key.hasPrefix(CheckpointExport.extraPrefix) {
            let k = key.hasPrefix("module.") ? String(key.dropFirst("module.".count)) : key
            guard byKey[k] == nil else { throw fail("holds both \(k) and module.\(k)") }
            byKey[k] = t
        }
        let entries = try AdaptiveNetKeys.expectedEntries(backbone: backbone, taskSizes: taskSizes)
        let expected = Set(entries.map(\.key))
        let missing = entries.filter { $0.memoSwiftName != nil && byKey[$0.key] == nil }.map(\.key)
        let unexpected = byKey.keys.filter { !expected.contains($0) }.sorted()
        if !missing.isEmpty || !unexpected.isEmpty {
            var parts: [String] = []
            if !missing.isEmpty { parts.append("missing \(listText(missing))") }
            if !unexpected.isEmpty { parts.append("unexpected \(listText(unexpected))") }
            throw fail("does not match \(backbone.rawValue) with task sizes \(taskSizes): " + parts.joined(separator: "; "))
        }
        var out: [String: Tensor] = [:]
        for e in entries {
            guard let t = byKey[e.key] else { continue }  // only num_batches_tracked may be absent
            guard let name = e.memoSwiftName else {
                guard t.integerValues != nil, t.count == 1 else {
                    throw fail("\(e.key) is \(t.dtype.rawValue) \(t.shape), expected an integer scalar")
                }
                continue
            }
            guard t.shape == e.shape else {
                throw fail("\(e.key) has shape \(t.shape), \(backbone.rawValue) with task sizes \(taskSizes) needs \(e.shape)")
            }
            guard let values = t.floatValues else {
                throw fail("\(e.key) is \(t.dtype.rawValue), expected a floating-point tensor")
            }
            guard values.allSatisfy(\.isFinite) else { throw fail("\(e.key) holds values that are not finite") }
            if name.hasSuffix("runningVar"), values.contains(where: { $0 < 0 }) { throw fail("\(e.key) holds negative variances") }
            out[name] = Tensor(shape: e.shape, data: values)
        }
        return out
    }

    /// The exemplar memory listed in a memo-swift export, nil when the state_dict lists none;
    /// throws when the list does not fit this dataset (an index that is not a training image of
    /// its class: another dataset, subset or class order).
    static func exportedMemory(_ stateDict: StateDict, path: String, trainLabels: [Int], classes: Int) throws -> ExemplarMemory? {
        guard let idx = stateDict.tensors[CheckpointExport.extraPrefix + "exemplar_indices"]?.integerValues,
              let labels = stateDict.tensors[CheckpointExport.extraPrefix + "exemplar_labels"]?.integerValues else { return nil }
        return try listedMemory(indices: idx.map { Int($0) }, labels: labels.map { Int($0) }, path: path,
                                what: "memo_swift.exemplar_indices and exemplar_labels", trainLabels: trainLabels, classes: classes)
    }

    /// An exemplar memory from training-set positions and their labels; throws when the lists
    /// differ in length or an index is not a training image of its class in this dataset
    /// (another dataset, subset or class order than the list was made with).
    static func listedMemory(indices: [Int], labels: [Int], path: String, what: String, trainLabels: [Int], classes: Int) throws -> ExemplarMemory {
        guard indices.count == labels.count else {
            throw StateDictImportError(path: path, problem: "\(what): indices and labels differ in length")
        }
        var byClass = [[Int]](repeating: [], count: classes)
        for (i, y) in zip(indices, labels) {
            guard i >= 0, i < trainLabels.count, y >= 0, y < classes, trainLabels[i] == y else {
                throw StateDictImportError(path: path, problem: "exemplar \(i) of class \(y) is not a training image of that class "
                    + "in this dataset (\(trainLabels.count) training images); the dataset, subset or class order differs from the list's")
            }
            byClass[y].append(i)
        }
        return ExemplarMemory(indicesByClass: byClass)
    }

    static func listText(_ keys: [String]) -> String {
        let shown = keys.prefix(4).joined(separator: ", ")
        return keys.count > 4 ? "\(shown) and \(keys.count - 4) more" : shown
    }

    static func jsonIntegers(_ text: String) -> [Int]? {
        guard case let .array(items)? = try? StrictJSON.parse(Array(text.utf8)) else { return nil }
        let values = items.compactMap { v -> Int? in if case let .integer(i) = v { return i }; return nil }
        return values.count == items.count ? values : nil
    }
}

extension MEMOConfig {
    /// A memo-swift export's recorded configuration (its optimisation settings and seed, which
    /// produced the weights) with the data, split, backbone, memory and training-part fields of
    /// an import's request, which say how the imported stage is used.
    func withDataAndSplit(of r: MEMOConfig) -> MEMOConfig {
        var c = self
        c.dataset = r.dataset; c.dataDir = r.dataDir; c.trainPerClass = r.trainPerClass; c.testPerClass = r.testPerClass
        c.classOrder = r.classOrder; c.backbone = r.backbone; c.initCls = r.initCls; c.increment = r.increment
        c.memorySize = r.memorySize; c.memoryPerClass = r.memoryPerClass; c.fixedMemory = r.fixedMemory
        c.memoryBudgetBytes = nil; c.trainBase = r.trainBase; c.trainAdaptive = r.trainAdaptive
        c.threads = r.threads; c.runID = nil
        return c
    }
}
