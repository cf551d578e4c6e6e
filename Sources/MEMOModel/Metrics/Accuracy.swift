import Foundation

// Accuracy of a class-incremental learner after one stage, as PyCIL reports it
// (`utils/toolkit.py` `accuracy`, `models/base.py` `_evaluate`): top-1 and top-5 over all classes
// seen, accuracy per block of 10 class ids, old / new classes, all in percent rounded to 2
// decimals. Inputs are plain arrays: the network code produces the top-k lists.

/// Bad input to an accuracy computation: says which argument and why.
public enum AccuracyError: Error, Equatable, CustomStringConvertible {
    /// `predictions` and `labels` hold different numbers of samples.
    case lengthMismatch(predictions: Int, labels: Int)
    /// There are no samples to evaluate.
    case empty
    /// A flat prediction array is not a whole number of rows of `k`.
    case ragged(count: Int, k: Int)
    /// A sample has an empty top-k list.
    case emptyPrediction(sample: Int)
    /// A label lies outside the classes the split covers.
    case labelOutOfRange(sample: Int, label: Int, classCount: Int)
    /// A label is negative.
    case negativeLabel(sample: Int, label: Int)
    /// Task sizes must be positive.
    case invalidTaskSizes([Int])

    public var description: String {
        switch self {
        case let .lengthMismatch(p, l):
            return "accuracy: \(p) predictions but \(l) labels"
        case .empty:
            return "accuracy: no samples to evaluate"
        case let .ragged(count, k):
            return "accuracy: \(count) flat predictions are not a multiple of k = \(k)"
        case let .emptyPrediction(sample):
            return "accuracy: sample \(sample) has an empty top-k list"
        case let .labelOutOfRange(sample, label, classCount):
            return "accuracy: sample \(sample) has label \(label), outside 0..<\(classCount)"
        case let .negativeLabel(sample, label):
            return "accuracy: sample \(sample) has negative label \(label)"
        case let .invalidTaskSizes(sizes):
            return "accuracy: task sizes must all be positive, got \(sizes)"
        }
    }
}

/// Rounds as `numpy.around(x, decimals)` does: scale by 10^decimals, round half to even, unscale.
/// PyCIL rounds every accuracy this way, so `12.345` becomes `12.34` and `12.355` becomes `12.36`
/// only as far as the binary value of the scaled number says.
public func numpyAround(_ x: Double, decimals: Int = 2) -> Double {
    let scale = pow(10.0, Double(decimals))
    return (x * scale).rounded(.toNearestOrEven) / scale
}

/// Top-k class predictions of N samples, stored flat (row-major N x k), best class first.
///
/// Rows may be shorter than the `k` asked of ``Accuracy/topK(_:labels:k:)``: with fewer than 5
/// classes seen a top-5 list holds all of them, and the label counts as found if it is anywhere
/// in the row (the reference crashes there instead).
public struct TopKPredictions: Equatable, Sendable {
    /// Entries per sample.
    public let k: Int
    /// N x k class ids, best first.
    public let indices: [Int]

    /// Number of samples.
    public var count: Int { k == 0 ? 0 : indices.count / k }

    /// Wraps a flat row-major N x k array.
    /// - Throws: ``AccuracyError/ragged(count:k:)`` if `indices.count` is not a multiple of `k`.
    public init(flat indices: [Int], k: Int) throws {
        precondition(k > 0, "k must be positive")
        guard indices.count % k == 0 else { throw AccuracyError.ragged(count: indices.count, k: k) }
        self.k = k
        self.indices = indices
    }

    /// Packs one top-k list per sample; all lists must have the same, non-zero length.
    /// - Throws: ``AccuracyError/emptyPrediction(sample:)`` or ``AccuracyError/ragged(count:k:)``.
    public init(_ rows: [[Int]]) throws {
        let k = rows.first?.count ?? 1
        var flat: [Int] = []
        flat.reserveCapacity(rows.count * k)
        for (i, row) in rows.enumerated() {
            if row.isEmpty { throw AccuracyError.emptyPrediction(sample: i) }
            if row.count != k { throw AccuracyError.ragged(count: row.count, k: k) }
            flat.append(contentsOf: row)
        }
        try self.init(flat: flat, k: k)
    }

    /// The best class of each sample.
    public var top1: [Int] { stride(from: 0, to: indices.count, by: k).map { indices[$0] } }

    /// Row `i` (a sample's top-k list).
    public func row(_ i: Int) -> ArraySlice<Int> { indices[(i * k)..<((i + 1) * k)] }
}

