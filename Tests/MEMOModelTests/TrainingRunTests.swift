import Foundation
import Testing
@testable import MEMOModel

/// `TrainingRun`, what memo-train does between its flags and its exit: new runs carry a run id,
/// a resume keeps the run's configuration (flags that would change it are an error naming each
/// flag, those that may change are reported), a finished run has nothing to do, stages of two runs
/// in one folder are refused everywhere, and users read stages counted from 0.
@Suite(.serialized)
struct TrainingRunTests {
    /// Fashion-MNIST-shaped IDX files with 2 training images per class, identity class order,
    /// two stages of 5 classes, one epoch each, one thread.
    static func config(dataDir: String) -> MEMOConfig {
        var c = MEMOConfig()
        c.dataset = .fashionMNIST
        c.dataDir = dataDir
        c.classOrder = .identity
        c.backbone = .memoResNet14
        c.initCls = 5
        c.increment = 5
        c.memorySize = 10
        c.initEpoch = 1
        c.epochs = 1
        c.batchSize = 5
        c.evalEvery = 0
        c.threads = 1
        return c
    }

    static func dataFolder() throws -> String {
        let dir = try DataFixtures.temporaryDirectory("training-run-data")
        try DatasetReaderTests.writeIDXFolder(dir, trainLabels: Array(0..<10) + Array(0..<10))
        return dir
    }

    /// Runs a request and returns the log lines and the number of stages trained.
    static func run(_ request: TrainingRequest) throws -> (lines: [String], trained: Int) {
        let run = try TrainingRun(request)
        var lines: [String] = []
        run.log = { lines.append($0) }
        let trained = try run.train()
        return (lines, trained)
    }

    static func message<T>(_ body: () throws -> T) -> String? {
        do { _ = try body(); return nil } catch { return "\(error)" }
    }

    @Test func newRunResumeAndConflictingFlags() throws {
        let data = try Self.dataFolder()
        let root = try DataFixtures.temporaryDirectory("training-run")
        defer { DataFixtures.cleanUp(data); DataFixtures.cleanUp(root) }
        let folder = root + "/run"
        let config = Self.config(dataDir: data)
        let first = try Self.run(TrainingRequest(start: .new(folder: folder), config: config, given: []))
        #expect(first.trained == 2)
        let stages = try RunFolder.checkpoints(in: folder)
        #expect(stages.count == 2)
        let id = try #require(stages[0].config.runID)
        #expect(id.count == 16 && stages[1].config.runID == id)
        // Stages are counted from 0 in what the user reads, as in the file names and memo-infer.
        #expect(first.lines.contains("stage 0 of 0-1: classes 0-4 (5 new), trainable parameters 172571"))
        #expect(first.lines.contains { $0.hasPrefix("stage 1 of 0-1: classes 5-9 (5 new)") })
        #expect(first.lines.contains { $0.hasPrefix("  stage 0 epoch 1/1  loss ") })
        // Old-class accuracy is undefined at stage 0 and not printed; the memory line says what is kept.
        let stage0 = try #require(first.lines.first { $0.hasPrefix("  stage 0: CNN top-1") })
        #expect(!stage0.contains("old") && stage0.contains("| new "))
        #expect(first.lines.contains("  memory: 10 exemplars, 2 per class"))
        #expect(first.lines.contains("  memory: 10 exemplars, 1 per class"))
        // A new run into a folder that holds stages is refused.
        #expect(Self.message { try TrainingRun(TrainingRequest(start: .new(folder: folder), config: config, given: [])) }
            == "invalid configuration: \(folder) already holds checkpoints; use --resume \(folder) or another --out")

        // A finished run: nothing to do, and nothing written.
        let finished = try Self.run(TrainingRequest(start: .resume(folder: folder), config: MEMOConfig(), given: []))
        #expect(finished.trained == 0 && finished.lines == ["\(folder): nothing to do, all 2 stages (0-1) are trained"])

