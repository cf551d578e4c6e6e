import ArgumentParser
import Foundation
import MEMOCommandLine
import MEMOModel

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure training and inference images/s of MEMO's network (release builds only).",
        discussion: "Example: swift run -c release memo-train bench --ks 1,5,10")

    @Option(name: .customLong("net"), help: "Backbone.")
    var backbone: Backbone = .memoResNet32
    @Option(help: "Numbers of specialized blocks, comma-separated, each 1 or more.") var ks = IntList([1, 5, 10])
    @Option(parsing: .unconditional, help: "Timed steps per repeat (1 or more).") var steps = 5
    @Option(parsing: .unconditional, help: "Repeats, the median is reported (1 or more).") var repeats = 3
    @Option(parsing: .unconditional, help: "Training batch size (1 or more).") var batch = 128
    @Option(parsing: .unconditional, help: "Inference batch size (1 or more).") var inferenceBatch = 256

    func validate() throws {
        guard !ks.values.isEmpty, ks.values.allSatisfy({ $0 >= 1 }) else {
            throw ValidationError("--ks \(ks): each number of specialized blocks must be 1 or more")
        }
        for (flag, value) in [("--steps", steps), ("--repeats", repeats), ("--batch", batch), ("--inference-batch", inferenceBatch)] where value < 1 {
            throw ValidationError("\(flag) \(value): must be 1 or more")
        }
    }

    func run() throws {
        print("engine: \(engineDescription) (OMP_NUM_THREADS=\(ProcessInfo.processInfo.environment["OMP_NUM_THREADS"] ?? "unset"), "
            + "DNNL_MAX_CPU_ISA=\(ProcessInfo.processInfo.environment["DNNL_MAX_CPU_ISA"] ?? "unset"))")
        print("| \(backbone.rawValue) | train img/s (batch \(batch)) | inference img/s (batch \(inferenceBatch)) |")
        print("|---|---|---|")
        for k in ks.values {
            let r = runBenchmark(backbone: backbone, blocks: k, trainBatch: batch, inferenceBatch: inferenceBatch,
                                 steps: steps, repeats: repeats)
            print(String(format: "| K=%d | %.0f (runs: %@) | %.0f (runs: %@) |", k, r.trainMedian,
                         r.trainImagesPerSecond.map { String(format: "%.0f", $0) }.joined(separator: ", "),
                         r.inferenceMedian,
                         r.inferenceImagesPerSecond.map { String(format: "%.0f", $0) }.joined(separator: ", ")))
            fflush(stdout)
        }
        print(String(format: "peak resident memory: %.0f MiB", Double(peakResidentBytes()) / 1048576))
    }
}
