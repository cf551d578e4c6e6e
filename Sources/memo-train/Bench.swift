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
    @Option(parsing: .unconditional, help: "Side of the square input images (default: 224 for memo_resnet18, 32 otherwise).")
    var inputSize: Int?
    @OptionGroup var precision: PrecisionOption

    var side: Int { inputSize ?? (backbone.family == .imageNetResNet ? 224 : NetworkInput.side) }

    func validate() throws {
        guard !ks.values.isEmpty, ks.values.allSatisfy({ $0 >= 1 }) else {
            throw ValidationError("--ks \(ks): each number of specialized blocks must be 1 or more")
        }
        for (flag, value) in [("--steps", steps), ("--repeats", repeats), ("--batch", batch), ("--inference-batch", inferenceBatch),
                              ("--input-size", inputSize ?? 1)] where value < 1 {
            throw ValidationError("\(flag) \(value): must be 1 or more")
        }
    }

    func run() throws {
        let precision = self.precision.precision ?? .float32
        try precision.checkSupported()
        // Under mpirun every rank takes its shard of each batch; rank 0 prints global images/s.
        let world = Communicator.world
        let parallel = world.map(DataParallel.mpi) ?? .single
        let lead = parallel.isLead
        func say(_ line: String) { if lead { print(line); fflush(stdout) } }
        say("engine: \(engineDescription) (OMP_NUM_THREADS=\(ProcessInfo.processInfo.environment["OMP_NUM_THREADS"] ?? "unset"), "
            + "DNNL_MAX_CPU_ISA=\(ProcessInfo.processInfo.environment["DNNL_MAX_CPU_ISA"] ?? "unset")), \(precision) activations"
            + (parallel.ranks > 1 ? "; \(parallel.ranks) MPI ranks, each its shard of every batch" : ""))
        let rank0 = parallel.ranks > 1 ? ", rank 0" : ""
        say("| \(backbone.rawValue) at \(side)x\(side) | train img/s (batch \(batch)) | inference img/s (batch \(inferenceBatch)) "
            + "| peak MiB training / inference\(rank0) |" + (parallel.ranks > 1 ? " allreduce per step |" : ""))
        say(parallel.ranks > 1 ? "|---|---|---|---|---|" : "|---|---|---|---|")
        for k in ks.values {
            let r = runBenchmark(backbone: backbone, blocks: k, trainBatch: batch, inferenceBatch: inferenceBatch,
                                 inputSide: side, steps: steps, repeats: repeats, precision: precision, parallel: parallel)
            // Whole images/s, with a decimal below 100 (the 224x224 networks).
            func rate(_ v: Double) -> String { String(format: v < 100 ? "%.1f" : "%.0f", v) }
            var line = "| K=\(k) | \(rate(r.trainMedian)) (runs: \(r.trainImagesPerSecond.map(rate).joined(separator: ", "))) | "
                + "\(rate(r.inferenceMedian)) (runs: \(r.inferenceImagesPerSecond.map(rate).joined(separator: ", "))) |"
            line += String(format: " %.0f / %.0f |", Double(r.trainPeakBytes) / 1048576, Double(r.inferencePeakBytes) / 1048576)
            if let s = r.allreduceSeconds {
                line += String(format: " %.2f ms for %.1f MB |", s * 1000, Double(r.allreduceFloats * 4) / 1e6)
            }
            say(line)
        }
        world?.finalize()
    }
}
