/// iCaRL herding selection and class means, as PyCIL computes them (`_construct_exemplar`).
///
/// Features are L2-normalised (norm + 1e-8). The target is the mean of the normalised features;
/// at step k the image whose feature, added to the sum S of those already chosen, brings
/// (S + f) / k closest to the target is chosen; no image is chosen twice; ties go to the lowest
/// index (numpy's argmin). Arithmetic in Double.
public enum Herding {
    static let epsilon = 1e-8

    /// Row-wise L2 normalisation of a [count, dimension] row-major matrix (PyCIL's EPSILON 1e-8).
    public static func normalizedRows(_ features: [Float], dimension d: Int) -> [Double] {
        precondition(d > 0 && features.count % d == 0)
        var out = [Double](repeating: 0, count: features.count)
        for r in 0..<(features.count / d) {
            var s = 0.0
            for j in 0..<d { let v = Double(features[r * d + j]); s += v * v }
            let inv = 1 / (s.squareRoot() + epsilon)
            for j in 0..<d { out[r * d + j] = Double(features[r * d + j]) * inv }
        }
        return out
    }

    /// Chooses up to `m` rows of `features` ([count, dimension], raw) by herding; returns their
    /// row indices in the order chosen.
    public static func select(features: [Float], dimension d: Int, m: Int) -> [Int] {
        let x = normalizedRows(features, dimension: d)
        let n = x.count / d
        var target = [Double](repeating: 0, count: d)
        for r in 0..<n { for j in 0..<d { target[j] += x[r * d + j] } }
        for j in 0..<d { target[j] /= Double(n) }
        var sum = [Double](repeating: 0, count: d)
        var used = [Bool](repeating: false, count: n)
        var chosen: [Int] = []
        for k in 1...max(1, min(m, n)) where m > 0 {
            var best = -1
            var bestDistance = Double.infinity
            for r in 0..<n where !used[r] {
                var dist = 0.0
                for j in 0..<d {
                    let diff = target[j] - (x[r * d + j] + sum[j]) / Double(k)
                    dist += diff * diff
                }
                if dist < bestDistance { bestDistance = dist; best = r }
            }
            guard best >= 0 else { break }
            used[best] = true
            chosen.append(best)
            for j in 0..<d { sum[j] += x[best * d + j] }
        }
        return chosen
    }

    /// Class mean for NME: the mean of the L2-normalised features, renormalised.
    public static func classMean(features: [Float], dimension d: Int) -> [Float] {
        let x = normalizedRows(features, dimension: d)
        let n = x.count / d
        var mean = [Double](repeating: 0, count: d)
        for r in 0..<n { for j in 0..<d { mean[j] += x[r * d + j] } }
        for j in 0..<d { mean[j] /= Double(max(n, 1)) }
        let norm = mean.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return mean.map { Float(norm > 0 ? $0 / norm : 0) }
    }
}

/// The rehearsal memory: for each class seen (in arrival order, i.e. by mapped label), the
/// indices of its exemplars in the training set, in herding order.
public struct ExemplarMemory: Equatable, Sendable {
    public var indicesByClass: [[Int]] = []

    public init(indicesByClass: [[Int]] = []) { self.indicesByClass = indicesByClass }

    public var count: Int { indicesByClass.reduce(0) { $0 + $1.count } }

    /// (training index, mapped label) of every exemplar, class by class.
    public var entries: [(index: Int, label: Int)] {
        indicesByClass.enumerated().flatMap { c, idx in idx.map { ($0, c) } }
    }

    /// Keeps each class's first `m` exemplars (the reference's `_reduce_exemplar`).
    public mutating func reduce(to m: Int) {
        indicesByClass = indicesByClass.map { Array($0.prefix(m)) }
    }
}

extension MEMONetwork {
    /// The NME class mean of images `indices` of `set` under this network (evaluation mode).
    public func classMean(_ set: ImageSet, indices: [Int], mean: [Float], std: [Float]) -> [Float] {
        let out = infer(set, indices: indices, mean: mean, std: std)
        return Herding.classMean(features: out.features, dimension: out.featureWidth)
    }

    /// Herds up to `m` exemplars of one class among `candidates` (indices into `set`, the class's
    /// training images) and returns them in the order chosen, with the class mean of the chosen.
    public func herdExemplars(_ set: ImageSet, candidates: [Int], m: Int, mean: [Float], std: [Float])
        -> (exemplars: [Int], classMean: [Float]) {
        let out = infer(set, indices: candidates, mean: mean, std: std)
        let chosen = Herding.select(features: out.features, dimension: out.featureWidth, m: m)
        var f = [Float]()
        for r in chosen { f += out.features[(r * out.featureWidth)..<((r + 1) * out.featureWidth)] }
        return (chosen.map { candidates[$0] }, Herding.classMean(features: f, dimension: out.featureWidth))
    }
}
