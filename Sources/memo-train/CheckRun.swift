import ArgumentParser
import Foundation
import MEMOModel

/// `memo-train check-run DIR` (hidden): loads every stage checkpoint of a run folder exactly as
/// `--resume` does (`RunFolder.checkpoints`), rebuilds each stage's network, and prints one line
/// per stage with digests of its contents, then `OK: N stage(s)`. On the first error it prints
/// `error: <description>` and exits 1. scripts/kill-test.sh uses it after every kill and to
/// compare a resumed run with an uninterrupted one.
struct CheckRun: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-run",
        abstract: "Check that every checkpoint of a run folder loads; print a digest per stage.",
        shouldDisplay: false)

    @Argument(help: "The run folder.") var dir: String

    func run() throws {
        do {
            let checkpoints = try RunFolder.checkpoints(in: dir)
            for c in checkpoints {
                _ = try c.makeNetwork()
                let e = c.evaluation
                print(String(format: "%@: OK stage %d, %d classes, %d exemplars, CNN top-1 %.2f, NME top-1 %.2f, "
                             + "model %016llx, evaluation %016llx",
                             dir + "/" + Checkpoint.fileName(stage: c.stage), c.stage, c.classesSeen, c.memory.count,
                             e.cnn.top1, e.nme?.top1 ?? .nan, c.modelDigest, try c.evaluationDigest()))
            }
            print("OK: \(checkpoints.count) stage(s)")
        } catch {
            print("error: \(error)")
            throw ExitCode(1)
        }
    }
}

/// 64-bit FNV-1a, enough to tell two runs' checkpoints apart (not a security hash).
struct FNV1a {
    private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    mutating func add<S: Sequence>(bytes: S) where S.Element == UInt8 {
        for b in bytes { value = (value ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
    }

    mutating func add(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { add(bytes: $0) } }
    mutating func add(_ v: Int) { add(UInt64(bitPattern: Int64(v))) }
    mutating func add(_ s: String) { add(s.utf8.count); add(bytes: s.utf8) }
    mutating func add(_ v: [Float]) { add(v.count); for x in v { add(UInt64(x.bitPattern)) } }
    mutating func add(_ v: [Int]) { add(v.count); for x in v { add(x) } }
}

extension Checkpoint {
    /// Digest of what training produced: every tensor (by name, bitwise), the exemplar memory and
    /// its images, the class means and the generator state.
    var modelDigest: UInt64 {
        var h = FNV1a()
        for (name, t) in tensors.sorted(by: { $0.key < $1.key }) { h.add(name); h.add(t.shape); h.add(t.data) }
        for e in memory.entries { h.add(e.index); h.add(e.label) }
        h.add(bytes: exemplarImages)
        for m in classMeans { h.add(m) }
        for w in rngState { h.add(w) }
        return h.value
    }

    /// Digest of the stage's evaluation: the metrics (as JSON) and every prediction behind them.
    func evaluationDigest() throws -> UInt64 {
        var h = FNV1a()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        h.add(bytes: try encoder.encode(evaluation))
        h.add(testIndices); h.add(testLabels)
        for row in cnnTopK { h.add(row) }
        for row in nmeTopK { h.add(row) }
        return h.value
    }
}
