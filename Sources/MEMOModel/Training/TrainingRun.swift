import Foundation

/// What memo-train was asked to do: start a run with a configuration, or continue the run in a
/// folder. `given` names the configuration fields (JSON names) the command line set, so a
/// resume can tell a flag that repeats the run's value from one that would change it.
public struct TrainingRequest: Sendable {
    public enum Start: Sendable {
        /// A new run; `folder` nil means `checkpoints/<run name>`.
        case new(folder: String?)
        case resume(folder: String)
    }

    public var start: Start
    public var config: MEMOConfig
    public var given: Set<String>
    /// `--memory-budget` as typed (e.g. "23.54MiB"): derives `-ms` from the data's image size.
    public var memoryBudget: String?

    public init(start: Start, config: MEMOConfig, given: Set<String>, memoryBudget: String? = nil) {
        self.start = start
        self.config = config
        self.given = given
        self.memoryBudget = memoryBudget
    }

    /// The rules that need no data and no folder: flag combinations, and for a new run the
    /// configuration's own rules. A resume is checked against the run's stored configuration.
    public func validate() throws {
        if given.contains("memory_size"), let budget = memoryBudget {
            throw ConfigError(flag: "-ms", value: "\(config.memorySize)", allowed: "cannot be given with --memory-budget \(budget), which derives it")
        }
        if case .new = start {
            try config.validate()
            try config.precision?.checkSupported()
            if let budget = memoryBudget {
                do { _ = try parseByteSize(budget) } catch {
                    throw ConfigError(flag: "--memory-budget", value: budget, allowed: "is not a byte size (e.g. 23.54MiB, 24684160, 512KiB)")
                }
            }
        }
    }
}

/// A run folder being trained, stage by stage: everything memo-train does between parsing its
/// flags and exiting. It validates the request before it touches any folder, resolves a resume
/// (the stored configuration wins; flags that would change it are an error, those that may change
/// are reported), derives `-ms` from a byte budget, trains the missing stages under the run's
/// thread count, and writes one checkpoint per stage plus `train.log` and `curves.csv`.
public final class TrainingRun {
    public let folder: String
    public private(set) var config: MEMOConfig
    public let checkpoints: [Checkpoint]
    /// What the user should know before training starts (changed flags, partial splits, ...).
    public private(set) var notes: [String] = []
    /// Receives every log line (also written to `train.log`).
    public var log: (String) -> Void = { print($0) }
    /// Receives in-epoch progress, if set.
    public var progress: ((String) -> Void)?
    /// Hooks passed to the trainer (`MEMOTrainer.beforeBatch`, `afterStep`).
    public var beforeBatch: ((Int, Int, Int) -> Void)?
    public var afterStep: ((MEMONetwork, Int, Int, Int) -> Void)?
    /// How steps are spread over ranks: every rank trains, only the lead (rank 0) writes the
    /// folder and logs.
    public let parallel: DataParallel
    private let memoryBudget: String?

