import Foundation

/// Errors that stop a run before or during training; each names what is wrong.
public enum TrainingError: Error, CustomStringConvertible {
    case invalidConfig(String)
    case nonFiniteLoss(stage: Int, epoch: Int, batch: Int, loss: Double)
    case resume(String)

    public var description: String {
        switch self {
        case let .invalidConfig(m): return "invalid configuration: \(m)"
        case let .nonFiniteLoss(stage, epoch, batch, loss):
            return "stage \(stage), epoch \(epoch + 1), batch \(batch + 1): loss is \(loss); stage stopped, "
                + "the previous stage's checkpoint stays the latest"
        case let .resume(m): return "cannot resume: \(m)"
        }
    }
}

/// What one stage produced: its evaluation and the predictions behind it.
public struct StageResult: Sendable {
    public var stage: Int
    public var classesSeen: Int
    public var knownClasses: Int
    public var evaluation: StageEvaluation
    /// Test-set positions evaluated (indices into the test ImageSet) and their mapped labels.
    public var testIndices: [Int]
    public var testLabels: [Int]
    public var cnnTopK: [[Int]]
    public var nmeTopK: [[Int]]
    public var alignGamma: Float?
    public var seconds: Double
    /// The stage's training epochs (empty for a stage restored by a resume from a checkpoint
    /// older than format version 3).
    public var epochs: [EpochRecord] = []
}

/// MEMO, stage after stage (the reference's `MEMO.incremental_train` + `trainer._train`): grow
/// the network, train on the new classes plus the exemplar memory, align weights, rebuild the
/// memory by herding, evaluate CNN and NME.
public final class MEMOTrainer {
    public let config: MEMOConfig
    public let dataset: Dataset
    public let split: ClassIncrementalSplit
    public let backbone: Backbone
    public internal(set) var network: MEMONetwork
    public internal(set) var memory = ExemplarMemory()
    public internal(set) var classMeans: [[Float]] = []
    public internal(set) var rng: MEMORandom
    public internal(set) var results: [StageResult] = []
    /// Mapped labels (position in the class order) of the training and test images.
    public let trainLabels: [Int]
    public let testLabels: [Int]
    /// Receives progress lines (the executable prints them and writes the log file).
    public var log: (String) -> Void = { print($0) }
    /// Receives in-epoch progress (rewritten in place on a terminal).
    public var progress: ((String) -> Void)?
    /// Test hook: called before each training batch with (stage, epoch, batch).
    public var beforeBatch: ((Int, Int, Int) -> Void)?
    /// Called after each SGD step with the network and (stage, epoch, batch): for checking a
    /// data-parallel run step by step against its single-process oracle.
    public var afterStep: ((MEMONetwork, Int, Int, Int) -> Void)?
    /// How each step is spread over ranks (`.single`: the whole batch in this process).
    public var parallel = DataParallel.single

    public init(config: MEMOConfig, dataset: Dataset, order: [Int]) throws {
        let classCount = dataset.classNames.count
        try config.validate(classCount: classCount)
        do { try ClassOrder.validate(order, classCount: classCount, source: "class order") } catch {
            throw TrainingError.invalidConfig("class order has \(order.count) entries; dataset '\(dataset.name)' has \(classCount) classes")
        }
        let backbone = config.backbone
        self.config = config
        self.dataset = dataset
        self.backbone = backbone
        let split = try ClassIncrementalSplit(order: order, initial: config.initCls, increment: config.increment)
        self.split = split
        var rng = MEMORandom(seed: UInt64(config.seed))
        self.network = MEMONetwork(backbone: backbone, rng: &rng)
        let precision = config.precision ?? .float32
        try precision.checkSupported()
        network.precision = precision
        self.rng = rng
        trainLabels = dataset.train.labels.map { split.newLabel(original: $0) }
        testLabels = dataset.test.labels.map { split.newLabel(original: $0) }
        for c in 0..<classCount where !trainLabels.contains(c) {
            throw TrainingError.invalidConfig("class '\(dataset.classNames[order[c]])' has no training images")
        }
    }

    public var stageCount: Int { split.taskSizes.count }
    public var completedStages: Int { results.count }

