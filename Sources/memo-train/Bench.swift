import ArgumentParser
import Foundation
import MEMOModel

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure training and inference images/s of MEMO's network (release builds only).",
        discussion: "Example: swift run -c release memo-train bench --ks 1,5,10")

    @Option(name: .customLong("net"), help: "Backbone (memo_resnet32, memo_resnet14_cifar, ...).")
    var net = "memo_resnet32"
    @Option(help: "Numbers of specialized blocks, comma-separated.")
    var ks = "1,5,10"
    @Option(help: "Timed steps per repeat.") var steps = 5
    @Option(help: "Repeats (the median is reported).") var repeats = 3
    @Option(help: "Training batch size.") var batch = 128
    @Option(help: "Inference batch size.") var inferenceBatch = 256

    func run() throws {
        guard let backbone = Backbone(name: net) else { throw ValidationError("unknown backbone '\(net)'") }
        let list = ks.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        print("engine: \(engineDescription) (OMP_NUM_THREADS=\(ProcessInfo.processInfo.environment["OMP_NUM_THREADS"] ?? "unset"), "
            + "DNNL_MAX_CPU_ISA=\(ProcessInfo.processInfo.environment["DNNL_MAX_CPU_ISA"] ?? "unset"))")
        print("| \(net) | train img/s (batch \(batch)) | inference img/s (batch \(inferenceBatch)) |")
        print("|---|---|---|")
        for k in list {
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
