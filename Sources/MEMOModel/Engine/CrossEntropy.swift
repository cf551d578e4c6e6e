/// Softmax cross-entropy averaged over the batch (PyTorch `F.cross_entropy`, mean reduction),
/// computed in Double for the log-sum-exp. Returns the loss and writes dLoss/dLogits.
///
/// Shapes: logits [N, C] row-major, labels N values in 0..<C, gradient [N, C].
public func softmaxCrossEntropy(logits: UnsafePointer<Float>, rows n: Int, classes c: Int, labels: [Int],
                                scale: Float = 1, gradient: UnsafeMutablePointer<Float>?) -> Double {
    precondition(labels.count == n)
    var total = 0.0
    for r in 0..<n {
        let row = logits + r * c
        var m = -Double.infinity
        for j in 0..<c { m = max(m, Double(row[j])) }
        var sum = 0.0
        for j in 0..<c { sum += _exp(Double(row[j]) - m) }
        let logZ = m + _logD(sum)
        let y = labels[r]
        precondition(y >= 0 && y < c, "label \(y) outside 0..<\(c)")
        total += logZ - Double(row[y])
        if let gradient {
            let g = gradient + r * c
            for j in 0..<c {
                let p = _exp(Double(row[j]) - logZ)
                g[j] = Float((p - (j == y ? 1 : 0)) / Double(n)) * scale
            }
        }
    }
    return total / Double(n)
}

#if canImport(Glibc)
import Glibc
@inline(__always) func _exp(_ x: Double) -> Double { Glibc.exp(x) }
@inline(__always) func _logD(_ x: Double) -> Double { Glibc.log(x) }
#else
import Foundation
@inline(__always) func _exp(_ x: Double) -> Double { Foundation.exp(x) }
@inline(__always) func _logD(_ x: Double) -> Double { Foundation.log(x) }
#endif
