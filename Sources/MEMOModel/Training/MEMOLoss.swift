/// MEMO's training objective on a network's last forward pass (the reference's `_train`):
/// cross-entropy of `fc` over every class seen, plus `alphaAux` times the cross-entropy of the
/// auxiliary classifier, whose targets are the new classes and one class for "any old class"
/// (`auxiliaryLabels`). Stage 0 has no auxiliary term. The one loss of the trainer, the benchmark
/// and the numerical tests.
public struct MEMOLoss {
    /// Mean cross-entropy of `fc`.
    public var classification: Double
    /// Mean cross-entropy of `auxFC` (unweighted), 0 without the auxiliary term.
    public var auxiliary: Double
    public var alphaAux: Double
    /// dLoss/dLogits of `fc` and, with the auxiliary term, of `auxFC` (already weighted).
    public var dLogits: [Float]
    public var dAuxLogits: [Float]?

    public var total: Double { classification + alphaAux * auxiliary }

    /// The loss of the last forward pass of `network` for `labels` (positions in the class
    /// order); `auxLabels` nil leaves the auxiliary term out.
    public init(network: MEMONetwork, labels: [Int], auxLabels: [Int]?, alphaAux: Double = 1) {
        let n = labels.count
        precondition(network.logits.count == n * network.classCount, "labels do not match the last forward pass")
        var d = [Float](repeating: 0, count: n * network.classCount)
        classification = network.logits.withUnsafeBufferPointer { l in d.withUnsafeMutableBufferPointer {
            softmaxCrossEntropy(logits: l.baseAddress!, rows: n, classes: network.classCount, labels: labels,
                                gradient: $0.baseAddress!) } }
        dLogits = d
        self.alphaAux = alphaAux
        if let auxLabels {
            var da = [Float](repeating: 0, count: n * network.auxClassCount)
            auxiliary = network.auxLogits.withUnsafeBufferPointer { l in da.withUnsafeMutableBufferPointer {
                softmaxCrossEntropy(logits: l.baseAddress!, rows: n, classes: network.auxClassCount, labels: auxLabels,
                                    scale: Float(alphaAux), gradient: $0.baseAddress!) } }
            dAuxLogits = da
        } else {
            auxiliary = 0
            dAuxLogits = nil
        }
    }

    /// Targets of the auxiliary classifier: a new class c (label ≥ `knownClasses`) is
    /// c − knownClasses + 1, every old class is 0.
    public static func auxiliaryLabels(_ labels: [Int], knownClasses: Int) -> [Int] {
        labels.map { $0 >= knownClasses ? $0 - knownClasses + 1 : 0 }
    }
}

extension MEMONetwork {
    /// The backward pass of `loss`, which must be of the last forward pass.
    public func backward(_ loss: MEMOLoss) {
        backward(dLogits: loss.dLogits, dAuxLogits: loss.dAuxLogits)
    }
}
