import Foundation
import Testing
@testable import MEMOModel

/// Bad data, bad arguments and foreign checkpoints are refused with a one-line message before any
/// training step runs: each case below lists the exact message a user sees.
@Suite(.serialized)
struct InputValidationTests {
    /// What memo-train does before its first training step: parse the dataset name, load the data,
    /// build the class order and the trainer (which checks the configuration against the data).
    static func prepareRun(_ config: MEMOConfig, order: [Int]? = nil) throws -> MEMOTrainer {
        try config.validate()
        let data = try Dataset.load(kind: config.dataset, dataDir: config.dataDir, trainPerClass: config.trainPerClass,
                                    testPerClass: config.testPerClass)
        let trainer = try MEMOTrainer(config: config, dataset: data,
                                      order: order ?? ClassOrder.identity(data.classNames.count))
        trainer.log = { _ in }
        return trainer
    }

    /// A Fashion-MNIST configuration on a small IDX folder: 2 training images of each class.
    static func config(dataDir: String) -> MEMOConfig {
        var c = MEMOConfig()
        c.dataset = .fashionMNIST
        c.dataDir = dataDir
        c.backbone = .memoResNet14
        c.initCls = 2
        c.increment = 2
        c.memorySize = 20
        return c
    }

    static func message<T>(_ body: () throws -> T) -> String? {
        do { _ = try body(); return nil } catch { return "\(error)" }
    }

    @Test func badDataAndArgumentsAreRefusedBeforeTraining() throws {
        let dir = try DataFixtures.temporaryDirectory("validation")
        defer { DataFixtures.cleanUp(dir) }
        let labels = Array(0..<10) + Array(0..<10)
        try DatasetReaderTests.writeIDXFolder(dir, trainLabels: labels)
        let good = Self.config(dataDir: dir)
        let trainer = try Self.prepareRun(good)
        #expect(trainer.stageCount == 5 && trainer.completedStages == 0)

        var expected: [(String, MEMOConfig, String)] = []
        func add(_ what: String, _ edit: (inout MEMOConfig) -> Void, _ message: String) {
            var c = good
            edit(&c)
            expected.append((what, c, message))
        }
        add("missing folder", { $0.dataDir = dir + "/nope" }, "--data-dir \(dir)/nope: no such directory")
        add("png without a folder", { $0.dataset = .png; $0.dataDir = nil }, "dataset png needs a data directory (--data-dir)")
        add("-init beyond the classes", { $0.initCls = 12 }, "-init 12: must be at most the dataset's 10 classes")
        add("-init 0", { $0.initCls = 0 }, "-init 0: must be 1 or more")
        add("-incre 0", { $0.increment = 0 }, "-incre 0: must be 1 or more")
        add("memory below one exemplar per class", { $0.memorySize = 9 },
            "-ms 9: keeps no exemplar per class once all 10 classes are seen (at least 10)")
        add("fixed memory of zero per class", { $0.fixedMemory = true; $0.memoryPerClass = 0 },
            "--memory_per_class 0: must be 1 or more with --fixed_memory")
        add("batch size 0", { $0.batchSize = 0 }, "--batch_size 0: must be 1 or more")
        // Before, --test-per-class 0 reached the stage evaluation and crashed the process (a try!
        // on "no samples to evaluate").
        add("--test-per-class 0", { $0.testPerClass = 0 }, "--test-per-class 0: must be 1 or more")
        add("--train-per-class 0", { $0.trainPerClass = 0 }, "--train-per-class 0: must be 1 or more")
        add("negative epochs", { $0.epochs = -1 },
            "--epochs -1: must be 0 or more (0: the stages are grown, aligned and evaluated, not trained)")
        add("negative seed", { $0.seed = -3 }, "--seed -3: must be 0 or more")
        add("zero learning rate", { $0.lrate = 0 }, "--lrate 0: must be a positive number")
        add("milestones out of order", { $0.milestones = [80, 40] }, "--milestones 80,40: must be epochs of 1 or more in increasing order")
        add("cosine without t_max", { $0.scheduler = .cosine }, "--scheduler cosine: needs --t_max for the later stages (as the reference does)")
        add("zero threads", { $0.threads = 0 }, "--threads 0: must be 1 or more")
        for (what, config, message) in expected {
            #expect(Self.message { try Self.prepareRun(config) } == message, "\(what)")
        }
        #expect(Self.message { try DatasetKind.parse("mnist") } == "unknown dataset 'mnist' (known: fashion-mnist, cifar100, cifar10, png, imagenet100)")
        #expect(Self.message { try Self.prepareRun(good, order: [0, 1, 2]) }
            == "invalid configuration: class order has 3 entries; dataset 'fashion-mnist' has 10 classes")

