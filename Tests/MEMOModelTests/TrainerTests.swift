import Foundation
import Testing
@testable import MEMOModel

/// The trainer's pieces on hand-computed cases (herding, class means, `fc` growth, weight align)
/// and whole tiny runs (TinyRun: 4 synthetic classes, memo_resnet14, stages of 2 + 2): checkpoints
/// reload to the same network, a resumed run equals an uninterrupted one, a non-finite loss
/// stops the stage without touching the run's checkpoints.
///
/// Serialized: the whole-run tests drive oneDNN, which must not run on two threads of one suite.
@Suite(.serialized)
struct TrainerTests {
    // MARK: Herding

    /// Three 2-D features, by hand. Normalised (norm + 1e-8, negligible here):
    ///   x0 = (1, 0), x1 = (0, 1), x2 = (3, 4) / 5 = (0.6, 0.8); target μ = (1.6/3, 1.8/3) = (0.5333, 0.6).
    /// k = 1: |μ − x0|² = 0.2178 + 0.36 = 0.5778, |μ − x1|² = 0.2844 + 0.16 = 0.4444,
    ///        |μ − x2|² = 0.0044 + 0.04 = 0.0444             -> x2.
    /// k = 2: S = x2; |μ − (S + x0)/2|² = |μ − (0.8, 0.4)|² = 0.0711 + 0.04 = 0.1111,
    ///        |μ − (S + x1)/2|² = |μ − (0.3, 0.9)|² = 0.0544 + 0.09 = 0.1444 -> x0.
    ///        (Taking x2 again would give |μ − x2|² = 0.0444, the smallest: "no image twice" matters.)
    /// k = 3: only x1 is left                                  -> x1.
    /// Herding order [2, 0, 1]; ordering by distance to the mean would give [2, 1, 0].
    static let herdingFeatures: [Float] = [1, 0, 0, 1, 3, 4]

    @Test func herdingPicksTheHandComputedOrder() {
        let f = Self.herdingFeatures
        #expect(Herding.select(features: f, dimension: 2, m: 1) == [2])
        #expect(Herding.select(features: f, dimension: 2, m: 2) == [2, 0])
        #expect(Herding.select(features: f, dimension: 2, m: 3) == [2, 0, 1])
        // Raw scale does not matter (features are normalised first).
        #expect(Herding.select(features: f.map { $0 * 7 }, dimension: 2, m: 3) == [2, 0, 1])
        #expect(Herding.select(features: f, dimension: 2, m: 0) == [])
    }

    @Test func herdingNeverPicksAnImageTwiceAndStopsAtN() {
        // m > n: every row once, then stop.
        let all = Herding.select(features: Self.herdingFeatures, dimension: 2, m: 10)
        #expect(all == [2, 0, 1])
        // Identical rows are distinct images: both are taken, lowest index first (numpy argmin).
        let twins: [Float] = [2, 0, 2, 0, 0, 5]
        // μ = (2/3, 1/3); k = 1: |μ − (1,0)|² = 0.2222 < |μ − (0,1)|² = 0.8889 -> row 0 (tie with row 1: lowest);
        // k = 2: (S + (1,0))/2 = (1, 0) gives 0.2222, (S + (0,1))/2 = (0.5, 0.5) gives 0.0556 -> row 2; then row 1.
        #expect(Herding.select(features: twins, dimension: 2, m: 3) == [0, 2, 1])
        #expect(Herding.select(features: twins, dimension: 2, m: 5) == [0, 2, 1])
        // No images at all.
        #expect(Herding.select(features: [], dimension: 2, m: 3) == [])
    }

