import ArgumentParser
import Foundation
import MEMOCommandLine
import MEMOModel

/// Collects the flags a user gave into a configuration and the set of fields they set.
struct ConfigBuilder {
    var config = MEMOConfig()
    var given: Set<String> = []

    mutating func set<T>(_ value: T?, _ field: String, _ path: WritableKeyPath<MEMOConfig, T>) {
        guard let value else { return }
        config[keyPath: path] = value
        given.insert(field)
    }

    mutating func set<T>(_ value: T?, _ field: String, _ path: WritableKeyPath<MEMOConfig, T?>) {
        guard let value else { return }
        config[keyPath: path] = value
        given.insert(field)
    }
}

private let defaults = MEMOConfig.defaults

/// Data flags.
struct DataOptions: ParsableArguments {
    @Option(name: .customLong("dataset"), help: "Dataset (default \(defaults.dataset.rawValue)).")
    var dataset: DatasetKind?
    @Option(name: .customLong("data-dir"), help: "Folder with the dataset files (default: /usr/share/datasets/fashion-mnist, ./data for CIFAR, binary or python version; png and imagenet100 need one).")
    var dataDir: String?
    @Option(name: .customLong("train-per-class"), parsing: .unconditional, help: "Use only the first N training images of each class (1 or more).")
    var trainPerClass: Int?
    @Option(name: .customLong("test-per-class"), parsing: .unconditional, help: "Use only the first N test images of each class (1 or more).")
    var testPerClass: Int?
    @OptionGroup var imageCache: ImageCacheOption
    @Flag(name: .customLong("no-shuffle"), help: "Classes in id order instead of PyCIL's seed-1993 order.")
    var noShuffle = false
    @Option(name: .customLong("class-order"), help: ArgumentHelp("pycil (PyCIL's seed-1993 order, the default), none (id order, as --no-shuffle) or a file of class ids (whitespace- or comma-separated).", valueName: "pycil|none|file"))
    var classOrder: ClassOrderChoice?

    func validate() throws {
        if noShuffle && classOrder != nil { throw ValidationError("--no-shuffle and --class-order exclude each other") }
    }

    func apply(to b: inout ConfigBuilder) {
        b.set(dataset, "dataset", \.dataset)
        b.set(dataDir, "data_dir", \.dataDir)
        b.set(trainPerClass, "train_per_class", \.trainPerClass)
        b.set(testPerClass, "test_per_class", \.testPerClass)
        b.set(try? imageCache.bytes, "image_cache_bytes", \.imageCacheBytes)
        b.set(classOrder ?? (noShuffle ? .identity : nil), "class_order", \.classOrder)
    }
}

/// The protocol: method, backbone, split, memory, seed.
struct ProtocolOptions: ParsableArguments {
    @Option(name: [.customLong("model_name"), .customLong("model", withSingleDash: true)], help: "Method (only memo).")
    var modelName: String?
    @Option(name: [.customLong("convnet_type"), .customLong("net", withSingleDash: true)],
            help: "Backbone (default \(defaults.backbone.rawValue)).")
    var backbone: Backbone?
    @Option(name: [.customLong("prefix"), .customShort("p")], help: "Experiment protocol label (default \(defaults.prefix.rawValue)).")
    var prefix: MEMOConfig.ExperimentProtocol?
    @Option(name: [.customLong("init_cls"), .customLong("init", withSingleDash: true)], parsing: .unconditional, help: "Classes in stage 0 (default \(defaults.initCls)).")
    var initCls: Int?
    @Option(name: [.customLong("increment"), .customLong("incre", withSingleDash: true)], parsing: .unconditional, help: "Classes per later stage (default \(defaults.increment)).")
    var increment: Int?
    @Option(name: [.customLong("memory_size"), .customLong("ms", withSingleDash: true)], parsing: .unconditional, help: "Exemplars in total (default \(defaults.memorySize)).")
    var memorySize: Int?
    @Option(name: .customLong("memory-budget"), help: "Total budget (model + exemplars), e.g. 23.54MiB; derives -ms (not with -ms).")
    var memoryBudget: String?
    @Option(name: .customLong("memory_per_class"), parsing: .unconditional, help: "Exemplars per class with --fixed_memory (default \(defaults.memoryPerClass)).")
    var memoryPerClass: Int?
    @Flag(name: .customLong("fixed_memory"), help: "Keep memory_per_class exemplars per class.")
    var fixedMemory = false
    @Option(name: .customLong("seed"), parsing: .unconditional, help: "Seed of initialisation, batches and augmentation (default \(defaults.seed); the class order is PyCIL's 1993 permutation regardless).")
    var seed: Int?
    @Option(name: .customShort("d"), parsing: .upToNextOption, help: "GPU ids of the reference; accepted and ignored (CPU only).")
    var device: [String] = []