/// PyCIL's accuracy routines, each in percent rounded to 2 decimals (``numpyAround(_:decimals:)``).
///
/// Labels are mapped class ids (0..<classes seen, in the incremental order). Where PyCIL divides
/// by an empty set (a group, the old or the new classes with no test sample) it yields NaN or 0;
/// here every empty set yields 0 so results stay encodable as JSON.
public enum Accuracy {
    /// Fraction of samples whose label is among the first `k` entries of its row, in percent.
    /// Rows shorter than `k` are used whole.
    public static func topK(_ predictions: TopKPredictions, labels: [Int], k: Int) throws -> Double {
        try check(predictions.count, labels)
        let width = min(k, predictions.k)
        var hits = 0
        for (i, label) in labels.enumerated() where predictions.row(i).prefix(width).contains(label) {
            hits += 1
        }
        return percent(hits, labels.count)
    }

    /// Top-1 accuracy in percent (PyCIL's `total`).
    public static func top1(predicted: [Int], labels: [Int]) throws -> Double {
        try check(predicted.count, labels)
        return percent(zip(predicted, labels).filter { $0 == $1 }.count, labels.count)
    }

    /// PyCIL's grouped accuracy: one entry per block of `groupSize` class ids, keyed "00-09",
    /// "10-19", ..., for block starts `0, groupSize, ...` strictly below the largest label present
    /// (PyCIL's `range(0, max(y_true), 10)`: with labels 0...10 there is no "10-19" entry).
    /// Keys pad each bound to at least two digits ("100-109" beyond 99).
    public static func grouped(
        predicted: [Int], labels: [Int], groupSize: Int = 10
    ) throws -> [(key: String, accuracy: Double)] {
        precondition(groupSize > 0, "groupSize must be positive")
        try check(predicted.count, labels)
        let maxLabel = labels.max()!
        var result: [(key: String, accuracy: Double)] = []
        for start in stride(from: 0, to: maxLabel, by: groupSize) {
            let end = start + groupSize
            let key = "\(twoDigits(start))-\(twoDigits(end - 1))"
            result.append((key, subsetAccuracy(predicted, labels) { $0 >= start && $0 < end }))
        }
        return result
    }

    /// Accuracy on the classes known before this stage (`label < knownClasses`) and on the new
    /// ones. Old is 0 at stage 0, as in PyCIL.
    public static func oldNew(
        predicted: [Int], labels: [Int], knownClasses: Int
    ) throws -> (old: Double, new: Double) {
        try check(predicted.count, labels)
        return (subsetAccuracy(predicted, labels) { $0 < knownClasses },
                subsetAccuracy(predicted, labels) { $0 >= knownClasses })
    }

    /// Accuracy on each task's classes, the tasks being consecutive id ranges of the given sizes
    /// (the real split: e.g. `[10, 10, 10]` after stage 2 of B0 Inc10, `[50, 10]` for B50 Inc10).
    /// A task with no test sample gets 0.
    /// - Throws: ``AccuracyError/labelOutOfRange(sample:label:classCount:)`` for a label beyond
    ///   the tasks, ``AccuracyError/invalidTaskSizes(_:)`` for a non-positive size.
    public static func perTask(predicted: [Int], labels: [Int], taskSizes: [Int]) throws -> [Double] {
        try check(predicted.count, labels)
        guard !taskSizes.isEmpty, taskSizes.allSatisfy({ $0 > 0 }) else {
            throw AccuracyError.invalidTaskSizes(taskSizes)
        }
        let classCount = taskSizes.reduce(0, +)
        if let bad = labels.firstIndex(where: { $0 >= classCount }) {
            throw AccuracyError.labelOutOfRange(sample: bad, label: labels[bad], classCount: classCount)
        }
        return ClassIncrementalSplit.classRanges(taskSizes: taskSizes).map { range in
            subsetAccuracy(predicted, labels) { range.contains($0) }
        }
    }

    /// Confusion matrix with rows = true class, columns = predicted class, each row divided by its
    /// number of samples (a row without samples stays 0), or the plain counts with
    /// `normalized: false`. Predictions outside `0..<classCount` are ignored. Feeds
    /// the confusion heatmap (`ConfusionReport.heatmapImage`).
    public static func confusionMatrix(predicted: [Int], labels: [Int], classCount: Int,
                                       normalized: Bool = true) throws -> [[Double]] {
        try check(predicted.count, labels)
        if let bad = labels.firstIndex(where: { $0 >= classCount }) {
            throw AccuracyError.labelOutOfRange(sample: bad, label: labels[bad], classCount: classCount)
        }
        var counts = [[Double]](repeating: [Double](repeating: 0, count: classCount), count: classCount)
        var totals = [Double](repeating: 0, count: classCount)
        for (p, y) in zip(predicted, labels) {
            totals[y] += 1
            if p >= 0 && p < classCount { counts[y][p] += 1 }
        }
        for y in 0..<classCount where normalized && totals[y] > 0 {
            counts[y] = counts[y].map { $0 / totals[y] }
        }
        return counts
    }