    @Test func classMeanIsTheRenormalisedMeanOfNormalisedFeatures() {
        // Normalised rows (1,0), (0,1), (0.6,0.8); mean (1.6, 1.8)/3; renormalised (1.6, 1.8)/√5.8.
        let m = Herding.classMean(features: Self.herdingFeatures, dimension: 2)
        let norm = (5.8 as Double).squareRoot()
        #expect(m.count == 2)
        #expect(abs(Double(m[0]) - 1.6 / norm) < 1e-6 && abs(Double(m[1]) - 1.8 / norm) < 1e-6)
        // Each row counts by direction only: scaling one row changes nothing.
        let scaled = Herding.classMean(features: [10, 0, 0, 1, 3, 4], dimension: 2)
        #expect(zip(scaled, m).allSatisfy { abs($0 - $1) < 1e-6 })
        // All-zero features have no direction: the mean is zero, not NaN.
        #expect(Herding.classMean(features: [0, 0, 0, 0], dimension: 2) == [0, 0])
    }

    // MARK: fc growth and weight align

    @Test func growingFCKeepsTheOldLogits() throws {
        // A network after a trained stage 0 (non-trivial weights and BN running statistics).
        let trainer = try TinyRun.trainer()
        _ = try trainer.trainNextStage()
        let net = trainer.network
        let data = trainer.dataset
        let batch = Array(0..<8)
        let before = net.infer(data.test, indices: batch, mean: data.mean, std: data.std)
        let oldW = net.fc!.weight.value, oldB = net.fc!.bias.value
        #expect(oldW.shape == [2, 64] && before.featureWidth == 64)

        var rng = MEMORandom(seed: 99)
        var replay = rng  // addStage's only draws at stage 1: the new fc, then the new auxFC.
        net.addStage(newClasses: 2, rng: &rng)
        let fresh = Linear(inFeatures: 128, outFeatures: 4, rng: &replay)
        let w = net.fc!.weight.value, b = net.fc!.bias.value
        #expect(w.shape == [4, 128] && b.shape == [4])
        for r in 0..<4 {
            for c in 0..<128 {
                let expected = r < 2 && c < 64 ? oldW.data[r * 64 + c] : fresh.weight.value.data[r * 128 + c]
                #expect(w.data[r * 128 + c] == expected, "fc.weight[\(r), \(c)]")
            }
        }
        #expect(b.data == [oldB.data[0], oldB.data[1], 0, 0])

        let after = net.infer(data.test, indices: batch, mean: data.mean, std: data.std)
        #expect(after.featureWidth == 128 && after.classCount == 4)
        var worst: Float = 0
        for i in 0..<batch.count {
            // The old block's features are unchanged (it is the same block, in eval mode).
            #expect(Array(after.features[(i * 128)..<(i * 128 + 64)]) == Array(before.features[(i * 64)..<(i * 64 + 64)]))
            for r in 0..<2 {
                var extra: Float = 0
                for c in 64..<128 { extra += w.data[r * 128 + c] * after.features[i * 128 + c] }
                let expected = before.logits[i * 2 + r] + extra
                worst = max(worst, abs(after.logits[i * 4 + r] - expected))
            }
        }
        // Float32 sums of 64 more products in a different order: a few ulps of the logits' scale.
        #expect(worst < 1e-4, "old rows' logits differ from old logits + new columns · new features by \(worst)")
    }

    @Test func weightAlignScalesTheNewRowsByTheRatioOfMeanNorms() {
        var rng = MEMORandom(seed: 3)
        let net = MEMONetwork(backbone: .memoResNet14, rng: &rng)
        net.addStage(newClasses: 2, rng: &rng)
        net.addStage(newClasses: 2, rng: &rng)
        let fc = net.fc!
        #expect(fc.weight.shape == [4, 128])
        // Row norms by hand: old rows 5 (3,4) and 1; new rows 2 and 10 (6,8).
        // gamma = mean(5, 1) / mean(2, 10) = 3 / 6 = 0.5.
        var w = [Float](repeating: 0, count: 4 * 128)
        w[0 * 128 + 0] = 3; w[0 * 128 + 100] = 4
        w[1 * 128 + 7] = -1
        w[2 * 128 + 64] = 2
        w[3 * 128 + 1] = 6; w[3 * 128 + 127] = -8
        fc.weight.value.data = w
        fc.bias.value.data = [0.1, 0.2, 0.3, 0.4]
        let gamma = net.weightAlign(increment: 2)
        #expect(gamma == 0.5)
        var expected = w
        for i in (2 * 128)..<(4 * 128) { expected[i] *= 0.5 }
        #expect(fc.weight.value.data == expected)
        #expect(fc.bias.value.data == [0.1, 0.2, 0.3, 0.4])

        // Increment 1 on the same matrix: old rows 5, 1, 1 (after the scaling above), new row 5:
        // gamma = (7/3) / 5 = 7/15.
        let g2 = net.weightAlign(increment: 1)
        #expect(abs(Double(g2) - 7.0 / 15.0) < 1e-6)
        #expect(fc.weight.value.data[3 * 128 + 1] == 3 * g2 && fc.weight.value.data[3 * 128 + 127] == -4 * g2)
        #expect(Array(fc.weight.value.data[0..<(3 * 128)]) == Array(expected[0..<(3 * 128)]))
    }