    func apply(to b: inout ConfigBuilder) {
        b.set(modelName?.lowercased(), "model_name", \.modelName)
        b.set(backbone, "convnet_type", \.backbone)
        b.set(prefix, "prefix", \.prefix)
        b.set(initCls, "init_cls", \.initCls)
        b.set(increment, "increment", \.increment)
        b.set(memorySize, "memory_size", \.memorySize)
        b.set(memoryPerClass, "memory_per_class", \.memoryPerClass)
        b.set(fixedMemory ? true : nil, "fixed_memory", \.fixedMemory)
        b.set(seed, "seed", \.seed)
    }
}

/// Optimisation flags, the reference's names.
struct OptimizationOptions: ParsableArguments {
    @Option(name: .customLong("init_epoch"), parsing: .unconditional, help: "Epochs of stage 0 (default \(defaults.initEpoch)).") var initEpoch: Int?
    @Option(name: .customLong("init_lr"), parsing: .unconditional, help: "Learning rate of stage 0 (default \(defaults.initLR)).") var initLR: Double?
    @Option(name: .customLong("init_milestones"), parsing: .unconditional, help: "Stage-0 milestones, comma-separated (default \(IntList(defaults.initMilestones))).")
    var initMilestones: IntList?
    @Option(name: .customLong("init_lr_decay"), parsing: .unconditional, help: "Stage-0 milestone gamma (default \(defaults.initLRDecay)).") var initLRDecay: Double?
    @Option(name: .customLong("init_weight_decay"), parsing: .unconditional, help: "Stage-0 weight decay (default \(defaults.initWeightDecay)).") var initWeightDecay: Double?
    @Option(name: .customLong("epochs"), parsing: .unconditional, help: "Epochs of later stages (default \(defaults.epochs)).") var epochs: Int?
    @Option(name: .customLong("lrate"), parsing: .unconditional, help: "Learning rate of later stages (default \(defaults.lrate)).") var lrate: Double?
    @Option(name: .customLong("milestones"), parsing: .unconditional, help: "Later-stage milestones, comma-separated (default \(IntList(defaults.milestones))).")
    var milestones: IntList?
    @Option(name: .customLong("lrate_decay"), parsing: .unconditional, help: "Later-stage milestone gamma (default \(defaults.lrateDecay)).") var lrateDecay: Double?
    @Option(name: .customLong("weight_decay"), parsing: .unconditional, help: "Weight decay of later stages (default \(defaults.weightDecay)).") var weightDecay: Double?
    @Option(name: .customLong("batch_size"), parsing: .unconditional, help: "Batch size (default \(defaults.batchSize)).") var batchSize: Int?
    @Option(name: .customLong("scheduler"), help: "Learning-rate schedule (default \(defaults.scheduler.rawValue)).") var scheduler: MEMOConfig.Scheduler?
    @Option(name: .customLong("t_max"), parsing: .unconditional, help: "Cosine T_max of later stages.") var tMax: Int?
    @Option(name: .customLong("alpha_aux"), parsing: .unconditional, help: "Weight of the auxiliary loss (default \(defaults.alphaAux)).") var alphaAux: Double?
    @Flag(name: .customLong("train_base"), help: "Keep training the generalized blocks after stage 0.") var trainBase = false
    @Flag(name: .customLong("train_adaptive"), help: "Keep training old specialized blocks.") var trainAdaptive = false
    @Option(name: .customLong("eval-every"), parsing: .unconditional, help: "Test accuracy every N epochs during training, 0: never (default \(defaults.evalEvery)).")
    var evalEvery: Int?