    /// Trains the next stage and returns its result.
    public func trainNextStage() throws -> StageResult {
        let stage = network.specialized.count
        precondition(stage < stageCount, "all stages are trained")
        let start = Date()
        let known = network.classCount
        let newClasses = split.taskSizes[stage]
        let total = known + newClasses
        network.addStage(newClasses: newClasses, rng: &rng)
        network.configureTraining(trainBase: stage == 0 || config.trainBase, trainAdaptive: config.trainAdaptive)
        // Every rank grows the same network from the same seed; rank 0's copy is made the one.
        parallel.broadcast(network.namedParameters().map(\.1))
        log("stage \(stage) of 0-\(stageCount - 1): " + (newClasses == 1 ? "class " : "classes ")
            + ClassIncrementalSplit.text(split.classRange(task: stage))
            + " (\(newClasses) new), "
            + "trainable parameters \(network.trainableParameters().reduce(0) { $0 + $1.1.value.count })")

        // Training data: the new classes' images and the exemplar memory.
        var items: [(Int, Int)] = []
        for (i, y) in trainLabels.enumerated() where y >= known && y < total { items.append((i, y)) }
        for e in memory.entries { items.append((e.index, e.label)) }
        let epochs = try trainStage(stage, items: items, known: known)
        // Herding, class means and evaluation then run on identical parameters on every rank.
        parallel.broadcast(network.namedParameters().map(\.1))

        var gamma: Float?
        if stage > 0 {
            gamma = network.weightAlign(increment: newClasses)
            log(String(format: "  weight align: gamma %.4f", gamma!))
        }
        buildMemory(known: known, total: total)
        try dataset.train.checkReadable()
        parallel.broadcast(memory: &memory, classMeans: &classMeans)
        var result = try evaluate(stage: stage, known: known, total: total, gamma: gamma,
                                  seconds: Date().timeIntervalSince(start))
        result.epochs = epochs
        results.append(result)
        network.releaseCaches()
        return result
    }

    /// Trains the stage's epochs and returns what each one logged.
    private func trainStage(_ stage: Int, items: [(Int, Int)], known: Int) throws -> [EpochRecord] {
        let epochs = config.epochCount(stage: stage)
        let schedule = config.schedule(stage: stage)
        var sgd = SGD(learningRate: Float(config.baseLearningRate(stage: stage)),
                      weightDecay: Float(config.weightDecay(stage: stage)))
        // A fresh optimizer per stage, as the reference builds one: momentum starts from zero. (A
        // resumed run's parameters come from a checkpoint, which holds no momentum.)
        for (_, p) in network.namedParameters() { p.momentum = nil }
        let params = network.trainableParameters().map { $0.1 }
        let batchSize = config.batchSize
        var input = [Float]()
        let stageStart = Date()
        let totalSteps = epochs * ((items.count + batchSize - 1) / batchSize)
        var stepsDone = 0
        var records: [EpochRecord] = []
        for epoch in 0..<epochs {
            sgd.learningRate = Float(schedule.rate(base: config.baseLearningRate(stage: stage), epoch: epoch))
            let order = rng.permutation(items.count)
            var lossSum = 0.0, auxSum = 0.0, correct = 0, seen = 0, batches = 0
            let epochStart = Date()
            var b = 0
            while b * batchSize < items.count {
                beforeBatch?(stage, epoch, b)
                let slice = order[(b * batchSize)..<min((b + 1) * batchSize, items.count)]
                let idx = slice.map { items[$0].0 }
                let labels = slice.map { items[$0].1 }
                makeBatch(from: dataset.train, indices: idx, mean: dataset.mean, std: dataset.std,
                          augmentation: dataset.augmentation, rng: &rng, into: &input)
                try dataset.train.checkReadable()
                network.inputSize = dataset.train.inputSide
                let n = idx.count
                if parallel.isPlain {
                    input.withUnsafeBufferPointer { network.forward($0.baseAddress!, count: n, training: true) }
                    let loss = MEMOLoss(network: network, labels: labels,
                                        auxLabels: stage > 0 ? MEMOLoss.auxiliaryLabels(labels, knownClasses: known) : nil,
                                        alphaAux: config.alphaAux)
                    guard loss.total.isFinite else {
                        throw TrainingError.nonFiniteLoss(stage: stage, epoch: epoch, batch: b, loss: loss.total)
                    }
                    network.backward(loss)
                    sgd.step(params)
                    lossSum += loss.total; auxSum += loss.auxiliary
                    correct += network.correctRows(labels: labels)
                } else {
                    let step = parallel.computeGradients(network: network, input: input, labels: labels,
                                                         auxKnownClasses: stage > 0 ? known : nil, alphaAux: config.alphaAux,
                                                         parameters: params)
                    let total = step.loss + config.alphaAux * step.auxiliary
                    // The batch's loss over every rank: all ranks stop together.
                    guard total.isFinite else { throw TrainingError.nonFiniteLoss(stage: stage, epoch: epoch, batch: b, loss: total) }
                    sgd.step(params)
                    lossSum += total; auxSum += step.auxiliary
                    correct += step.correct
                }
                afterStep?(network, stage, epoch, b)
                batches += 1
                seen += n
                stepsDone += 1
                b += 1
                if let progress, b % 10 == 0 {
                    let rate = Double(seen) / Date().timeIntervalSince(epochStart)
                    progress(String(format: "  stage %d epoch %d/%d batch %d loss %.3f %.0f img/s", stage, epoch + 1,
                                    epochs, b, lossSum / Double(batches), rate))
                }
            }
            records.append(EpochRecord(epoch: epoch + 1, loss: lossSum / Double(max(batches, 1)),
                                       auxLoss: auxSum / Double(max(batches, 1)),
                                       trainAccuracy: 100 * Double(correct) / Double(max(seen, 1)),
                                       learningRate: Double(sgd.learningRate)))
            let elapsed = Date().timeIntervalSince(stageStart)
            let eta = elapsed / Double(max(stepsDone, 1)) * Double(totalSteps - stepsDone)
            var line = String(format: "  stage %d epoch %d/%d  loss %.3f  aux %.3f  train-acc %.2f  lr %.4g  %.0f img/s  ETA %@",
                              stage, epoch + 1, epochs, lossSum / Double(max(batches, 1)),
                              auxSum / Double(max(batches, 1)), 100 * Double(correct) / Double(max(seen, 1)),
                              Double(sgd.learningRate), Double(seen) / Date().timeIntervalSince(epochStart),
                              formatDuration(eta))
            if config.evalEvery > 0, epoch % config.evalEvery == 0 {
                let test = testIndices(below: network.classCount)
                let out = network.infer(dataset.test, indices: test, mean: dataset.mean, std: dataset.std)
                try dataset.test.checkReadable()
                let top1 = out.cnnTopK(1).enumerated().filter { $0.element[0] == testLabels[test[$0.offset]] }.count
                line += String(format: "  test-acc %.2f", 100 * Double(top1) / Double(max(test.count, 1)))
            }
            log(line)
        }
        return records
    }

