import Foundation

/// Throughput of the engine on MEMO's network, as `memo-train bench` reports it: training steps
/// (forward + backward + SGD) at a batch size with K specialized blocks in MEMO's stage-K state
/// (old blocks frozen and in eval mode, generalized blocks trainable as with `--train_base`),
/// and inference (forward only, every BN in eval mode).
public struct BenchmarkResult: Sendable {
    public var backbone: Backbone
    public var blocks: Int
    public var trainImagesPerSecond: [Double]
    public var inferenceImagesPerSecond: [Double]
    /// Data-parallel runs: floats summed over the ranks per step (gradients and running
    /// statistics) and the median seconds of that allreduce alone.
    public var allreduceFloats = 0
    public var allreduceSeconds: Double?
    /// Peak resident bytes of the process while training steps ran, and while inference ran
    /// (the peak is reset before each phase, after freeing the activations of the one before),
    /// 0 where /proc is unavailable.
    public var trainPeakBytes = 0
    public var inferencePeakBytes = 0

    public var trainMedian: Double { median(trainImagesPerSecond) }
    public var inferenceMedian: Double { median(inferenceImagesPerSecond) }
}

func median(_ v: [Double]) -> Double {
    guard !v.isEmpty else { return 0 }
    let s = v.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

/// Peak resident memory of this process in bytes (VmHWM), 0 where /proc is unavailable.
public func peakResidentBytes() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        let kb = line.split(separator: " ").compactMap { Int($0) }.first ?? 0
        return kb * 1024
    }
    return 0
}

/// Starts a new peak for `peakResidentBytes`: on Linux, writing 5 to /proc/self/clear_refs
/// resets VmHWM to the current resident size. Returns false where that is not possible.
@discardableResult
public func resetPeakResident() -> Bool {
    guard let handle = FileHandle(forWritingAtPath: "/proc/self/clear_refs") else { return false }
    defer { try? handle.close() }
    return (try? handle.write(contentsOf: Data("5".utf8))) != nil
}

/// Returns the activation buffers no network holds to the system (between benchmark runs,
/// after training).
public func releaseFreeActivationMemory() { ActivationPool.shared.trim() }

/// Runs the benchmark for one K. Each repeat times `steps` training steps and `steps`
/// inference batches after one warm-up step (which builds the primitives). Under an MPI job
/// (`parallel` from `DataParallel.mpi`) every rank takes its shard of each training and inference
/// batch, the figures are global images/s, and the allreduce of one step is timed on its own.
public func runBenchmark(backbone: Backbone, blocks: Int, trainBatch: Int = 128, inferenceBatch: Int = 256,
                         inputSide: Int = NetworkInput.side, steps: Int = 5, repeats: Int = 3, classesPerStage: Int = 10,
                         precision: Precision = .float32, parallel: DataParallel = .single) -> BenchmarkResult {
    precondition(blocks >= 1 && steps >= 1 && repeats >= 1 && trainBatch >= 1 && inferenceBatch >= 1,
                 "the benchmark needs at least one block, step, repeat and image")
    var rng = MEMORandom(seed: 1)
    let net = MEMONetwork(backbone: backbone, rng: &rng)
    net.inputSize = inputSide
    net.precision = precision
    let image = 3 * inputSide * inputSide
    for _ in 0..<blocks { net.addStage(newClasses: classesPerStage, rng: &rng) }
    net.configureTraining(trainBase: true, trainAdaptive: false)
    let sgd = SGD(learningRate: 0.01, weightDecay: 2e-4)
    let params = net.trainableParameters().map { $0.1 }
    var input = [Float](repeating: 0, count: max(trainBatch, inferenceBatch) * image)
    for i in 0..<input.count { input[i] = Float(rng.normal()) }
    let labels = (0..<trainBatch).map { $0 % net.classCount }
    let known = net.classCount - classesPerStage
    let auxLabels = blocks > 1 ? MEMOLoss.auxiliaryLabels(labels, knownClasses: known) : nil

    let trainInput = Array(input[0..<(trainBatch * image)])
    func trainStep() {
        if parallel.isPlain {
            input.withUnsafeBufferPointer { net.forward($0.baseAddress!, count: trainBatch, training: true) }
            net.backward(MEMOLoss(network: net, labels: labels, auxLabels: auxLabels))
        } else {
            _ = parallel.computeGradients(network: net, input: trainInput, labels: labels, auxKnownClasses: blocks > 1 ? known : nil,
                                          alphaAux: 1, parameters: params)
        }
        sgd.step(params)
    }
    func inferStep() {
        for r in parallel.localShards {
            let rows = parallel.shard(r, of: inferenceBatch)
            guard !rows.isEmpty else { continue }
            input.withUnsafeBufferPointer { net.forward($0.baseAddress! + rows.lowerBound * image, count: rows.count, training: false) }
        }
        parallel.barrier()
    }
    var train: [Double] = [], infer: [Double] = []
    releaseFreeActivationMemory()
    resetPeakResident()
    trainStep()
    var result = BenchmarkResult(backbone: backbone, blocks: blocks, trainImagesPerSecond: [], inferenceImagesPerSecond: [])
    if !parallel.isPlain {
        result.allreduceFloats = params.reduce(0) { $0 + $1.value.count } + net.batchStatisticParameters().reduce(0) { $0 + $1.value.count }
        var buffer = [Float](repeating: 1, count: result.allreduceFloats)
        var times: [Double] = []
        for _ in 0..<(steps * repeats) {
            parallel.barrier()
            let t0 = DispatchTime.now().uptimeNanoseconds
            parallel.sum(&buffer)
            times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        }
        result.allreduceSeconds = median(times)
    }
    for _ in 0..<repeats {
        let t0 = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<steps { trainStep() }
        let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        train.append(Double(steps * trainBatch) / dt)
    }
    result.trainPeakBytes = peakResidentBytes()
    releaseFreeActivationMemory()
    resetPeakResident()
    inferStep()
    for _ in 0..<repeats {
        let t0 = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<steps { inferStep() }
        let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        infer.append(Double(steps * inferenceBatch) / dt)
    }
    result.inferencePeakBytes = peakResidentBytes()
    result.trainImagesPerSecond = train
    result.inferenceImagesPerSecond = infer
    return result
}