        // Flags that would change the run are an error naming each; repeating a value is fine.
        var flags = MEMOConfig()
        flags.epochs = 5; flags.memorySize = 12; flags.dataset = .cifar100; flags.initCls = 5
        #expect(Self.message { try TrainingRun(TrainingRequest(start: .resume(folder: folder), config: flags,
                                                               given: ["epochs", "memory_size", "dataset", "init_cls"])) }
            == "cannot resume: a resumed run keeps its configuration; --dataset cifar100 (the run has fashion-mnist), "
                + "--epochs 5 (the run has 1), -ms 12 (the run has 10) would change it "
                + "(only --data-dir, --image-cache, --eval-every and --threads may be given)")
        #expect(Self.message { try TrainingRun(TrainingRequest(start: .resume(folder: folder), config: flags, given: [],
                                                               memoryBudget: "4MiB")) }
            == "cannot resume: a resumed run keeps its configuration; --memory-budget 4MiB (the run has -ms 10) would change it "
                + "(only --data-dir, --image-cache, --eval-every and --threads may be given)")

        // Resume after stage 0 with another thread count: reported, then stage 1 trained again.
        try FileManager.default.removeItem(atPath: folder + "/stage-01.h5")
        flags = MEMOConfig()
        flags.threads = 2; flags.epochs = 1
        let resumed = TrainingRequest(start: .resume(folder: folder), config: flags, given: ["threads", "epochs"])
        let second = try Self.run(resumed)
        #expect(second.trained == 1)
        #expect(second.lines.first == "resuming \(folder) after stage 0 (stage-00.h5)")
        #expect(second.lines.contains("note: --threads 2 replaces the run's 1: the later stages will differ from an "
            + "uninterrupted run (runs are reproducible per seed and thread count)"))
        let after = try RunFolder.checkpoints(in: folder)
        #expect(after.count == 2 && after[1].config.runID == id && after[1].config.threads == 2)
    }

    @Test func partialSplitsAndMemoriesBeyondTheTrainingSetGetANote() throws {
        let data = try Self.dataFolder()
        let root = try DataFixtures.temporaryDirectory("training-run-notes")
        defer { DataFixtures.cleanUp(data); DataFixtures.cleanUp(root) }
        var config = Self.config(dataDir: data)
        config.initCls = 3; config.increment = 3; config.memorySize = 30; config.initEpoch = 0; config.epochs = 0
        let run = try Self.run(TrainingRequest(start: .new(folder: root + "/run"), config: config, given: []))
        #expect(run.lines.prefix(2) == [
            "note: -init 3 -incre 3 over 10 classes: the last stage takes the remaining 1 class(es) (tasks [3, 3, 3, 1])",
            "note: -ms 30 exceeds the 20 training images: the memory keeps every image of the classes seen so far, "
                + "which is rehearsal of the whole training set, not a MEMO memory budget",
        ])
        // A single new class reads as one class, not as a range.
        #expect(run.lines.contains { $0.hasPrefix("stage 3 of 0-3: class 9 (1 new)") })
    }

    @Test func memorySizeAndBudgetExcludeEachOther() throws {
        var c = MEMOConfig()
        c.memorySize = 20
        let request = TrainingRequest(start: .new(folder: "/nonexistent/never-created"), config: c, given: ["memory_size"],
                                      memoryBudget: "4.77MiB")
        // Before, -ms 20 was silently replaced by what the budget derives.
        #expect(throws: ConfigError(flag: "-ms", value: "20", allowed: "cannot be given with --memory-budget 4.77MiB, which derives it")) {
            try request.validate()
        }
        #expect(Self.message { try TrainingRun(request) } == "-ms 20: cannot be given with --memory-budget 4.77MiB, which derives it")
        let unreadable = TrainingRequest(start: .new(folder: nil), config: MEMOConfig(), given: [], memoryBudget: "lots")
        #expect(Self.message { try unreadable.validate() } == "--memory-budget lots: is not a byte size (e.g. 23.54MiB, 24684160, 512KiB)")
    }

    @Test func stagesOfTwoRunsInOneFolderAreRefused() throws {
        let data = try Self.dataFolder()
        let root = try DataFixtures.temporaryDirectory("training-run-mixed")
        defer { DataFixtures.cleanUp(data); DataFixtures.cleanUp(root) }
        var config = Self.config(dataDir: data)
        config.initEpoch = 0
        config.epochs = 0
        _ = try Self.run(TrainingRequest(start: .new(folder: root + "/a"), config: config, given: []))
        config.seed = 5
        _ = try Self.run(TrainingRequest(start: .new(folder: root + "/b"), config: config, given: []))
        let a = try RunFolder.checkpoints(in: root + "/a"), b = try RunFolder.checkpoints(in: root + "/b")
        let mixed = root + "/mixed"
        try FileManager.default.createDirectory(atPath: mixed, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: root + "/a/stage-00.h5", toPath: mixed + "/stage-00.h5")
        try FileManager.default.copyItem(atPath: root + "/b/stage-01.h5", toPath: mixed + "/stage-01.h5")
        // Before, --resume continued such a folder and memo-infer forgetting reported across it.
        let ids = "run id (\(a[0].config.runID!), \(b[1].config.runID!))"
        #expect(throws: RunFolderError.mixedRuns(first: mixed + "/stage-00.h5", other: mixed + "/stage-01.h5", differences: [ids])) {
            try RunFolder.checkpoints(in: mixed)
        }
        #expect(Self.message { try TrainingRun(TrainingRequest(start: .resume(folder: mixed), config: MEMOConfig(), given: [])) }
            == "\(mixed)/stage-01.h5 and \(mixed)/stage-00.h5 are stages of different runs (they differ in \(ids)); "
                + "a run folder holds the stages of one run")

        // Files written before run ids: told apart by their configurations.
        for (source, name) in [(root + "/a/stage-00.h5", "stage-00.h5"), (root + "/b/stage-01.h5", "stage-01.h5")] {
            try CheckpointSurgery.rewrite(source, to: mixed + "/" + name) { c in
                guard case .string(let json)? = c.attributes["config_json"] else { return }
                var object = (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any] ?? [:]
                object["run_id"] = nil
                let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
                c.attributes["config_json"] = .string(String(decoding: data, as: UTF8.self))
            }
        }
        #expect(try Checkpoint.read(mixed + "/stage-00.h5").config.runID == nil)
        #expect(throws: RunFolderError.mixedRuns(first: mixed + "/stage-00.h5", other: mixed + "/stage-01.h5", differences: ["seed"])) {
            try RunFolder.checkpoints(in: mixed)
        }
    }

    @Test func configurationJSONReadsOlderSpellings() throws {
        // Checkpoints of earlier versions spell the backbone with the reference's alias and the
        // dataset as typed; they have no run id nor thread count.
        var object = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(MEMOConfig())) as? [String: Any])
        object["convnet_type"] = "resnet32"; object["dataset"] = "Fashion_MNIST"; object["class_order"] = "none"; object["prefix"] = "fair"
        let old = try JSONSerialization.data(withJSONObject: object)
        let c = try JSONDecoder().decode(MEMOConfig.self, from: old)
        #expect(c.dataset == .fashionMNIST && c.backbone == .memoResNet32 && c.classOrder == .identity && c.prefix == .fair)
        #expect(c.initEpoch == MEMOConfig.defaults.initEpoch && c.runID == nil && c.threads == nil)
        object["class_order"] = "/data/order.txt"
        let file = try JSONDecoder().decode(MEMOConfig.self, from: JSONSerialization.data(withJSONObject: object))
        #expect(file.classOrder == .file("/data/order.txt"))
        object["convnet_type"] = "resnet1000"
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(MEMOConfig.self, from: JSONSerialization.data(withJSONObject: object)) }
        var der = MEMOConfig()
        der.modelName = "der"
        #expect(throws: ConfigError(flag: "-model", value: "der", allowed: "only memo is implemented")) { try der.validate() }
        // Round trip, and the reference's key names.
        var d = MEMOConfig()
        d.classOrder = .file("/data/order.txt"); d.runID = "00ff00ff00ff00ff"; d.threads = 2
        let json = try JSONEncoder().encode(d)
        #expect(try JSONDecoder().decode(MEMOConfig.self, from: json) == d)
        let keys = Set(((try JSONSerialization.jsonObject(with: json)) as? [String: Any] ?? [:]).keys)
        #expect(keys.isSuperset(of: ["convnet_type", "init_cls", "memory_size", "class_order", "run_id", "threads", "model_name"]))
        #expect(d.differences(from: MEMOConfig()) == ["class_order", "run_id", "threads"])
        #expect(d.fieldText("class_order") == "/data/order.txt" && MEMOConfig().fieldText("t_max") == "unset")
    }
}