    func apply(to b: inout ConfigBuilder) {
        b.set(initEpoch, "init_epoch", \.initEpoch)
        b.set(initLR, "init_lr", \.initLR)
        b.set(initMilestones?.values, "init_milestones", \.initMilestones)
        b.set(initLRDecay, "init_lr_decay", \.initLRDecay)
        b.set(initWeightDecay, "init_weight_decay", \.initWeightDecay)
        b.set(epochs, "epochs", \.epochs)
        b.set(lrate, "lrate", \.lrate)
        b.set(milestones?.values, "milestones", \.milestones)
        b.set(lrateDecay, "lrate_decay", \.lrateDecay)
        b.set(weightDecay, "weight_decay", \.weightDecay)
        b.set(batchSize, "batch_size", \.batchSize)
        b.set(scheduler, "scheduler", \.scheduler)
        b.set(tMax, "t_max", \.tMax)
        b.set(alphaAux, "alpha_aux", \.alphaAux)
        b.set(trainBase ? true : nil, "train_base", \.trainBase)
        b.set(trainAdaptive ? true : nil, "train_adaptive", \.trainAdaptive)
        b.set(evalEvery, "eval_every", \.evalEvery)
    }
}

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

        With --resume the run keeps its configuration: a flag that would change it is an error; \
        --data-dir, --eval-every and --threads may be given and are reported.
        """)

    @OptionGroup(title: "Data") var data: DataOptions
    @OptionGroup(title: "Protocol") var protocolOptions: ProtocolOptions
    @OptionGroup(title: "Optimisation") var optimization: OptimizationOptions
    @Option(name: .customLong("out"), help: "Run folder (default checkpoints/<run name>).") var out: String?
    @OptionGroup var threads: ThreadsOption
    @OptionGroup var precision: PrecisionOption
    @Option(name: .customLong("resume"), help: "Continue the run in this folder from its last finished stage.") var resume: String?

    /// The request the flags make; its configuration is validated here, before any folder is touched.
    func request() throws -> TrainingRequest {
        var b = ConfigBuilder()
        data.apply(to: &b)
        protocolOptions.apply(to: &b)
        optimization.apply(to: &b)
        b.set(threads.threads, "threads", \.threads)
        b.set(precision.precision, "precision", \.precision)
        if resume != nil && out != nil {
            throw ValidationError("--out and --resume exclude each other (a resumed run stays in its folder)")
        }
        let request = TrainingRequest(start: resume.map { .resume(folder: $0) } ?? .new(folder: out), config: b.config,
                                      given: b.given, memoryBudget: protocolOptions.memoryBudget)
        try request.validate()
        return request
    }

    func validate() throws {
        do { _ = try request() } catch let rule as ConfigError { throw ValidationError(rule.description) }
    }

    func run() throws {
        // Under mpirun with 2 or more processes every rank trains its shard; rank 0 prints and writes.
        let world = Communicator.world
        let lead = (world?.rank ?? 0) == 0
        if lead, !protocolOptions.device.isEmpty { print("note: -d \(protocolOptions.device.joined(separator: " ")) ignored: memo-train runs on the CPU") }
        let run = try TrainingRun(try request(), parallel: world.map(DataParallel.mpi) ?? .single)
        if lead {
            run.log = { line in print(line); fflush(stdout) }
            if isatty(1) != 0 { run.progress = { line in print("\r" + line, terminator: ""); fflush(stdout) } }
        } else {
            run.log = { _ in }
        }
        if let path = ProcessInfo.processInfo.environment["MEMO_STEP_DIGESTS"] {
            // One line per SGD step (stage epoch batch digest), per rank: to check a data-parallel run
            // step by step against its single-process oracle.
            let file = try RunLog(path: path + (world.map { ".rank\($0.rank)" } ?? ""))
            run.afterStep = { net, stage, epoch, batch in file.write("\(stage) \(epoch) \(batch) \(String(net.parameterDigest(), radix: 16))") }
        }
        try run.train()
        world?.finalize()
    }
}
