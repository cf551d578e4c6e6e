/// How one training step is spread over N ranks: every rank assembles the same global batch
/// (the same shuffled order and the same augmentation draws, from the run's one random stream),
/// computes forward and backward on its shard of the rows, and the shards' gradients are summed,
/// each weighted by its share of the batch, so that the step applies the gradient of the mean
/// loss over the whole batch. Batch norm uses each shard's own batch statistics (as PyTorch DDP
/// does); the running statistics of the layers in batch-statistics mode are averaged over the
/// ranks after every step, so they stay identical on every rank. No synchronised batch norm.
///
/// A global batch of B rows gives rank r `B / N` rows, plus one for the first `B % N` ranks; a
/// rank whose shard is empty (a last batch smaller than N) contributes no gradient and its
/// unchanged running statistics.
///
/// `.mpi` spreads the shards over an `mpirun` job; `.simulated` computes all N shards one after
/// the other in one process (each from the same running statistics) and sums them in rank
/// order: the single-process oracle of an N-rank run, equal to it bit for bit at two ranks with
/// one oneDNN thread each (a sum of two terms is the same in either order). `.simulated(ranks: 1)`
/// takes the sharded path with one shard and equals the plain step bit for bit.
public struct DataParallel {
    /// Ranks the batch is split over.
    public let ranks: Int
    /// The shards this process computes.
    let localShards: Range<Int>
    let communicator: Communicator?
    /// Whether steps take the trainer's plain path (one process, no shards).
    let isPlain: Bool

    /// One process, the whole batch: the trainer's plain step.
    public static let single = DataParallel(ranks: 1, localShards: 0..<1, communicator: nil, isPlain: true)

    /// The shard of `communicator.rank` in an MPI job.
    public static func mpi(_ communicator: Communicator) -> DataParallel {
        DataParallel(ranks: communicator.size, localShards: communicator.rank..<(communicator.rank + 1), communicator: communicator,
                     isPlain: false)
    }

    /// All `ranks` shards in this process, one after the other.
    public static func simulated(ranks: Int) -> DataParallel {
        precondition(ranks >= 1, "at least one rank")
        return DataParallel(ranks: ranks, localShards: 0..<ranks, communicator: nil, isPlain: false)
    }

    /// Whether this process writes the run folder and prints (rank 0 of a job, or no job).
    public var isLead: Bool { (communicator?.rank ?? 0) == 0 }

    /// Rows of the global batch of `rows` that shard `shard` takes.
    public func shard(_ shard: Int, of rows: Int) -> Range<Int> {
        let base = rows / ranks, extra = rows % ranks
        let start = shard * base + min(shard, extra)
        return start..<(start + base + (shard < extra ? 1 : 0))
    }

    /// Sums `values` over the ranks of the job (nothing to do in one process).
    func sum(_ values: inout [Float]) { communicator?.allreduceSum(&values) }
    func sum(_ values: inout [Double]) { communicator?.allreduceSum(&values) }

    /// Waits for every rank (nothing to do in one process).
    func barrier() { communicator?.barrier() }

    /// Gives every rank rank 0's exemplars and class means (each rank herds the same way, but
    /// ranks on CPUs of other kinds could round features differently: rank 0's choice is the
    /// run's). The memory's shape, classes and counts per class, is the same on every rank.
    func broadcast(memory: inout ExemplarMemory, classMeans: inout [[Float]]) {
        guard let communicator else { return }
        var indices = memory.indicesByClass.flatMap { $0 }.flatMap { i in withUnsafeBytes(of: Int64(i).littleEndian) { Array($0) } }
        communicator.broadcast(&indices)
        var offset = 0
        for c in memory.indicesByClass.indices {
            for j in memory.indicesByClass[c].indices {
                var v: Int64 = 0
                for b in 0..<8 { v |= Int64(indices[offset + b]) << (8 * Int64(b)) }
                memory.indicesByClass[c][j] = Int(v)
                offset += 8
            }
        }
        var means = classMeans.flatMap { $0 }
        communicator.broadcast(&means)
        offset = 0
        for c in classMeans.indices {
            let n = classMeans[c].count
            classMeans[c] = Array(means[offset..<(offset + n)])
            offset += n
        }
    }

