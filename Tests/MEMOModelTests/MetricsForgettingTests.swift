import Foundation
import Testing
@testable import MEMOModel

/// Forgetting, PyCIL's forgetting, backward transfer and average incremental accuracy on a
/// hand-made 3x3 matrix (PyCIL's value checked with its `trainer.py` code in numpy: 10.0).
///
///            task 0  task 1  task 2   top-1
///   stage 0    90                      90
///   stage 1    70      80              75
///   stage 2    95      60      85      80
@Suite struct MetricsForgettingTests {
    static let matrix = try! AccuracyMatrix(values: [[90], [70, 80], [95, 60, 85]], top1Curve: [90, 75, 80])

    @Test func curveSummaries() {
        #expect(abs(Self.matrix.averageIncrementalAccuracy! - 245.0 / 3) < 1e-12)
        #expect(Self.matrix.lastAccuracy == 80)
        #expect(Self.matrix[2, 1] == 60 && Self.matrix[0, 1] == nil)
    }

    @Test func chaudhryForgetting() {
        // Stage 1: 90 - 70 = 20. Stage 2: task 0 max(90, 70) - 95 = -5, task 1 80 - 60 = 20 -> 7.5.
        #expect(Self.matrix.forgetting(atStage: 0) == nil)
        #expect(Self.matrix.forgetting(atStage: 1) == 20)
        #expect(Self.matrix.forgetting(atStage: 2) == 7.5)
        #expect(Self.matrix.forgettingCurve == [nil, 20, 7.5])
        #expect(Self.matrix.finalForgetting == 7.5)
    }

    @Test func pycilForgetting() throws {
        // Max over all stages, the last included: task 0 95 - 95 = 0, task 1 80 - 60 = 20 -> 10.
        #expect(Self.matrix.pycilForgetting == 10)
        // More stages than groups (B0 Inc5 style): the mean still divides by S - 1 = 2.
        // Group 0: max(80, 70, 60) - 60 = 20; group 1 first seen at the last stage: 0. -> 10.
        let heads = [[80.0], [70], [60, 90]].enumerated().map { i, accs in
            HeadEvaluation(top1: 0, top5: 0, perTask: [], groupKeys: Array(["00-09", "10-19"].prefix(accs.count)),
                           groupAccuracies: accs, old: 0, new: 0)
        }
        let grouped = try AccuracyMatrix.pycilGrouped(heads)
        #expect(grouped.columnLabels == ["00-09", "10-19"])
        #expect(grouped.pycilForgetting == 10)
        #expect(try! AccuracyMatrix(values: [[50]]).pycilForgetting == nil)
    }

    @Test func pycilSortsKeysAsStrings() throws {
        let keys = (0..<11).map { $0 == 0 ? "00-09" : "\($0 * 10)-\($0 * 10 + 9)" }
        let head = HeadEvaluation(top1: 0, top5: 0, perTask: [], groupKeys: keys,
                                  groupAccuracies: (0..<11).map(Double.init), old: 0, new: 0)
        let grouped = try AccuracyMatrix.pycilGrouped([head])
        #expect(Array(grouped.columnLabels.prefix(3)) == ["00-09", "10-19", "100-109"])
        #expect(grouped[0, 2] == 10)
    }

    @Test func backwardTransfer() {
        // ((95 - 90) + (60 - 80)) / 2 = -7.5.
        #expect(Self.matrix.backwardTransfer == -7.5)
        #expect(try! AccuracyMatrix(values: [[50]]).backwardTransfer == nil)
    }

    @Test func fromEvaluations() throws {
        let heads = [[90.0], [70, 80]].map {
            HeadEvaluation(top1: $0.reduce(0, +) / Double($0.count), top5: 0, perTask: $0,
                           groupKeys: [], groupAccuracies: [], old: 0, new: 0)
        }
        let m = try AccuracyMatrix(evaluations: heads)
        #expect(m.values == [[90, nil], [70, 80]] && m.top1Curve == [90, 75])
        #expect(m.forgetting(atStage: 1) == 20)
    }

    @Test func csvAndJSON() throws {
        #expect(Self.matrix.csv() == """
            stage,top1,task_0,task_1,task_2,forgetting
            0,90.00,90.00,,,
            1,75.00,70.00,80.00,,20.00
            2,80.00,95.00,60.00,85.00,7.50

            """)
        let summary = try JSONDecoder().decode(AccuracyMatrix.Summary.self, from: Data(Self.matrix.json().utf8))
        #expect(summary.values[0] == [90, nil, nil])
        #expect(summary.forgetting == [nil, 20, 7.5])
        #expect(summary.pycilForgetting == 10 && summary.backwardTransfer == -7.5)
        #expect(throws: AccuracyMatrixError.curveLength(curve: 1, stages: 2)) {
            try AccuracyMatrix(values: [[1], [2, 3]], top1Curve: [1])
        }
    }
}