    public init(_ request: TrainingRequest, parallel: DataParallel = .single) throws {
        try request.validate()
        self.parallel = parallel
        var config = request.config
        config.ranks = parallel.ranks
        switch request.start {
        case let .new(folder):
            self.folder = folder ?? "checkpoints/" + config.runName
            if parallel.isLead, !(try RunFolder.checkpoints(in: self.folder, allowMissing: true)).isEmpty {
                throw TrainingError.invalidConfig("\(self.folder) already holds checkpoints; use --resume \(self.folder) or another --out")
            }
            config.threads = config.threads ?? EngineThreads.processDefault
            config.runID = TrainingRun.newRunID()
            checkpoints = []
            memoryBudget = request.memoryBudget
        case let .resume(folder):
            self.folder = folder
            checkpoints = try RunFolder.checkpoints(in: folder)
            guard let last = checkpoints.last else { throw TrainingError.resume("\(folder) holds no finished stage") }
            notes += Array(Set(checkpoints.flatMap(\.notes))).sorted()
            var stored = last.config
            var changed: [String] = []
            if let budget = request.memoryBudget { changed.append("--memory-budget \(budget) (the run has -ms \(stored.memorySize))") }
            for field in request.given.sorted() where request.config.fieldText(field) != stored.fieldText(field) {
                let flag = MEMOConfig.flagNames[field] ?? field
                if MEMOConfig.resumableFields.contains(field) {
                    notes.append("\(flag) \(request.config.fieldText(field)) replaces the run's \(stored.fieldText(field))"
                        + (field == "threads" ? ": the later stages will differ from an uninterrupted run "
                            + "(runs are reproducible per seed and thread count)" : ""))
                } else {
                    changed.append("\(flag) \(request.config.fieldText(field)) (the run has \(stored.fieldText(field)))")
                }
            }
            guard changed.isEmpty else {
                throw TrainingError.resume("a resumed run keeps its configuration; \(changed.joined(separator: ", ")) would change it "
                    + "(only --data-dir, --image-cache, --eval-every and --threads may be given)")
            }
            if request.given.contains("data_dir") { stored.dataDir = request.config.dataDir }
            if request.given.contains("image_cache_bytes") { stored.imageCacheBytes = request.config.imageCacheBytes }
            if request.given.contains("eval_every") { stored.evalEvery = request.config.evalEvery }
            if request.given.contains("threads") { stored.threads = request.config.threads }
            if let ranks = stored.ranks, ranks != parallel.ranks {
                notes.append("\(parallel.ranks) rank(s) replace the run's \(ranks): the later stages will differ from an "
                    + "uninterrupted run (batch norm sees other shards)")
            }
            stored.ranks = parallel.ranks
            stored.threads = stored.threads ?? EngineThreads.processDefault
            config = stored
            memoryBudget = nil
        }
        self.config = config
    }

    /// A random 64-bit identifier in hex.
    static func newRunID() -> String {
        var g = SystemRandomNumberGenerator()
        let s = String(g.next() as UInt64, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }

    /// Trains the stages the folder does not hold yet. Returns the number of stages trained.
    @discardableResult
    public func train() throws -> Int {
        try EngineThreads.with(config.threads ?? EngineThreads.processDefault) { try trainStages() }
    }

    private func trainStages() throws -> Int {
        if let last = checkpoints.last {
            let split = try ClassIncrementalSplit(order: last.classOrder, initial: config.initCls, increment: config.increment)
            if last.stage + 1 >= split.taskCount {
                log("\(folder): nothing to do, all \(split.taskCount) stages (0-\(split.taskCount - 1)) are trained")
                return 0
            }
        }
        let data = try Dataset.load(kind: config.dataset, dataDir: config.dataDir, trainPerClass: config.trainPerClass,
                                    testPerClass: config.testPerClass, imageCacheBytes: config.imageCacheBytes)
        let classCount = data.classNames.count
        let order = try config.classOrder.resolve(classCount: classCount)
        try config.validate(classCount: classCount)
        let split = try ClassIncrementalSplit(order: order, initial: config.initCls, increment: config.increment)
        if let budget = memoryBudget { try applyBudget(budget, split: split, bytesPerImage: data.train.height * data.train.width * data.train.channels) }
        if checkpoints.isEmpty { notes += TrainingRun.notes(config: config, split: split, data: data) }
        // The trainer checks the configuration against the data before the folder is written to.
        let trainer = try MEMOTrainer(config: config, dataset: data, order: order)
        try trainer.restore(from: checkpoints)
        trainer.parallel = parallel
        trainer.beforeBatch = beforeBatch
        trainer.afterStep = afterStep
        guard parallel.isLead else {
            // The other ranks of a job train in step with rank 0 and write nothing.
            trainer.log = { _ in }
            while trainer.completedStages < trainer.stageCount { _ = try trainer.trainNextStage() }
            return trainer.stageCount - checkpoints.count
        }
        // This process now owns the folder: what a killed write left behind goes.
        if FileManager.default.fileExists(atPath: folder) {
            let leftovers = try RunFolder.removeInterruptedWrites(in: folder)
            if !leftovers.isEmpty { notes.append("removed \(leftovers.count) temporary file(s) of an interrupted write: \(leftovers.joined(separator: ", "))") }
        }
        do { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) } catch {
            throw RunFolderError.cannotCreate(path: folder, reason: systemReason(error))
        }
        let logFile = try RunLog(path: folder + "/train.log")
        let log = self.log
        trainer.log = { line in log(line); logFile.write(line) }
        trainer.progress = progress
        if let last = checkpoints.last { trainer.log("resuming \(folder) after stage \(last.stage) (\(Checkpoint.fileName(stage: last.stage)))") }
        for note in notes { trainer.log("note: " + note) }
        trainer.log("engine: \(engineDescription), \(trainer.network.precision) activations" + (parallel.ranks > 1 ? "; \(parallel.ranks) MPI ranks, each its shard of every batch" : ""))
        trainer.log("run folder \(folder) (run id \(config.runID ?? "none")); dataset \(data.name): \(data.train.count) train / "
            + "\(data.test.count) test images, \(classCount) classes, tasks \(split.taskSizes); \(config.backbone.rawValue), "
            + "memory \(config.memorySize)")
        var trained = 0
        while trainer.completedStages < trainer.stageCount {
            let result = try trainer.trainNextStage()
            let path = folder + "/" + Checkpoint.fileName(stage: result.stage)
            let checkpoint = Checkpoint(trainer: trainer, result: result)
            // A file set's exemplars and misclassified images are decoded again for the checkpoint.
            try data.train.checkReadable()
            try data.test.checkReadable()
            try checkpoint.write(to: path)
            trainer.log("  checkpoint \(path)")
            if let cache = data.train.files?.cache {
                trainer.log(String(format: "  image cache: %d decoded images, %.1f of %.0f MiB; %d hits, %d decodes so far",
                                   cache.count, mebibytes(cache.byteCount), mebibytes(cache.byteLimit), cache.hits, cache.misses))
            }
            let summary = RunSummary(results: trainer.results)
            trainer.log(summary.text)
            try writeReport(summary.csv, to: folder + "/curves.csv")
            trained += 1
        }
        let last = try Checkpoint.read(folder + "/" + Checkpoint.fileName(stage: trainer.stageCount - 1))
        trainer.log(MemoryReport(checkpoint: last).table)
        return trained
    }

