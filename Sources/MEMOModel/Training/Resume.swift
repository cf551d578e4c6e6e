/// A trainer's state and a stage checkpoint, both ways: what a finished stage writes, and what
/// `--resume` restores from the last one.
extension Checkpoint {
    /// Captures a trainer after a finished stage.
    public init(trainer: MEMOTrainer, result: StageResult) {
        config = trainer.config
        stage = result.stage
        datasetName = trainer.dataset.name
        classNames = trainer.dataset.classNames
        classOrder = trainer.split.order
        taskSizes = trainer.network.taskSizes
        backbone = trainer.backbone
        tensors = Dictionary(uniqueKeysWithValues: trainer.network.namedParameters().map { ($0.0, $0.1.value) })
        generalizedState = trainer.network.generalizedState
        specializedStates = trainer.network.specializedStates
        memory = trainer.memory
        let set = trainer.dataset.train
        imageShape = [set.height, set.width, set.channels]
        var bytes = [UInt8]()
        bytes.reserveCapacity(memory.count * set.height * set.width * set.channels)
        for e in memory.entries { bytes += set.image(e.index) }
        exemplarImages = bytes
        classMeans = trainer.classMeans
        evaluation = result.evaluation
        testIndices = result.testIndices
        testLabels = result.testLabels
        cnnTopK = result.cnnTopK
        nmeTopK = result.nmeTopK
        rngState = trainer.rng.stateWords
        normalizationMean = trainer.dataset.mean
        normalizationStd = trainer.dataset.std
        epochs = result.epochs
        alignGamma = result.alignGamma
        misclassifiedPositions = Misclassified.choose(labels: result.testLabels, predicted: result.cnnTopK.map { $0.first ?? -1 })
        let test = trainer.dataset.test
        misclassifiedImages = misclassifiedPositions.flatMap { test.image(result.testIndices[$0]) }
    }
}

extension MEMOTrainer {
    /// Restores a trainer's state from the checkpoint of its last finished stage (resume).
    public func restore(from checkpoints: [Checkpoint]) throws {
        guard let last = checkpoints.last else { return }
        guard last.config.differences(from: config).allSatisfy(MEMOConfig.resumableFields.contains) else {
            throw TrainingError.resume("the run's checkpoints were written with a different configuration")
        }
        guard last.classOrder == split.order, last.datasetName == dataset.name else {
            throw TrainingError.resume("the run's checkpoints are of another dataset or class order")
        }
        // A checkpoint that loads may still not fit this dataset (changed files on disk, an edited
        // file): check what training will index with, so a mismatch is an error, not a crash.
        let name = Checkpoint.fileName(stage: last.stage)
        guard checkpoints.count == last.stage + 1, last.taskSizes == Array(split.taskSizes.prefix(last.taskSizes.count)) else {
            throw TrainingError.resume("\(name) has task sizes \(last.taskSizes); the configuration gives \(split.taskSizes)")
        }
        for (index, label) in last.memory.entries where !(trainLabels.indices.contains(index) && trainLabels[index] == label) {
            throw TrainingError.resume("\(name): exemplar \(index) of class \(label) is not a training image of that class "
                + "(\(trainLabels.count) training images); the dataset differs from the run's")
        }
        network = try last.makeNetwork()
        memory = last.memory
        classMeans = last.classMeans
        rng = MEMORandom(state: last.rngState)
        results = checkpoints.map { c in
            StageResult(stage: c.stage, classesSeen: c.classesSeen, knownClasses: c.knownClasses, evaluation: c.evaluation,
                        testIndices: c.testIndices, testLabels: c.testLabels, cnnTopK: c.cnnTopK, nmeTopK: c.nmeTopK,
                        alignGamma: c.alignGamma, seconds: 0, epochs: c.epochs)
        }
    }
}
