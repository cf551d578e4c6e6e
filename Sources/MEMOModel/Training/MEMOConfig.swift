import Foundation

/// The configuration of a MEMO run, typed, with every default in one place: the reference's flags
/// (`main_memo.py`, `exps/memo.json`, docs/memo.md) under the reference's names in `CodingKeys`,
/// plus memo-swift's own options. Written into every checkpoint as JSON, so a stage can be
/// rebuilt and a run resumed; `validate()` holds the rules every tool applies to it. The typed
/// fields decode every spelling their parsers accept (`resnet32`, `Fashion_MNIST`), so
/// checkpoints of earlier versions read; fields added later are optional.
public struct MEMOConfig: Codable, Equatable, Sendable {
    public enum Scheduler: String, Codable, Sendable, CaseIterable { case steplr, cosine }

    /// The experiment protocol label of the reference's `-p` (it names the budget alignment the
    /// run belongs to; it changes no computation).
    public enum ExperimentProtocol: String, Codable, Sendable, CaseIterable { case benchmark, fair, auc }

    // Data
    public var dataset: DatasetKind = .cifar100
    public var dataDir: String? = nil
    public var trainPerClass: Int? = nil
    public var testPerClass: Int? = nil
    public var classOrder: ClassOrderChoice = .pycil
    /// Bound in bytes of the decoded-image cache of an ImageNet folder (nil:
    /// `DecodedImageCache.defaultByteLimit`, 512 MiB); changes no result, only speed and memory.
    public var imageCacheBytes: Int? = nil
    // Protocol
    /// The method; always "memo" (the reference's `-model`), checked by `validate()`.
    public var modelName: String = "memo"
    public var prefix: ExperimentProtocol = .benchmark
    public var backbone: Backbone = .memoResNet32
    public var initCls: Int = 10
    public var increment: Int = 10
    public var memorySize: Int = 2000
    public var memoryPerClass: Int = 20
    public var fixedMemory: Bool = false
    /// Total byte budget (model + exemplars) the exemplar count was derived from, if given.
    public var memoryBudgetBytes: Int? = nil
    public var seed: Int = 1993
    // Optimisation, stage 0
    public var initEpoch: Int = 200
    public var initLR: Double = 0.1
    public var initMilestones: [Int] = [60, 120, 170]
    public var initLRDecay: Double = 0.1
    public var initWeightDecay: Double = 5e-4
    // Optimisation, later stages
    public var epochs: Int = 170
    public var lrate: Double = 0.1
    public var milestones: [Int] = [80, 120, 150]
    public var lrateDecay: Double = 0.1
    public var weightDecay: Double = 2e-4
    public var batchSize: Int = 128
    public var scheduler: Scheduler = .steplr
    public var tMax: Int? = nil
    public var alphaAux: Double = 1.0
    public var trainBase: Bool = false
    public var trainAdaptive: Bool = false
    /// Evaluate on the test set every this many epochs during training (the reference: 5); 0 = never.
    public var evalEvery: Int = 5
    /// oneDNN threads the run trained with. A run is reproducible given its seed *and* its
    /// thread count (two threads sum in another order), so a resume reuses it. Nil in
    /// checkpoints written before it was recorded.
    public var threads: Int? = nil
    /// Processes of the `mpirun` job that trained the run (1 without one): data-parallel ranks
    /// split every batch, so a run is reproducible given its rank count too. Nil in checkpoints
    /// written before it was recorded.
    public var ranks: Int? = nil
    /// Number format of activations and convolutions (`--precision`); nil is float32 (and what
    /// checkpoints written before it was recorded hold). bf16 changes the results, so a resume
    /// keeps it.
    public var precision: Precision? = nil
    /// Identifies one run: drawn at random when its first stage starts, kept by `--resume`, so
    /// stages of two runs in one folder are told apart. Nil in checkpoints written before it was
    /// recorded.
    public var runID: String? = nil

    public init() {}

    /// The defaults, as the flags' help texts state them.
    public static let defaults = MEMOConfig()

    enum CodingKeys: String, CodingKey {
        case dataset, dataDir = "data_dir", trainPerClass = "train_per_class", testPerClass = "test_per_class"
        case classOrder = "class_order", imageCacheBytes = "image_cache_bytes", prefix, modelName = "model_name", backbone = "convnet_type"
        case initCls = "init_cls", increment, memorySize = "memory_size", memoryPerClass = "memory_per_class"
        case fixedMemory = "fixed_memory", memoryBudgetBytes = "memory_budget_bytes", seed
        case initEpoch = "init_epoch", initLR = "init_lr", initMilestones = "init_milestones"
        case initLRDecay = "init_lr_decay", initWeightDecay = "init_weight_decay", epochs, lrate, milestones
        case lrateDecay = "lrate_decay", weightDecay = "weight_decay", batchSize = "batch_size", scheduler
        case tMax = "t_max", alphaAux = "alpha_aux", trainBase = "train_base", trainAdaptive = "train_adaptive"
        case evalEvery = "eval_every", threads, ranks, precision, runID = "run_id"
    }

    /// The learning-rate schedule of a stage, as the reference builds it.
    public func schedule(stage: Int) -> LearningRateSchedule {
        switch scheduler {
        case .steplr:
            return stage == 0 ? .multiStep(milestones: initMilestones, gamma: initLRDecay)
                              : .multiStep(milestones: milestones, gamma: lrateDecay)
        case .cosine:
            return .cosine(tMax: stage == 0 ? initEpoch : (tMax ?? epochs))
        }
    }

    public func epochCount(stage: Int) -> Int { stage == 0 ? initEpoch : epochs }
    public func baseLearningRate(stage: Int) -> Double { stage == 0 ? initLR : lrate }
    public func weightDecay(stage: Int) -> Double { stage == 0 ? initWeightDecay : weightDecay }

    /// Exemplars kept per class once `classesSeen` classes are known (the reference's
    /// `samples_per_class`).
    public func exemplarsPerClass(classesSeen: Int) -> Int {
        fixedMemory ? memoryPerClass : memorySize / max(classesSeen, 1)
    }

    /// The run's default folder name: dataset, backbone, split and seed.
    public var runName: String {
        "memo-\(dataset.rawValue)-\(backbone.rawValue)-b\(initCls)-inc\(increment)-ms\(memorySize)-s\(seed)"
    }

    /// The fields a resumed run may take from the command line, because they change no result:
    /// where the data lives and how much of it is cached, how often training prints a test
    /// accuracy, and the thread and rank
    /// counts (which change summation order and batch-norm shards, hence the later stages'
    /// numbers: a resume reports them).
    public static let resumableFields: Set<String> = ["data_dir", "image_cache_bytes", "eval_every", "threads", "ranks"]

    /// The fields (by their JSON names) whose values differ between two configurations.
    public func differences(from other: MEMOConfig) -> [String] {
        guard let a = try? MEMOConfig.flatJSON(self), let b = try? MEMOConfig.flatJSON(other) else { return ["?"] }
        return Set(a.keys).union(b.keys).filter { a[$0] != b[$0] }.sorted()
    }

    /// Each field's JSON text, by name (for comparisons and messages).
    static func flatJSON(_ c: MEMOConfig) throws -> [String: String] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let object = try JSONSerialization.jsonObject(with: encoder.encode(c)) as? [String: Any] else { return [:] }
        return try object.mapValues {
            String(decoding: try JSONSerialization.data(withJSONObject: $0, options: [.fragmentsAllowed, .sortedKeys, .withoutEscapingSlashes]), as: UTF8.self)
        }
    }
}