    // MARK: Whole tiny runs

    /// The uninterrupted reference run, trained once for the suite: its folder and, per stage, the
    /// trainer's test logits and state right after the stage.
    final class ReferenceRun {
        let dir: String
        var logits: [[Float]] = []
        var memory: [ExemplarMemory] = []
        var classMeans: [[[Float]]] = []
        var rngState: [[UInt64]] = []
        var evaluations: [StageEvaluation] = []
        let testIndices: [Int]

        init() throws {
            dir = TinyRun.temporaryDirectory("trainer-reference")
            let t = try TinyRun.trainer()
            testIndices = Array(0..<t.dataset.test.count)
            while t.completedStages < t.stageCount {
                let r = try t.trainNextStage()
                try Checkpoint(trainer: t, result: r).write(to: dir + "/" + Checkpoint.fileName(stage: r.stage))
                logits.append(t.network.infer(t.dataset.test, indices: testIndices, mean: t.dataset.mean,
                                              std: t.dataset.std).logits)
                memory.append(t.memory)
                classMeans.append(t.classMeans)
                rngState.append(t.rng.stateWords)
                evaluations.append(r.evaluation)
            }
        }
    }

    nonisolated(unsafe) static let reference: Result<ReferenceRun, Error> = Result { try ReferenceRun() }

    @Test func twoStagesWriteCheckpointsThatReloadToTheSameNetwork() throws {
        let run = try Self.reference.get()
        let names = try FileManager.default.contentsOfDirectory(atPath: run.dir).filter { !$0.hasPrefix(".") }.sorted()
        #expect(names == ["stage-00.h5", "stage-01.h5"])
        let data = TinyRun.dataset()
        for stage in 0..<2 {
            let c = try Checkpoint.read(run.dir + "/" + Checkpoint.fileName(stage: stage))
            #expect(c.stage == stage && c.taskSizes == Array(repeating: 2, count: stage + 1))
            #expect(c.memory == run.memory[stage] && c.classMeans == run.classMeans[stage])
            #expect(c.rngState == run.rngState[stage] && c.evaluation == run.evaluations[stage])
            #expect(c.memory.count == 8 && c.memory.indicesByClass.count == 2 * (stage + 1))
            let net = try c.makeNetwork()
            let logits = net.infer(data.test, indices: run.testIndices, mean: data.mean, std: data.std).logits
            #expect(logits.count == run.testIndices.count * 2 * (stage + 1))
            // Bitwise: the same weights through the same kernels.
            #expect(logits.map(\.bitPattern) == run.logits[stage].map(\.bitPattern))
        }
        let all = try RunFolder.checkpoints(in: run.dir)
        #expect(all.map(\.stage) == [0, 1])
    }

    /// Everything a stage's checkpoint holds, compared field by field (tensors bitwise).
    static func expectIdentical(_ a: Checkpoint, _ b: Checkpoint, _ what: String) {
        let differing = CheckpointSurgery.differences(a, b)
        #expect(differing.isEmpty, "\(what): differ in \(differing.prefix(8)) (\(differing.count) fields)")
    }

