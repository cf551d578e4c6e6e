import Foundation

// How accuracy on earlier tasks evolves as stages go by: the accuracy matrix a(k, j) (after stage
// k, on task j), the top-1 curve, average incremental accuracy, forgetting and backward transfer.
//
// Two forgetting definitions are provided, because the field uses both under the same name:
//
// - Chaudhry et al. 2018 ("Riemannian Walk", ECCV), per stage k:
//       F_k = mean over j < k of ( max over l < k of a(l, j)  -  a(k, j) )
//   computed on a per-task matrix. ``AccuracyMatrix/forgetting(atStage:)``.
//
// - PyCIL (`trainer.py`, G-U-N/PyCIL since Jan 2024, "add forgetting"), once after the last stage:
//   rows are the *grouped* accuracies of each stage (blocks of 10 class ids, keys sorted as
//   strings, placed by position), zero-padded into an S x S table (S = number of stages), then
//       F = mean over the first S - 1 groups j of ( max over all stages l, the last included,
//           of a(l, j)  -  a(S - 1, j) )
//   The mean always divides by S - 1: with more stages than groups (B0 Inc5) the missing groups
//   count as 0 forgetting; with more groups than stages (B0 Inc20, B50 splits) PyCIL crashes on
//   the table assignment, and here the groups beyond the first S - 1 are left out.
//   ``AccuracyMatrix/pycilForgetting`` on ``AccuracyMatrix/pycilGrouped(_:)``.
//
// Backward transfer (Lopez-Paz & Ranzato 2017, GEM): BWT = mean over j < T of a(T, j) - a(j, j),
// T the last stage.

/// Bad input to an ``AccuracyMatrix``.
public enum AccuracyMatrixError: Error, Equatable, CustomStringConvertible {
    /// The top-1 curve has a different number of stages than the matrix.
    case curveLength(curve: Int, stages: Int)
    /// Column labels do not match the number of columns.
    case labelCount(labels: Int, columns: Int)

    public var description: String {
        switch self {
        case let .curveLength(curve, stages):
            return "accuracy matrix: top-1 curve has \(curve) entries for \(stages) stages"
        case let .labelCount(labels, columns):
            return "accuracy matrix: \(labels) column labels for \(columns) columns"
        }
    }
}

/// Accuracies a(k, j) of stage k (row) on task or class group j (column), in percent, with the
/// stage's overall top-1 accuracy kept alongside (it weighs tasks by their test samples, so it is
/// not a row mean).
public struct AccuracyMatrix: Codable, Equatable, Sendable {
    /// a(k, j), rectangular; `nil` where column j is not evaluated at stage k (j > k for tasks).
    public private(set) var values: [[Double?]]
    /// Top-1 accuracy after each stage (may be empty when unknown).
    public private(set) var top1Curve: [Double]
    /// One name per column ("task 0", or PyCIL's "00-09").
    public private(set) var columnLabels: [String]

    /// - Parameters:
    ///   - values: one row per stage; shorter rows are padded with `nil`.
    ///   - top1Curve: top-1 after each stage, empty or one entry per row.
    ///   - columnLabels: names of the columns; defaults to "task_0", "task_1", ...
    public init(values: [[Double?]], top1Curve: [Double] = [], columnLabels: [String]? = nil) throws {
        let width = values.map(\.count).max() ?? 0
        self.values = values.map { $0 + [Double?](repeating: nil, count: width - $0.count) }
        guard top1Curve.isEmpty || top1Curve.count == values.count else {
            throw AccuracyMatrixError.curveLength(curve: top1Curve.count, stages: values.count)
        }
        self.top1Curve = top1Curve
        let labels = columnLabels ?? (0..<width).map { "task_\($0)" }
        guard labels.count == width else {
            throw AccuracyMatrixError.labelCount(labels: labels.count, columns: width)
        }
        self.columnLabels = labels
    }

    /// Per-task matrix from each stage's evaluation (`perTask` rows, `top1` curve).
    public init(evaluations: [HeadEvaluation]) throws {
        try self.init(values: evaluations.map { $0.perTask.map { Optional($0) } },
                       top1Curve: evaluations.map(\.top1))
    }

    /// PyCIL's matrix for its forgetting: each stage's grouped accuracies with the keys sorted as
    /// strings and placed by position (as `trainer.py` does), top-1 curve alongside.
    public static func pycilGrouped(_ evaluations: [HeadEvaluation]) throws -> AccuracyMatrix {
        var rows: [[Double?]] = []
        var longestKeys: [String] = []
        for evaluation in evaluations {
            let sorted = evaluation.grouped.sorted { $0.key < $1.key }
            rows.append(sorted.map { Optional($0.accuracy) })
            if sorted.count > longestKeys.count { longestKeys = sorted.map(\.key) }
        }
        return try AccuracyMatrix(values: rows, top1Curve: evaluations.map(\.top1), columnLabels: longestKeys)
    }

