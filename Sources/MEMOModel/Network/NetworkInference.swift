/// Running a network over a set of images without augmentation: logits, features, CNN and NME
/// predictions. Used after each stage by the trainer and by `memo-infer evaluate`.
public struct InferenceOutput: Sendable {
    /// [count, classes] logits of `fc`.
    public var logits: [Float]
    /// [count, featureWidth] concatenated features of all specialized blocks.
    public var features: [Float]
    public var count: Int
    public var classCount: Int
    public var featureWidth: Int

    /// Top-k class indices per image, best first (ties: lower index first).
    public func cnnTopK(_ k: Int) -> [[Int]] {
        (0..<count).map { r in topK(Array(logits[(r * classCount)..<((r + 1) * classCount)]), k: k, largest: true) }
    }

    /// Nearest-mean-of-exemplars top-k: squared Euclidean distance between the L2-normalised
    /// feature and each class mean, smallest first.
    public func nmeTopK(_ k: Int, classMeans: [[Float]]) -> [[Int]] {
        nmeDistances(classMeans: classMeans).map { topK($0, k: k, largest: false) }
    }

    /// Squared Euclidean distance between each image's L2-normalised feature and each class
    /// mean ([count][classes], computed in Double, stored as Float): what ``nmeTopK(_:classMeans:)``
    /// ranks by, smallest first.
    public func nmeDistances(classMeans: [[Float]]) -> [[Float]] {
        let x = Herding.normalizedRows(features, dimension: featureWidth)
        return (0..<count).map { r in
            classMeans.map { m in
                var s = 0.0
                for j in 0..<featureWidth { let v = x[r * featureWidth + j] - Double(m[j]); s += v * v }
                return Float(s)
            }
        }
    }
}

/// Indices of the k largest (or smallest) values, in order; stable for ties.
func topK(_ v: [Float], k: Int, largest: Bool) -> [Int] {
    let order = v.indices.sorted { a, b in
        if v[a] != v[b] { return largest ? v[a] > v[b] : v[a] < v[b] }
        return a < b
    }
    return Array(order.prefix(min(k, v.count)))
}

extension MEMONetwork {
    /// Images per inference batch: 256 at 32x32; at a larger side as many as hold about the same
    /// activation memory, but at least 32 (32 at 224x224, where 256 images would take ~10 GB of
    /// ResNet-18 activations).
    public static func defaultInferenceBatch(side: Int) -> Int {
        side <= NetworkInput.side ? 256 : max(32, 256 * NetworkInput.side * NetworkInput.side / (side * side))
    }

    /// Runs the network in evaluation mode over `indices` of `set`, in batches, at the set's input
    /// side (`ImageSet.inputSide`, which becomes `inputSize`). Images of a file set that do not
    /// decode are run as black images and recorded (`ImageSet.checkReadable()`).
    /// - Parameter batchSize: images per forward pass; nil: `defaultInferenceBatch(side:)`.
    public func infer(_ set: ImageSet, indices: [Int], mean: [Float], std: [Float], batchSize: Int? = nil) -> InferenceOutput {
        inputSize = set.inputSide
        let batchSize = batchSize ?? Self.defaultInferenceBatch(side: inputSize)
        var logitsOut = [Float](), featuresOut = [Float]()
        logitsOut.reserveCapacity(indices.count * classCount)
        featuresOut.reserveCapacity(indices.count * featureWidth)
        var buffer = [Float]()
        var rng = MEMORandom(seed: 0)
        var start = 0
        while start < indices.count {
            let batch = Array(indices[start..<min(start + batchSize, indices.count)])
            makeBatch(from: set, indices: batch, mean: mean, std: std, augmentation: nil, rng: &rng, into: &buffer)
            buffer.withUnsafeBufferPointer { forward($0.baseAddress!, count: batch.count, training: false) }
            logitsOut += logits
            featuresOut += features
            start += batchSize
        }
        return InferenceOutput(logits: logitsOut, features: featuresOut, count: indices.count,
                               classCount: classCount, featureWidth: featureWidth)
    }
}