    @Test func resumeAfterAKillEqualsTheUninterruptedRun() throws {
        let run = try Self.reference.get()
        let dir = TinyRun.temporaryDirectory("trainer-resume")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            // The first process: stage 0, its checkpoint, then "killed" (the trainer is dropped).
            let first = try TinyRun.trainer()
            let r = try first.trainNextStage()
            try Checkpoint(trainer: first, result: r).write(to: dir + "/" + Checkpoint.fileName(stage: 0))
            // ... and killed again while writing stage 1: a half-written temporary file remains.
            _ = FileManager.default.createFile(atPath: dir + "/.stage-01.h5.k1ll3d.tmp", contents: Data([0x89, 0x48, 0x44]))
            // A hidden file of the user's that merely ends in ".tmp" is not ours to delete.
            _ = FileManager.default.createFile(atPath: dir + "/.notes.draft.tmp", contents: Data("keep".utf8))
        }
        // The second process: a fresh trainer restored from the folder, the leftover ignored, then removed.
        let second = try TinyRun.trainer()
        try second.restore(from: RunFolder.checkpoints(in: dir))
        #expect(try RunFolder.removeInterruptedWrites(in: dir) == [".stage-01.h5.k1ll3d.tmp"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == [".notes.draft.tmp", Checkpoint.fileName(stage: 0)])
        try FileManager.default.removeItem(atPath: dir + "/.notes.draft.tmp")
        #expect(second.completedStages == 1 && second.network.taskSizes == [2])
        let r = try second.trainNextStage()
        #expect(r.stage == 1)
        try Checkpoint(trainer: second, result: r).write(to: dir + "/" + Checkpoint.fileName(stage: 1))

        for stage in 0..<2 {
            let resumed = try Checkpoint.read(dir + "/" + Checkpoint.fileName(stage: stage))
            let reference = try Checkpoint.read(run.dir + "/" + Checkpoint.fileName(stage: stage))
            Self.expectIdentical(resumed, reference, "stage \(stage)")
        }
        #expect(second.results.map(\.evaluation) == run.evaluations)
    }

    // MARK: Non-finite loss

    @Test func aPoisonedWeightStopsTheStageAndKeepsThePreviousCheckpoint() throws {
        let run = try Self.reference.get()
        let dir = TinyRun.temporaryDirectory("trainer-nan")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.copyItem(atPath: run.dir + "/stage-00.h5", toPath: dir + "/stage-00.h5")
        let t = try TinyRun.trainer()
        try t.restore(from: RunFolder.checkpoints(in: dir))
        t.beforeBatch = { stage, epoch, batch in
            if stage == 1 && epoch == 0 && batch == 1 { t.network.fc!.weight.value.data[5] = .nan }
        }
        // What memo-train does: train, and write the checkpoint only when the stage finished.
        let error = #expect(throws: TrainingError.self) {
            let r = try t.trainNextStage()
            try Checkpoint(trainer: t, result: r).write(to: dir + "/" + Checkpoint.fileName(stage: r.stage))
        }
        guard case let .nonFiniteLoss(stage, epoch, batch, loss)? = error else {
            Issue.record("expected nonFiniteLoss, got \(String(describing: error))")
            return
        }
        #expect(stage == 1 && epoch == 0 && batch == 1 && loss.isNaN)
        #expect(error?.description == "stage 1, epoch 1, batch 2: loss is nan; stage stopped, "
            + "the previous stage's checkpoint stays the latest")
        let left = try RunFolder.checkpoints(in: dir)
        #expect(left.map(\.stage) == [0])
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["stage-00.h5"])
        #expect(t.completedStages == 1)
    }

    @Test func aHugeLearningRateStopsStageZeroBeforeAnyCheckpoint() throws {
        var config = TinyRun.config()
        config.initLR = 1e30
        let dir = TinyRun.temporaryDirectory("trainer-lr")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let error = #expect(throws: TrainingError.self) { try TinyRun.run(into: dir, config: config) }
        guard case let .nonFiniteLoss(stage, epoch, _, loss)? = error else {
            Issue.record("expected nonFiniteLoss, got \(String(describing: error))")
            return
        }
        #expect(stage == 0 && epoch < config.initEpoch && !loss.isFinite)
        #expect(try RunFolder.checkpoints(in: dir).isEmpty)
    }
}