    // MARK: helpers

    private static func check(_ predictionCount: Int, _ labels: [Int]) throws {
        guard predictionCount == labels.count else {
            throw AccuracyError.lengthMismatch(predictions: predictionCount, labels: labels.count)
        }
        guard !labels.isEmpty else { throw AccuracyError.empty }
        if let bad = labels.firstIndex(where: { $0 < 0 }) {
            throw AccuracyError.negativeLabel(sample: bad, label: labels[bad])
        }
    }

    /// `hits * 100 / total`, rounded like numpy (the same float operations as PyCIL).
    private static func percent(_ hits: Int, _ total: Int) -> Double {
        total == 0 ? 0 : numpyAround(Double(hits * 100) / Double(total))
    }

    private static func subsetAccuracy(_ predicted: [Int], _ labels: [Int], _ member: (Int) -> Bool) -> Double {
        var hits = 0, total = 0
        for (p, y) in zip(predicted, labels) where member(y) {
            total += 1
            if p == y { hits += 1 }
        }
        return percent(hits, total)
    }

    private static func twoDigits(_ value: Int) -> String {
        value < 10 ? "0\(value)" : "\(value)"
    }
}

/// One classifier's (CNN or NME) evaluation after a stage, in percent rounded to 2 decimals.
///
/// The grouped accuracy is kept as two parallel arrays (`groupKeys`, `groupAccuracies`) so the
/// struct is `Codable`; ``grouped`` zips them.
public struct HeadEvaluation: Codable, Equatable, Sendable {
    public var top1: Double
    public var top5: Double
    /// Accuracy on each task seen so far (index = task).
    public var perTask: [Double]
    /// PyCIL's keys, "00-09", "10-19", ... in ascending class order.
    public var groupKeys: [String]
    public var groupAccuracies: [Double]
    /// Classes known before this stage; 0 at stage 0.
    public var old: Double
    /// Classes introduced in this stage.
    public var new: Double

    public init(top1: Double, top5: Double, perTask: [Double], groupKeys: [String],
                groupAccuracies: [Double], old: Double, new: Double) {
        precondition(groupKeys.count == groupAccuracies.count, "one accuracy per group key")
        self.top1 = top1
        self.top5 = top5
        self.perTask = perTask
        self.groupKeys = groupKeys
        self.groupAccuracies = groupAccuracies
        self.old = old
        self.new = new
    }

    /// Grouped accuracy as PyCIL's (key, value) pairs.
    public var grouped: [(key: String, accuracy: Double)] {
        zip(groupKeys, groupAccuracies).map { ($0, $1) }
    }

    /// Evaluates one head the way PyCIL's `_evaluate` does.
    /// - Parameters:
    ///   - predictions: top-k class ids per sample, best first (k = 5, or all classes if fewer).
    ///   - labels: mapped true labels, 0..<classes seen.
    ///   - taskSizes: classes per task so far (the real split).
    ///   - knownClasses: classes seen before this stage (old / new boundary).
    public init(predictions: TopKPredictions, labels: [Int], taskSizes: [Int], knownClasses: Int) throws {
        let best = predictions.top1
        let groups = try Accuracy.grouped(predicted: best, labels: labels)
        let (old, new) = try Accuracy.oldNew(predicted: best, labels: labels, knownClasses: knownClasses)
        self.init(
            top1: try Accuracy.top1(predicted: best, labels: labels),
            top5: try Accuracy.topK(predictions, labels: labels, k: 5),
            perTask: try Accuracy.perTask(predicted: best, labels: labels, taskSizes: taskSizes),
            groupKeys: groups.map(\.key),
            groupAccuracies: groups.map(\.accuracy),
            old: old, new: new)
    }

    /// Same as ``init(predictions:labels:taskSizes:knownClasses:)`` from one top-k list per sample.
    public init(predictions: [[Int]], labels: [Int], taskSizes: [Int], knownClasses: Int) throws {
        try self.init(predictions: TopKPredictions(predictions), labels: labels,
                      taskSizes: taskSizes, knownClasses: knownClasses)
    }
}

/// The evaluation of a stage: the `fc` classifier (CNN) and, when class means exist, the
/// nearest-class-mean classifier (NME).
public struct StageEvaluation: Codable, Equatable, Sendable {
    public var cnn: HeadEvaluation
    public var nme: HeadEvaluation?

    public init(cnn: HeadEvaluation, nme: HeadEvaluation? = nil) {
        self.cnn = cnn
        self.nme = nme
    }
}