    /// `--memory-budget`: the exemplars the budget leaves beside the model after the last stage.
    private func applyBudget(_ budget: String, split: ClassIncrementalSplit, bytesPerImage: Int) throws {
        let bytes = try parseByteSize(budget)
        let n: Int
        do {
            n = try exemplarsForBudget(totalBytes: bytes, architecture: config.backbone.budgetArchitecture,
                                       stages: split.taskCount, bytesPerImage: bytesPerImage)
        } catch let MemoryBudgetError.budgetTooSmall(_, model) {
            throw ConfigError(flag: "--memory-budget", value: budget,
                              allowed: "does not hold the model (\(model) bytes after the last stage); raise it or use a smaller backbone")
        }
        guard n > 0 else {
            throw ConfigError(flag: "--memory-budget", value: budget, allowed: "leaves no room for an exemplar beside the model after the last stage")
        }
        config.memorySize = n
        config.memoryBudgetBytes = bytes
        try config.validate(classCount: split.classCount)
        notes.append("--memory-budget \(budget): \(n) exemplars of \(bytesPerImage) bytes beside the model (-ms \(n))")
    }

    /// What a new run's user should know about its split and memory.
    static func notes(config: MEMOConfig, split: ClassIncrementalSplit, data: Dataset) -> [String] {
        var notes: [String] = []
        if let last = split.taskSizes.last, split.taskCount > 1, last != config.increment {
            notes.append("-init \(config.initCls) -incre \(config.increment) over \(split.classCount) classes: the last stage "
                + "takes the remaining \(last) class(es) (tasks \(split.taskSizes))")
        }
        let kept = config.fixedMemory ? config.memoryPerClass * split.classCount : config.memorySize
        if kept > data.train.count {
            notes.append("-ms \(kept) exceeds the \(data.train.count) training images: the memory keeps every image of the "
                + "classes seen so far, which is rehearsal of the whole training set, not a MEMO memory budget")
        }
        return notes
    }
}
