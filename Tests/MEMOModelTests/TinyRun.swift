import Foundation
@testable import MEMOModel

/// A tiny synthetic MEMO setting shared by the trainer, checkpoint, inference and reliability
/// tests: 4 classes of 32x32 RGB images whose colour and stripe pattern depend on the class
/// (learnable in a few steps), memo_resnet14, two stages of two classes.
enum TinyRun {
    static let classNames = ["red", "green", "blue", "gray"]

    /// Deterministic images: class c has a dominant channel (gray for c = 3) and stripes with period 2 + c.
    static func imageSet(perClass: Int, seed: UInt64) -> ImageSet {
        var rng = MEMORandom(seed: seed)
        var pixels: [UInt8] = []
        var labels: [Int] = []
        for i in 0..<(perClass * classNames.count) {
            let c = i % classNames.count
            for y in 0..<32 {
                for x in 0..<32 {
                    let stripe = ((x + y) / (2 + c)) % 2 == 0 ? 60 : 0
                    for ch in 0..<3 {
                        let base = (c == 3 || ch == c) ? 150 : 40
                        let noise = rng.below(40)
                        pixels.append(UInt8(min(255, base + stripe + noise)))
                    }
                }
            }
            labels.append(c)
        }
        return ImageSet(pixels: pixels, labels: labels, height: 32, width: 32, channels: 3)
    }

    static func dataset(trainPerClass: Int = 12, testPerClass: Int = 6) -> Dataset {
        Dataset(name: "tiny", kind: .png, classNames: classNames,
                train: imageSet(perClass: trainPerClass, seed: 1), test: imageSet(perClass: testPerClass, seed: 2),
                mean: [0.4, 0.4, 0.4], std: [0.25, 0.25, 0.25], augmentation: .cifar)
    }

    static func config() -> MEMOConfig {
        var c = MEMOConfig()
        c.dataset = .png
        c.backbone = .memoResNet14
        c.initCls = 2
        c.increment = 2
        c.memorySize = 8
        c.initEpoch = 2
        c.epochs = 1
        c.batchSize = 8
        c.initLR = 0.05
        c.lrate = 0.05
        c.trainBase = true
        c.evalEvery = 0
        c.seed = 7
        return c
    }

    /// A trainer on the tiny dataset with the identity class order and silent logs.
    static func trainer(config: MEMOConfig = config()) throws -> MEMOTrainer {
        let t = try MEMOTrainer(config: config, dataset: dataset(), order: [0, 1, 2, 3])
        t.log = { _ in }
        return t
    }

    /// Trains every stage into `dir` (stage-XX.h5 checkpoints) and returns the trainer.
    @discardableResult
    static func run(into dir: String, config: MEMOConfig = config()) throws -> MEMOTrainer {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let t = try trainer(config: config)
        while t.completedStages < t.stageCount {
            let r = try t.trainNextStage()
            try Checkpoint(trainer: t, result: r).write(to: dir + "/" + Checkpoint.fileName(stage: r.stage))
        }
        return t
    }

    /// A new folder under the system's temporary folder, removed when the test process exits
    /// (several hold shared fixtures that outlive any one test).
    static func temporaryDirectory(_ name: String) -> String {
        let dir = NSTemporaryDirectory() + "memo-tests-\(name)-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        TemporaryFolders.shared.add(dir)
        return dir
    }
}

/// The folders `TinyRun.temporaryDirectory` made, removed at exit.
final class TemporaryFolders: @unchecked Sendable {
    static let shared = TemporaryFolders()
    private let lock = NSLock()
    private var paths: [String] = []

    private init() {
        atexit { TemporaryFolders.shared.removeAll() }
    }

    func add(_ path: String) { lock.lock(); paths.append(path); lock.unlock() }

    private func removeAll() {
        lock.lock()
        defer { lock.unlock() }
        for p in paths { try? FileManager.default.removeItem(atPath: p) }
        paths.removeAll()
    }
}
