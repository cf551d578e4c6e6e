import Foundation
import Testing
@testable import MEMOModel

/// Accuracy as PyCIL computes it (`utils/toolkit.py` `accuracy`, `models/base.py` `_evaluate`),
/// on hand-made predictions whose expected values are worked out in the comments.
@Suite struct MetricsAccuracyTests {
    // 12 test samples of classes 0...11 after stage 1 of a B10 Inc2 split (tasks [10, 2]).
    // Top-1 correct: classes 0-5 (6 of 10 old) and 10 (1 of 2 new); 11 is predicted as 3.
    // Samples 6 and 7 have their label at rank 3 and 5; 8, 9, 11 miss it in the top 5.
    static let labels = Array(0...11)
    static let predictions: [[Int]] = [
        [0, 1, 2, 3, 4], [1, 0, 2, 3, 4], [2, 0, 1, 3, 4], [3, 0, 1, 2, 4],
        [4, 0, 1, 2, 3], [5, 0, 1, 2, 3], [0, 1, 6, 2, 3], [0, 1, 2, 3, 7],
        [0, 1, 2, 3, 4], [0, 1, 2, 3, 4], [10, 0, 1, 2, 3], [3, 0, 1, 2, 4],
    ]

    @Test func topOneAndTopFive() throws {
        let top = try TopKPredictions(Self.predictions)
        #expect(try Accuracy.top1(predicted: top.top1, labels: Self.labels) == 58.33)  // 7/12
        #expect(try Accuracy.topK(top, labels: Self.labels, k: 5) == 75.0)              // 9/12
        #expect(try Accuracy.topK(top, labels: Self.labels, k: 1) == 58.33)
    }

    @Test func groupedOldNewPerTask() throws {
        let best = try TopKPredictions(Self.predictions).top1
        let grouped = try Accuracy.grouped(predicted: best, labels: Self.labels)
        #expect(grouped.map(\.key) == ["00-09", "10-19"])
        #expect(grouped.map(\.accuracy) == [60.0, 50.0])
        let (old, new) = try Accuracy.oldNew(predicted: best, labels: Self.labels, knownClasses: 10)
        #expect(old == 60.0 && new == 50.0)
        #expect(try Accuracy.perTask(predicted: best, labels: Self.labels, taskSizes: [10, 2]) == [60.0, 50.0])
        // Three tasks of 4: classes 0-3 all right, 4-7 two of four, 8-11 one of four.
        #expect(try Accuracy.perTask(predicted: best, labels: Self.labels, taskSizes: [4, 4, 4]) == [100.0, 50.0, 25.0])
    }

    @Test func headEvaluationBundlesEverything() throws {
        let head = try HeadEvaluation(predictions: Self.predictions, labels: Self.labels,
                                      taskSizes: [10, 2], knownClasses: 10)
        #expect(head.top1 == 58.33 && head.top5 == 75.0)
        #expect(head.groupKeys == ["00-09", "10-19"] && head.groupAccuracies == [60.0, 50.0])
        #expect(head.old == 60.0 && head.new == 50.0 && head.perTask == [60.0, 50.0])
        let stage = StageEvaluation(cnn: head, nme: head)
        let decoded = try JSONDecoder().decode(StageEvaluation.self, from: JSONEncoder().encode(stage))
        #expect(decoded == stage)
    }

    @Test func pycilKeysAndRounding() throws {
        // range(0, max(y_true), 10): labels up to 10 give no "10-19" group; only label 0 gives none.
        let labels11 = Array(0...10)
        #expect(try Accuracy.grouped(predicted: labels11, labels: labels11).map(\.key) == ["00-09"])
        #expect(try Accuracy.grouped(predicted: [0, 0], labels: [0, 0]).isEmpty)
        // Keys beyond 99 are not padded further.
        let wide = try Accuracy.grouped(predicted: [0, 105], labels: [0, 105])
        #expect(wide.map(\.key).suffix(2) == ["90-99", "100-109"])
        // numpy.around: round half to even on the scaled value.
        #expect(numpyAround(0.125) == 0.12 && numpyAround(0.375) == 0.38)
        #expect(try Accuracy.top1(predicted: [0, 1, 0], labels: [0, 1, 1]) == 66.67)
        // Stage 0: no old classes gives old = 0, as in PyCIL.
        #expect(try Accuracy.oldNew(predicted: [0, 1], labels: [0, 1], knownClasses: 0) == (0, 100))
    }

    @Test func shortTopKRowsCoverAllClasses() throws {
        // Two classes seen: a "top-5" list has 2 entries and always contains the label.
        let top = try TopKPredictions([[1, 0], [0, 1], [1, 0]])
        #expect(try Accuracy.topK(top, labels: [0, 1, 1], k: 5) == 100.0)
        #expect(try Accuracy.topK(top, labels: [0, 1, 1], k: 1) == 33.33)
        let flat = try TopKPredictions(flat: [1, 0, 0, 1, 1, 0], k: 2)
        #expect(flat == top)
    }

    @Test func confusionMatrixRowsNormalised() throws {
        let m = try Accuracy.confusionMatrix(predicted: [0, 1, 1, 2], labels: [0, 0, 1, 2], classCount: 3)
        #expect(m == [[0.5, 0.5, 0], [0, 1, 0], [0, 0, 1]])
    }

    @Test func badInputThrowsWithContext() throws {
        #expect(throws: AccuracyError.lengthMismatch(predictions: 2, labels: 3)) {
            try Accuracy.top1(predicted: [0, 1], labels: [0, 1, 2])
        }
        #expect(throws: AccuracyError.empty) { try Accuracy.top1(predicted: [], labels: []) }
        #expect(throws: AccuracyError.labelOutOfRange(sample: 1, label: 5, classCount: 4)) {
            try Accuracy.perTask(predicted: [0, 0], labels: [0, 5], taskSizes: [2, 2])
        }
        #expect(throws: AccuracyError.ragged(count: 5, k: 2)) { try TopKPredictions(flat: [0, 1, 2, 3, 4], k: 2) }
        #expect(AccuracyError.labelOutOfRange(sample: 1, label: 5, classCount: 4).description
                == "accuracy: sample 1 has label 5, outside 0..<4")
    }
}