        // Data files: a class without training images, wrong record counts, a missing file.
        try DatasetReaderTests.writeIDXFolder(dir, trainLabels: labels.map { $0 == 7 ? 8 : $0 })
        #expect(Self.message { try Self.prepareRun(good) } == "invalid configuration: class 'Sneaker' has no training images")
        let images = dir + "/train-images-idx3-ubyte.gz", labelFile = dir + "/train-labels-idx1-ubyte.gz"
        let twenty = (0..<(20 * 784)).map { UInt8($0 % 251) }
        try DataFixtures.write(DataFixtures.gzip(DataFixtures.idx(dimensions: [21, 28, 28], values: twenty)), to: images)
        #expect(Self.message { try Self.prepareRun(good) }
            == "\(images): 15696 bytes, expected 16480 for 21x28x28 values")
        try DataFixtures.write(DataFixtures.gzip(DataFixtures.idx(dimensions: [20, 28, 28], values: twenty)), to: images)
        try DataFixtures.write(DataFixtures.gzip(DataFixtures.idx(dimensions: [21], values: (0..<21).map { UInt8($0 % 10) })),
                               to: labelFile)
        #expect(Self.message { try Self.prepareRun(good) } == "\(labelFile): 21 labels for as many images, expected 20")
        try FileManager.default.removeItem(atPath: labelFile)
        #expect(Self.message { try Self.prepareRun(good) }
            == "\(labelFile): no such file (nor train-labels-idx1-ubyte)")
        // A class order file that is not a permutation.
        try DataFixtures.write(Array("0 1 2 3 3 5 6 7 8 9\n".utf8), to: dir + "/order.txt")
        #expect(Self.message { try ClassOrder.load(file: dir + "/order.txt", classCount: 10) }
            == "\(dir)/order.txt: invalid class order: class 3 appears twice")
    }

    // MARK: Resume

    @Test func resumeRefusesCheckpointsThatDoNotFitTheRun() throws {
        let run = try CheckpointSurgery.untrainedRun.get()
        let stage0 = try RunFolder.checkpoints(in: run)[0]
        var other = stage0.config
        other.memorySize = 12
        #expect(Self.message { try TinyRun.trainer(config: other).restore(from: [stage0]) }
            == "cannot resume: the run's checkpoints were written with a different configuration")
        #expect(Self.message {
            let t = try MEMOTrainer(config: stage0.config, dataset: TinyRun.dataset(), order: [1, 0, 2, 3])
            try t.restore(from: [stage0])
        } == "cannot resume: the run's checkpoints are of another dataset or class order")

        // An exemplar index beyond the training set (e.g. the dataset on disk shrank since the run):
        // refused at restore; before, training indexed past the images and crashed.
        let dir = try DataFixtures.temporaryDirectory("validation-resume")
        defer { DataFixtures.cleanUp(dir) }
        try CheckpointSurgery.rewrite(run + "/stage-00.h5", to: dir + "/stage-00.h5") { c in
            guard case .int64s(var v, let s)? = c.datasets["memory/train_indices"] else { return }
            v[0] = 48
            c.datasets["memory/train_indices"] = .int64s(v, s)
        }
        let tampered = try RunFolder.checkpoints(in: dir)
        #expect(tampered[0].memory.indicesByClass[0][0] == 48)
        #expect(Self.message { try TinyRun.trainer(config: stage0.config).restore(from: tampered) }
            == "cannot resume: stage-00.h5: exemplar 48 of class 0 is not a training image of that class "
                + "(48 training images); the dataset differs from the run's")
        // An exemplar that is a training image of another class.
        try CheckpointSurgery.rewrite(run + "/stage-00.h5", to: dir + "/stage-00.h5") { c in
            guard case .int64s(var v, let s)? = c.datasets["memory/train_indices"] else { return }
            v[0] = 1  // TinyRun image 1 is of class 1; memory entry 0 is of class 0
            c.datasets["memory/train_indices"] = .int64s(v, s)
        }
        #expect(Self.message { try TinyRun.trainer(config: stage0.config).restore(from: try RunFolder.checkpoints(in: dir)) }
            == "cannot resume: stage-00.h5: exemplar 1 of class 0 is not a training image of that class "
                + "(48 training images); the dataset differs from the run's")
        // The untouched stage restores.
        let t = try TinyRun.trainer(config: stage0.config)
        try t.restore(from: [stage0])
        #expect(t.completedStages == 1 && t.memory == stage0.memory)
    }

    // MARK: Run folders

    @Test func runFolderProblemsNameTheFolderOrTheFile() throws {
        let run = try CheckpointSurgery.untrainedRun.get()
        let dir = try DataFixtures.temporaryDirectory("validation-folder")
        defer { DataFixtures.cleanUp(dir) }
        let missing = dir + "/no-such-run"
        #expect(throws: RunFolderError.noSuchFolder(path: missing)) { try RunFolder.checkpoints(in: missing) }
        #expect(Self.message { try RunFolder.checkpoints(in: missing) } == "\(missing): no such run folder")
        #expect(try RunFolder.checkpoints(in: missing, allowMissing: true).isEmpty)
        // A gap: stage-01.h5 without stage-00.h5 is refused by name, before anything is read.
        try DataFixtures.write(Array("never read".utf8), to: dir + "/stage-01.h5")
        #expect(throws: RunFolderError.stageGap(path: dir + "/stage-01.h5", expected: "stage-00.h5")) {
            try RunFolder.checkpoints(in: dir)
        }
        #expect(Self.message { try RunFolder.checkpoints(in: dir) }
            == "\(dir)/stage-01.h5: expected stage-00.h5 (stages must be consecutive)")
        // A file named stage-00.h5 that holds stage 1.
        try FileManager.default.removeItem(atPath: dir + "/stage-01.h5")
        try FileManager.default.copyItem(atPath: run + "/stage-01.h5", toPath: dir + "/stage-00.h5")
        #expect(throws: RunFolderError.wrongStage(path: dir + "/stage-00.h5", stage: 1)) {
            try RunFolder.checkpoints(in: dir)
        }
        // A log file that cannot be created.
        let log = dir + "/no-such-folder/train.log"
        #expect(throws: RunFolderError.self) { try RunLog(path: log) }
        #expect(Self.message { try RunLog(path: log) } == "\(log): cannot write the log file: No such file or directory")
    }

    @Test func runLogAppendsAcrossReopens() throws {
        let dir = try DataFixtures.temporaryDirectory("validation-log")
        defer { DataFixtures.cleanUp(dir) }
        let path = dir + "/train.log"
        do { let log = try RunLog(path: path); log.write("first run") }
        do { let log = try RunLog(path: path); log.write("resumed"); log.write("done") }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "first run\nresumed\ndone\n")
    }

    // MARK: Format version

    @Test func filesWithoutOrWithANewerFormatVersionAreRefused() throws {
        let run = try CheckpointSurgery.untrainedRun.get()
        let dir = try DataFixtures.temporaryDirectory("validation-format")
        defer { DataFixtures.cleanUp(dir) }
        let path = dir + "/stage-00.h5"
        // Claims to be a checkpoint (format attribute) but has no format_version.
        try CheckpointSurgery.rewrite(run + "/stage-00.h5", to: path) { $0.attributes["format_version"] = nil }
        let missing = #expect(throws: CheckpointError.self) { try Checkpoint.read(path) }
        guard case let .notACheckpoint(p, reason)? = missing else { Issue.record("\(String(describing: missing))"); return }
        #expect(p == path && reason == "no format version")
        // --resume goes through RunFolder.checkpoints: the same refusal, naming the file.
        #expect(Self.message { try RunFolder.checkpoints(in: dir) }
            == "\(path): not a memo-swift checkpoint (no format version)")
        // A newer version.
        try CheckpointSurgery.rewrite(run + "/stage-00.h5", to: path) { $0.attributes["format_version"] = .int(4) }
        let newer = #expect(throws: CheckpointError.self) { try Checkpoint.read(path) }
        guard case let .newerVersion(p2, version)? = newer else { Issue.record("\(String(describing: newer))"); return }
        #expect(p2 == path && version == 4)
        #expect(Self.message { try RunFolder.checkpoints(in: dir) }
            == "\(path): checkpoint format version 4 is newer than this tool reads (3)")
        // An HDF5 file of another tool, and a file that is not HDF5 at all.
        let foreign = try HDF5File.create(path)
        try foreign.write("weights", floats: [1, 2], shape: [2])
        foreign.close()
        #expect(Self.message { try Checkpoint.read(path) }
            == "\(path): not a memo-swift checkpoint (no 'format' attribute)")
        try DataFixtures.write(Array("not a checkpoint".utf8), to: path)
        #expect(Self.message { try Checkpoint.read(path) }
            == "\(path): cannot open: not an HDF5 file (no HDF5 signature found)")
        // The current version loads.
        try FileManager.default.removeItem(atPath: path)
        try FileManager.default.copyItem(atPath: run + "/stage-00.h5", toPath: path)
        #expect(try Checkpoint.read(path).stage == 0)
    }
}