    /// Gives every rank rank 0's values of `parameters` (weights and running statistics).
    func broadcast(_ parameters: [Parameter]) {
        guard let communicator else { return }
        var flat = parameters.flatMap(\.value.data)
        communicator.broadcast(&flat)
        var offset = 0
        for p in parameters {
            let n = p.value.count
            p.value.data = Array(flat[offset..<(offset + n)])
            offset += n
        }
    }
}

/// What one step reports: the batch's mean losses (classification and the unweighted auxiliary
/// term, over every rank) and its correct rows.
public struct StepOutcome {
    public var loss: Double
    public var auxiliary: Double
    public var correct: Int
}

extension DataParallel {
    /// The gradient step's first half on the global batch in `input` (`labels.count` rows): forward
    /// and backward on this process's shards, summed over the ranks, weighted by shard size. Leaves
    /// the batch gradient in each parameter's `grad` and the averaged running statistics in the
    /// network; the caller checks the losses and applies its optimizer. `auxKnownClasses` nil
    /// leaves the auxiliary loss out (stage 0).
    public func computeGradients(network: MEMONetwork, input: [Float], labels: [Int], auxKnownClasses: Int?,
                                 alphaAux: Double, parameters: [Parameter]) -> StepOutcome {
        let n = labels.count
        let imageSize = input.count / max(n, 1)
        let statistics = network.batchStatisticParameters()
        let start = statistics.map(\.value.data)
        let gradientCount = parameters.reduce(0) { $0 + $1.value.count }
        // One buffer: the weighted gradients, then the running statistics; summed over the ranks
        // in one pass of buckets.
        var sum = [Float](repeating: 0, count: gradientCount + statistics.reduce(0) { $0 + $1.value.count })
        var counters = [Double](repeating: 0, count: 3)
        for r in localShards {
            if localShards.count > 1 {
                for (p, v) in zip(statistics, start) { p.value.data = v }
            }
            let rows = shard(r, of: n)
            if !rows.isEmpty {
                input.withUnsafeBufferPointer {
                    network.forward($0.baseAddress! + rows.lowerBound * imageSize, count: rows.count, training: true)
                }
                let shardLabels = Array(labels[rows])
                let loss = MEMOLoss(network: network, labels: shardLabels,
                                    auxLabels: auxKnownClasses.map { MEMOLoss.auxiliaryLabels(shardLabels, knownClasses: $0) },
                                    alphaAux: alphaAux)
                network.backward(loss)
                let weight = Float(rows.count) / Float(n)
                var offset = 0
                for p in parameters {
                    if let g = p.grad {
                        g.data.withUnsafeBufferPointer { g in
                            for i in 0..<g.count { sum[offset + i] += weight * g[i] }
                        }
                    }
                    offset += p.value.count
                }
                counters[0] += Double(weight) * loss.classification
                counters[1] += Double(weight) * loss.auxiliary
                counters[2] += Double(network.correctRows(labels: shardLabels))
            }
            var offset = gradientCount
            for p in statistics {
                for i in 0..<p.value.count { sum[offset + i] += p.value.data[i] }
                offset += p.value.count
            }
        }
        self.sum(&sum)
        self.sum(&counters)
        var offset = 0
        for p in parameters {
            let c = p.value.count
            // A parameter the loss does not reach (auxFC at stage 0) keeps no gradient, so SGD
            // skips it as in one process.
            if p.grad != nil { p.grad = Tensor(shape: p.value.shape, data: Array(sum[offset..<(offset + c)])) }
            offset += c
        }
        for p in statistics {
            let c = p.value.count
            p.value.data = sum[offset..<(offset + c)].map { $0 / Float(ranks) }
            offset += c
        }
        return StepOutcome(loss: counters[0], auxiliary: counters[1], correct: Int(counters[2]))
    }
}

extension MEMONetwork {
    /// Rows of the last forward pass whose highest logit is their label.
    public func correctRows(labels: [Int]) -> Int {
        let c = classCount
        var correct = 0
        for (r, label) in labels.enumerated() {
            let row = logits[(r * c)..<((r + 1) * c)]
            if row.firstIndex(of: row.max()!)! - row.startIndex == label { correct += 1 }
        }
        return correct
    }
}