    public var stageCount: Int { values.count }
    public var columnCount: Int { columnLabels.count }

    /// a(stage, column), `nil` if not evaluated or out of range.
    public subscript(stage: Int, column: Int) -> Double? {
        guard values.indices.contains(stage), column >= 0, column < columnCount else { return nil }
        return values[stage][column]
    }

    // MARK: curve

    /// Mean of the top-1 curve (PyCIL's "Average Accuracy"); `nil` without a curve.
    public var averageIncrementalAccuracy: Double? {
        top1Curve.isEmpty ? nil : top1Curve.reduce(0, +) / Double(top1Curve.count)
    }

    /// Top-1 after the last stage; `nil` without a curve.
    public var lastAccuracy: Double? { top1Curve.last }

    // MARK: forgetting

    /// Chaudhry et al. forgetting after stage `k`: mean over columns j < k of
    /// max_{l<k} a(l, j) − a(k, j). Columns without a value at stage k or before it are skipped;
    /// `nil` at stage 0 or when nothing is left.
    public func forgetting(atStage k: Int) -> Double? {
        guard k > 0, k < stageCount else { return nil }
        var sum = 0.0, count = 0
        for j in 0..<min(k, columnCount) {
            guard let now = self[k, j] else { continue }
            let earlier = (0..<k).compactMap { self[$0, j] }
            guard let best = earlier.max() else { continue }
            sum += best - now
            count += 1
        }
        return count == 0 ? nil : sum / Double(count)
    }

    /// ``forgetting(atStage:)`` for every stage (`nil` at stage 0).
    public var forgettingCurve: [Double?] { (0..<stageCount).map { forgetting(atStage: $0) } }

    /// Chaudhry et al. forgetting after the last stage.
    public var finalForgetting: Double? { forgetting(atStage: stageCount - 1) }

    /// PyCIL's forgetting (see the file header): after the last stage S − 1, mean over the first
    /// S − 1 columns of (max over all stages of a(l, j)) − a(S − 1, j), missing entries read as 0.
    /// Meant for ``pycilGrouped(_:)``; `nil` with fewer than 2 stages (PyCIL prints NaN).
    public var pycilForgetting: Double? {
        let last = stageCount - 1
        guard last > 0 else { return nil }
        var sum = 0.0
        for j in 0..<min(last, columnCount) {
            let column = (0...last).map { self[$0, j] ?? 0 }
            sum += column.max()! - column[last]
        }
        return sum / Double(last)
    }

    /// Lopez-Paz & Ranzato backward transfer after the last stage T: mean over j < T of
    /// a(T, j) − a(j, j). Negative means forgetting. Columns missing either entry are skipped;
    /// `nil` with one stage.
    public var backwardTransfer: Double? {
        let last = stageCount - 1
        guard last > 0 else { return nil }
        var sum = 0.0, count = 0
        for j in 0..<min(last, columnCount) {
            guard let final = self[last, j], let first = self[j, j] else { continue }
            sum += final - first
            count += 1
        }
        return count == 0 ? nil : sum / Double(count)
    }

    // MARK: renderings

    /// Everything derived from the matrix, for JSON.
    public struct Summary: Codable, Equatable, Sendable {
        public var columnLabels: [String]
        public var values: [[Double?]]
        public var top1Curve: [Double]
        public var averageIncrementalAccuracy: Double?
        public var lastAccuracy: Double?
        public var forgetting: [Double?]
        public var finalForgetting: Double?
        public var pycilForgetting: Double?
        public var backwardTransfer: Double?
    }

    public var summary: Summary {
        Summary(columnLabels: columnLabels, values: values, top1Curve: top1Curve,
                averageIncrementalAccuracy: averageIncrementalAccuracy, lastAccuracy: lastAccuracy,
                forgetting: forgettingCurve, finalForgetting: finalForgetting,
                pycilForgetting: pycilForgetting, backwardTransfer: backwardTransfer)
    }

    /// ``summary`` as pretty-printed JSON with sorted keys (`null` for missing entries).
    /// - Throws: `EncodingError` if a value is NaN or infinite.
    public func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(summary), as: UTF8.self)
    }

    /// One line per stage: `stage,top1,<column labels...>,forgetting`, empty cells for missing
    /// values, numbers with `decimals` decimals.
    public func csv(decimals: Int = 2) -> String {
        func cell(_ x: Double?) -> String { x.map { String(format: "%.\(decimals)f", $0) } ?? "" }
        var lines = [(["stage", "top1"] + columnLabels + ["forgetting"]).joined(separator: ",")]
        for k in 0..<stageCount {
            let top1 = top1Curve.indices.contains(k) ? top1Curve[k] : nil
            let row = ["\(k)", cell(top1)] + values[k].map(cell) + [cell(forgetting(atStage: k))]
            lines.append(row.joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