    /// The reference's `build_rehearsal_memory`: shrink old classes, herd new ones, recompute
    /// every class mean with the current network.
    private func buildMemory(known: Int, total: Int) {
        let m = config.exemplarsPerClass(classesSeen: total)
        if !config.fixedMemory { memory.reduce(to: m) }
        var means = [[Float]](repeating: [], count: total)
        for c in 0..<known {
            means[c] = network.classMean(dataset.train, indices: memory.indicesByClass[c], mean: dataset.mean, std: dataset.std)
        }
        for c in known..<total {
            let candidates = trainLabels.indices.filter { trainLabels[$0] == c }
            let (exemplars, classMean) = network.herdExemplars(dataset.train, candidates: candidates, m: m,
                                                               mean: dataset.mean, std: dataset.std)
            memory.indicesByClass.append(exemplars)
            means[c] = classMean
        }
        classMeans = means
        let kept = memory.indicesByClass.map(\.count)
        let perClass = kept.min() == kept.max() ? "\(kept.min() ?? 0)" : "\(kept.min() ?? 0)-\(kept.max() ?? 0)"
        log("  memory: \(memory.count) exemplars, \(perClass) per class" + (kept.contains { $0 < m } ? " (the memory allows \(m))" : ""))
    }

    func testIndices(below classes: Int) -> [Int] {
        testLabels.indices.filter { testLabels[$0] < classes }
    }

    private func evaluate(stage: Int, known: Int, total: Int, gamma: Float?, seconds: Double) throws -> StageResult {
        let test = try StageTest(network: network, testSet: dataset.test, labels: testLabels,
                                 taskSizes: Array(split.taskSizes.prefix(stage + 1)), classMeans: classMeans,
                                 mean: dataset.mean, std: dataset.std)
        let evaluation = test.evaluation
        // Old-class accuracy is undefined before any class is old.
        let old = known > 0 ? String(format: "old %.2f ", evaluation.cnn.old) : ""
        log(String(format: "  stage %d: CNN top-1 %.2f top-5 %.2f | NME top-1 %.2f top-5 %.2f | %@new %.2f",
                   stage, evaluation.cnn.top1, evaluation.cnn.top5, evaluation.nme!.top1, evaluation.nme!.top5,
                   old, evaluation.cnn.new))
        return StageResult(stage: stage, classesSeen: total, knownClasses: known, evaluation: evaluation,
                           testIndices: test.indices, testLabels: test.labels, cnnTopK: test.cnnTopK, nmeTopK: test.nmeTopK, alignGamma: gamma,
                           seconds: seconds)
    }
}

public func formatDuration(_ s: Double) -> String {
    guard s.isFinite, s >= 0 else { return "?" }
    let t = Int(s.rounded())
    if t >= 3600 { return String(format: "%dh%02dm", t / 3600, (t % 3600) / 60) }
    if t >= 60 { return String(format: "%dm%02ds", t / 60, t % 60) }
    return "\(t)s"
}
