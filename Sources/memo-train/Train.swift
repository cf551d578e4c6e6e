import ArgumentParser
import Foundation
import MEMOModel

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a MEMO run stage by stage (the default command).",
        discussion: """
        Examples:
          memo-train -model memo -init 2 -incre 2 -ms 4000 -net memo_resnet14_cifar -p fair --train_base \\
                     --scheduler cosine --init_epoch 4 --epochs 2 --t_max 2 --dataset fashion-mnist
          memo-train -model memo -init 10 -incre 10 -ms 3312 -net memo_resnet32 -p fair --train_base \\
                     --init_epoch 71 --epochs 51 --dataset cifar100 --data-dir ~/data
          memo-train --resume checkpoints/<run>
        """)

    @Option(name: [.customLong("model_name"), .customLong("model", withSingleDash: true)], help: "Method (only 'memo').")
    var modelName: String = "memo"
    @Option(name: [.customLong("init_cls"), .customLong("init", withSingleDash: true)], help: "Classes in stage 0.")
    var initCls: Int = 10
    @Option(name: [.customLong("increment"), .customLong("incre", withSingleDash: true)], help: "Classes per later stage.")
    var increment: Int = 10
    @Option(name: [.customLong("memory_size"), .customLong("ms", withSingleDash: true)], help: "Exemplars in total.")
    var memorySize: Int = 2000
    @Option(name: .customLong("memory-budget"), help: "Total budget (model + exemplars), e.g. 23.54MiB; derives -ms.")
    var memoryBudget: String?
    @Option(name: .customLong("memory_per_class"), help: "Exemplars per class with --fixed_memory.")
    var memoryPerClass: Int = 20
    @Flag(name: .customLong("fixed_memory"), help: "Keep memory_per_class exemplars per class.")
    var fixedMemory = false
    @Option(name: [.customLong("convnet_type"), .customLong("net", withSingleDash: true)], help: "Backbone: memo_resnet32, memo_resnet14_cifar, memo_resnet20_cifar, memo_resnet26_cifar.")
    var convnetType: String = "resnet32"
    @Option(name: [.customLong("prefix"), .customShort("p")], help: "Experiment protocol label: benchmark, fair, auc.")
    var prefix: String = "benchmark"
    @Option(name: .customShort("d"), parsing: .upToNextOption, help: "GPU ids of the reference; accepted and ignored (CPU only).")
    var device: [String] = []
    @Flag(name: .customLong("train_base"), help: "Keep training the generalized blocks after stage 0.")
    var trainBase = false
    @Flag(name: .customLong("train_adaptive"), help: "Keep training old specialized blocks.")
    var trainAdaptive = false
    @Option(name: .customLong("scheduler"), help: "steplr or cosine.")
    var scheduler: String = "steplr"
    @Option(name: .customLong("init_epoch"), help: "Epochs of stage 0.") var initEpoch: Int = 200
    @Option(name: .customLong("t_max"), help: "Cosine T_max of later stages.") var tMax: Int?
    @Option(name: .customLong("init_lr"), help: "Learning rate of stage 0.") var initLR: Double = 0.1
    @Option(name: .customLong("init_milestones"), help: "Stage-0 milestones, comma-separated.") var initMilestones = "60,120,170"
    @Option(name: .customLong("init_lr_decay"), help: "Stage-0 milestone gamma.") var initLRDecay: Double = 0.1
    @Option(name: .customLong("init_weight_decay"), help: "Stage-0 weight decay.") var initWeightDecay: Double = 5e-4
    @Option(name: .customLong("epochs"), help: "Epochs of later stages.") var epochs: Int = 170
    @Option(name: .customLong("lrate"), help: "Learning rate of later stages.") var lrate: Double = 0.1
    @Option(name: .customLong("milestones"), help: "Later-stage milestones, comma-separated.") var milestones = "80,120,150"
    @Option(name: .customLong("lrate_decay"), help: "Later-stage milestone gamma.") var lrateDecay: Double = 0.1
    @Option(name: .customLong("batch_size"), help: "Batch size.") var batchSize: Int = 128
    @Option(name: .customLong("weight_decay"), help: "Weight decay of later stages.") var weightDecay: Double = 2e-4
    @Option(name: .customLong("alpha_aux"), help: "Weight of the auxiliary loss.") var alphaAux: Double = 1.0
    @Option(name: .customLong("seed"), help: "Seed (class order uses PyCIL's 1993 permutation regardless).") var seed: Int = 1993
    @Option(name: .customLong("dataset"), help: "fashion-mnist, cifar100, cifar10 or png.") var dataset: String = "cifar100"
    @Option(name: .customLong("data-dir"), help: "Folder with the dataset files.") var dataDir: String?
    @Option(name: .customLong("train-per-class"), help: "Use only the first N training images of each class.") var trainPerClass: Int?
    @Option(name: .customLong("test-per-class"), help: "Use only the first N test images of each class.") var testPerClass: Int?
    @Flag(name: .customLong("no-shuffle"), help: "Classes in their original order instead of PyCIL's seed-1993 order.") var noShuffle = false
    @Option(name: .customLong("class-order"), help: "File with the class order (whitespace-separated ids).") var classOrderFile: String?
    @Option(name: .customLong("eval-every"), help: "Test accuracy every N epochs during training (0: never).") var evalEvery: Int = 5
    @Option(name: .customLong("out"), help: "Run folder (default checkpoints/<run name>).") var out: String?
    @Option(name: .customLong("threads"), help: "oneDNN threads (default: all cores; fewer helps on a busy machine).") var threads: Int?
    @Option(name: .customLong("resume"), help: "Continue the run in this folder from its last finished stage.") var resume: String?

    func makeConfig() throws -> MEMOConfig {
        guard modelName.lowercased() == "memo" else { throw ValidationError("-model \(modelName): only 'memo' is implemented") }
        var c = MEMOConfig()
        c.dataset = dataset; c.dataDir = dataDir; c.trainPerClass = trainPerClass; c.testPerClass = testPerClass
        c.classOrder = classOrderFile ?? (noShuffle ? "none" : "pycil")
        c.prefix = prefix; c.modelName = "memo"; c.convnetType = convnetType
        c.initCls = initCls; c.increment = increment; c.memorySize = memorySize; c.memoryPerClass = memoryPerClass
        c.fixedMemory = fixedMemory; c.seed = seed
        c.initEpoch = initEpoch; c.initLR = initLR; c.initMilestones = try parseList(initMilestones, "--init_milestones")
        c.initLRDecay = initLRDecay; c.initWeightDecay = initWeightDecay
        c.epochs = epochs; c.lrate = lrate; c.milestones = try parseList(milestones, "--milestones")
        c.lrateDecay = lrateDecay; c.weightDecay = weightDecay; c.batchSize = batchSize
        guard let s = MEMOConfig.Scheduler(rawValue: scheduler) else { throw ValidationError("--scheduler must be steplr or cosine") }
        c.scheduler = s; c.tMax = tMax; c.alphaAux = alphaAux; c.trainBase = trainBase; c.trainAdaptive = trainAdaptive
        c.evalEvery = evalEvery
        if s == .cosine && tMax == nil && epochs > 0 {
            // The reference asserts t_max is set for later stages with cosine.
            throw ValidationError("--scheduler cosine needs --t_max (as the reference does)")
        }
        guard Backbone(name: convnetType) != nil else {
            throw ValidationError("unknown backbone '\(convnetType)' (known: \(Backbone.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        guard batchSize > 0, initEpoch >= 0, epochs >= 0, memorySize >= 0 else { throw ValidationError("sizes and epochs must not be negative") }
        return c
    }

    func parseList(_ s: String, _ flag: String) throws -> [Int] {
        let parts = s.split(whereSeparator: { ",[] ".contains($0) })
        let v = parts.compactMap { Int($0) }
        guard v.count == parts.count else { throw ValidationError("\(flag) takes comma-separated integers, got '\(s)'") }
        return v
    }

    func run() throws {
        do {
            try runTraining()
        } catch let e as ValidationError {
            throw e
        } catch {
            FileHandle.standardError.write(Data("memo-train: error: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }

    func runTraining() throws {
        if !device.isEmpty { print("note: -d \(device.joined(separator: " ")) ignored: memo-train runs on the CPU") }
        var config: MEMOConfig
        var checkpoints: [Checkpoint] = []
        let runDir: String
        if let resume {
            runDir = resume
            checkpoints = try RunFolder.checkpoints(in: resume)
            guard let last = checkpoints.last else { throw TrainingError.resume("\(resume) holds no finished stage") }
            config = last.config
            print("resuming \(resume) after stage \(last.stage + 1)")
            for note in checkpoints.flatMap(\.notes) { print("note: " + note) }
            if let threads, let trained = config.threads, threads != trained {
                print("note: --threads \(threads), but the run trained with \(trained): the later stages will "
                    + "differ from an uninterrupted run (runs are reproducible per seed and thread count)")
            }
        } else {
            config = try makeConfig()
            runDir = out ?? "checkpoints/" + config.runName
            if !(try RunFolder.checkpoints(in: runDir, allowMissing: true)).isEmpty {
                throw TrainingError.invalidConfig("\(runDir) already holds checkpoints; use --resume \(runDir) or another --out")
            }
        }
        // --threads, else the thread count the resumed run trained with; a new run records its own.
        let count = threads ?? config.threads ?? EngineThreads.processDefault
        if resume == nil { config.threads = count }
        try EngineThreads.with(count) { try train(config: config, runDir: runDir, checkpoints: checkpoints) }
    }

    /// Trains the stages `checkpoints` does not hold yet into `runDir`.
    func train(config: MEMOConfig, runDir: String, checkpoints: [Checkpoint]) throws {
        var config = config
        // This process now owns the folder: what a killed write left behind goes.
        if FileManager.default.fileExists(atPath: runDir) {
            let leftovers = try RunFolder.removeInterruptedWrites(in: runDir)
            if !leftovers.isEmpty { print("removed \(leftovers.count) temporary file(s) of an interrupted write: \(leftovers.joined(separator: ", "))") }
        }
        let kind = try DatasetKind.parse(config.dataset)
        let data = try Dataset.load(kind: kind, dataDir: config.dataDir, trainPerClass: config.trainPerClass,
                                    testPerClass: config.testPerClass)
        let classCount = data.classNames.count
        let order: [Int]
        switch config.classOrder {
        case "pycil": order = ClassOrder.pycil(classCount: classCount)
        case "none": order = ClassOrder.identity(classCount)
        default: order = try ClassOrder.load(file: config.classOrder, classCount: classCount)
        }
        if resume == nil, let budget = memoryBudget {
            let bytes = try parseByteSize(budget)
            guard let backbone = Backbone(name: config.convnetType) else { throw ValidationError("unknown backbone") }
            let split = try ClassIncrementalSplit(order: order, initial: config.initCls, increment: config.increment)
            let perImage = data.train.height * data.train.width * data.train.channels
            let n = try exemplarsForBudget(totalBytes: bytes, blocksPerStage: backbone.blocksPerStage,
                                       stages: split.taskSizes.count, bytesPerImage: perImage)
            guard n > 0 else { throw ValidationError("--memory-budget \(budget) does not cover the model after the last stage") }
            config.memorySize = n
            config.memoryBudgetBytes = bytes
            print("memory budget \(budget): \(n) exemplars of \(perImage) bytes beside the model")
        }
        let trainer = try MEMOTrainer(config: config, dataset: data, order: order)
        try trainer.restore(from: checkpoints)
        try FileManager.default.createDirectory(atPath: runDir, withIntermediateDirectories: true)
        let logFile = try RunLog(path: runDir + "/train.log")
        trainer.log = { line in print(line); fflush(stdout); logFile.write(line) }
        if isatty(1) != 0 {
            trainer.progress = { line in print("\r" + line, terminator: ""); fflush(stdout) }
        }
        trainer.log("engine: \(engineDescription)")
        trainer.log("run folder \(runDir); dataset \(data.name): \(data.train.count) train / \(data.test.count) test images, "
            + "\(classCount) classes, tasks \(trainer.split.taskSizes); \(config.convnetType), memory \(config.memorySize)")
        while trainer.completedStages < trainer.stageCount {
            let result = try trainer.trainNextStage()
            let path = runDir + "/" + Checkpoint.fileName(stage: result.stage)
            try Checkpoint(trainer: trainer, result: result).write(to: path)
            trainer.log("  checkpoint \(path)")
            let summary = RunSummary(results: trainer.results)
            trainer.log(summary.text)
            try summary.csv.write(toFile: runDir + "/curves.csv", atomically: true, encoding: .utf8)
        }
        let last = try Checkpoint.read(runDir + "/" + Checkpoint.fileName(stage: trainer.stageCount - 1))
        trainer.log(MemoryReport(checkpoint: last).table)
    }
}
