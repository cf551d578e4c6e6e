import ArgumentParser
import Foundation
import MEMOCommandLine
import MEMOModel

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Turn a PyTorch AdaptiveNet state_dict into a stage checkpoint every subcommand reads.",
        discussion: """
        The state_dict (safetensors, or a torch.save .pt/.pth/.pkl zip file, read without executing \
        anything; a state_dict nested under model_state_dict, as the reference saves it, is found) must hold \
        the reference's AdaptiveNet keys for --convnet_type and the task sizes, with their shapes; a \
        missing or unexpected key, a wrong shape or dtype is named. A DataParallel module. prefix is \
        accepted; num_batches_tracked is not kept. The task sizes are --task-sizes, or the split \
        -init/-incre over the dataset's classes up to the state_dict's number of blocks.

        With the dataset, the stage is evaluated on the test images of the classes seen as memo-train \
        stores it (CNN and NME, so forgetting and confusion work); the exemplar memory is the one \
        listed in a memo-swift export (memo_swift.exemplar_*) when it fits the dataset, else chosen by herding over each \
        class's training images with the imported network (-ms exemplars in all), and the class means \
        come from it. The checkpoint records this in its import_json attribute. Stages imported into \
        one folder are one run (stage-00.h5, stage-01.h5, ...).

        --run SAVED imports a whole folder written by scripts/reference_saver.py (the reference's own \
        training, saved after every task: stage-XX.pt with its sidecar stage-XX.json) into the run \
        folder -o: configuration, task sizes, class order and exemplar list come from each sidecar \
        (only --data-dir and --threads are taken), and each stage's evaluation is compared with the \
        accuracies the reference logged (recorded in import_json.logged); a difference is an error \
        (exit 1) after all stages are written.

        Examples:
          memo-infer import stage-02.safetensors -o run/stage-02.h5 --task-sizes 2,2,2 \\
              --dataset fashion-mnist --convnet_type memo_resnet14_cifar -ms 4000
          memo-infer import adaptivenet.safetensors -o run/stage-04.h5 -init 10 -incre 10 \\
              --dataset cifar100 --data-dir ~/data --convnet_type memo_resnet32 --class-order pycil
          memo-infer import --run saved -o run
        """)

    @Argument(help: "The state_dict file (.safetensors, or a torch.save .pt/.pth); not with --run.") var stateDict: String?
    @Option(name: .customLong("run"), help: "A folder written by scripts/reference_saver.py: import all its stages.")
    var runFolder: String?
    @Option(name: .shortAndLong, help: "Checkpoint to write (RUN/stage-XX.h5, XX = the state_dict's blocks - 1); with --run, the run folder.")
    var output: String
    @Option(name: .customLong("task-sizes"), help: "Classes of each stage, comma-separated (e.g. 10,10,10).")
    var taskSizes: IntList?
    @Option(name: [.customLong("init_cls"), .customLong("init", withSingleDash: true)], parsing: .unconditional,
            help: "Classes in stage 0 (default 10; not with --task-sizes).")
    var initCls: Int?
    @Option(name: [.customLong("increment"), .customLong("incre", withSingleDash: true)], parsing: .unconditional,
            help: "Classes per later stage (default 10; not with --task-sizes).")
    var increment: Int?
    @Option(name: [.customLong("convnet_type"), .customLong("net", withSingleDash: true)], help: "Backbone of the state_dict (required without --run).")
    var backbone: Backbone?
    @Option(name: .customLong("class-order"), help: ArgumentHelp("pycil (PyCIL's seed-1993 order, the default), none (id order) or a file of class ids (whitespace- or comma-separated).", valueName: "pycil|none|file"))
    var classOrder: ClassOrderChoice?
    @Option(help: "fashion-mnist, cifar100, cifar10, png or imagenet100 (required without --run).") var dataset: DatasetKind?
    @Option(name: .customLong("data-dir"), help: "Folder with the dataset files (default: /usr/share/datasets/fashion-mnist, ./data for CIFAR).")
    var dataDir: String?
    @Option(name: .customLong("train-per-class"), parsing: .unconditional, help: "Use only the first N training images of each class.")
    var trainPerClass: Int?
    @Option(name: .customLong("test-per-class"), parsing: .unconditional, help: "Use only the first N test images of each class.")
    var testPerClass: Int?
    @Option(name: [.customLong("memory_size"), .customLong("ms", withSingleDash: true)], parsing: .unconditional,
            help: "Exemplars in total when herding (default 2000).")
    var memorySize: Int?
    @Flag(name: .customLong("train_base"), help: "The run trained the generalized blocks after stage 0 (recorded).") var trainBase = false
    @Flag(name: .customLong("train_adaptive"), help: "The run trained old specialized blocks (recorded).") var trainAdaptive = false
    @OptionGroup var threads: ThreadsOption

    func validate() throws {
        if runFolder != nil {
            guard stateDict == nil else { throw ValidationError("--run takes no state_dict file: it imports the folder's stages") }
            let fromSidecars: [(String, Bool)] = [
                ("--task-sizes", taskSizes != nil), ("-init", initCls != nil), ("-incre", increment != nil),
                ("--convnet_type", backbone != nil), ("--class-order", classOrder != nil), ("--dataset", dataset != nil),
                ("--train-per-class", trainPerClass != nil), ("--test-per-class", testPerClass != nil), ("-ms", memorySize != nil),
                ("--train_base", trainBase), ("--train_adaptive", trainAdaptive)]
            if let given = fromSidecars.first(where: \.1) {
                throw ValidationError("\(given.0) is not taken with --run: each stage's sidecar gives it")
            }
            return
        }
        guard stateDict != nil else { throw ValidationError("give a state_dict file, or --run SAVED_FOLDER") }
        guard backbone != nil else { throw ValidationError("missing --convnet_type") }
        guard dataset != nil else { throw ValidationError("missing --dataset") }
        if let taskSizes {
            guard initCls == nil, increment == nil else { throw ValidationError("--task-sizes and -init/-incre exclude each other") }
            guard !taskSizes.values.isEmpty, taskSizes.values.allSatisfy({ $0 >= 1 }) else {
                throw ValidationError("--task-sizes \(taskSizes): each stage needs 1 or more classes")
            }
        }
        for (name, value) in [("-init", initCls), ("-incre", increment), ("--train-per-class", trainPerClass),
                              ("--test-per-class", testPerClass)] {
            if let value, value < 1 { throw ValidationError("\(name) \(value): must be 1 or more") }
        }
        if let memorySize, memorySize < 0 { throw ValidationError("-ms \(memorySize): must be 0 or more") }
    }

    func run() throws {
        if let runFolder {
            try importRun(runFolder)
            return
        }
        guard let stateDict, let backbone, let dataset else { return }  // validate() requires them
        try checkOutputPath(output, flag: "-o")
        var config = MEMOConfig()
        config.dataset = dataset
        config.dataDir = dataDir
        config.trainPerClass = trainPerClass
        config.testPerClass = testPerClass
        config.classOrder = classOrder ?? .pycil
        config.backbone = backbone
        if let sizes = taskSizes?.values {
            config.initCls = sizes[0]
            config.increment = sizes.count > 1 ? sizes[1] : sizes[0]
        }
        if let initCls { config.initCls = initCls }
        if let increment { config.increment = increment }
        if let memorySize { config.memorySize = memorySize }
        config.trainBase = trainBase
        config.trainAdaptive = trainAdaptive
        config.threads = threads.threads ?? EngineThreads.processDefault
        let request = CheckpointImport.Request(source: stateDict, output: output, config: config, taskSizes: taskSizes?.values)
        let c = try EngineThreads.with(config.threads!) { try CheckpointImport.run(request, log: { printError($0) }) }
        let e = c.evaluation
        printError(String(format: "wrote %@: stage %d (%@, task sizes %@), CNN top-1 %.2f, NME top-1 %.2f on %d test images; exemplars: %@",
                          output, c.stage, c.backbone.rawValue, "\(c.taskSizes)", e.cnn.top1, e.nme?.top1 ?? .nan,
                          c.testIndices.count, c.importInfo?.exemplars ?? "?"))
    }

    /// `--run`: every stage of a reference saver folder, then the logged and imported curves.
    private func importRun(_ folder: String) throws {
        let count = threads.threads ?? EngineThreads.processDefault
        let stages = try EngineThreads.with(count) {
            try ReferenceRunImport.run(directory: folder, output: output, dataDir: dataDir, threads: count, log: { printError($0) })
        }
        for s in stages {
            let e = s.checkpoint.evaluation
            let verdict = s.differences.isEmpty ? "as logged" : "differs: " + s.differences.joined(separator: "; ")
            print(String(format: "%@: stage %d, CNN top-1 %.2f, top-k %.2f, NME top-1 %.2f, top-k %.2f on %d test images; %@",
                         s.output, s.checkpoint.stage, e.cnn.top1, e.cnn.top5, e.nme?.top1 ?? .nan, e.nme?.top5 ?? .nan,
                         s.checkpoint.testIndices.count, verdict))
        }
        let differing = stages.filter { !$0.differences.isEmpty }.map { String($0.checkpoint.stage) }
        if !differing.isEmpty {
            throw StateDictImportError(path: folder, problem: "the imported evaluation differs from the logged accuracies at stage(s) "
                + differing.joined(separator: ", ") + " (stages written to \(output))")
        }
    }
}
