import Foundation

// `memo-infer forgetting`: how accuracy on earlier tasks evolves over a run, from the evaluations
// the stage checkpoints store (no network is run). The numbers come from `AccuracyMatrix`:
// a(k, j) per task, the top-1 curve, average incremental accuracy, last accuracy, Chaudhry et
// al.'s forgetting per stage, PyCIL's forgetting (on its 10-class groups) and backward transfer.

/// The accuracy matrix of a run and everything derived from it, rendered.
public struct ForgettingReport: Sendable {
    public var head: ClassifierHead
    /// a(k, j): top-1 accuracy after stage k on the classes of task j (percent).
    public var perTask: AccuracyMatrix
    /// PyCIL's grouped matrix (``AccuracyMatrix/pycilGrouped(_:)``) for its forgetting; `nil`
    /// when not known (a hand-made matrix).
    public var pycilGrouped: AccuracyMatrix?
    /// Label range of each task ("0-9"), when known.
    public var taskClasses: [String]?

    public init(perTask: AccuracyMatrix, pycilGrouped: AccuracyMatrix? = nil, head: ClassifierHead = .cnn,
                taskClasses: [String]? = nil) {
        self.perTask = perTask
        self.pycilGrouped = pycilGrouped
        self.head = head
        self.taskClasses = taskClasses
    }

    /// From each stage's stored evaluation (CNN or NME head), in stage order.
    /// - Throws: ``InferenceError/missing(path:what:)`` if a stage has no NME evaluation and
    ///   `head` is `.nme`, ``InferenceError/emptyRunFolder(path:)`` without checkpoints.
    public init(checkpoints: [Checkpoint], head: ClassifierHead = .cnn, path: String) throws {
        guard let last = checkpoints.last else { throw InferenceError.emptyRunFolder(path: path) }
        let evaluations: [HeadEvaluation] = try checkpoints.map { c in
            switch head {
            case .cnn: return c.evaluation.cnn
            case .nme:
                guard let nme = c.evaluation.nme else {
                    throw InferenceError.missing(path: path + "/" + Checkpoint.fileName(stage: c.stage), what: "no NME evaluation stored")
                }
                return nme
            }
        }
        self.init(perTask: try AccuracyMatrix(evaluations: evaluations), pycilGrouped: try .pycilGrouped(evaluations), head: head,
                  taskClasses: last.taskSizes.indices.map { last.classRange(task: $0) })
    }

    /// Rendered report. Table: the matrix with the top-1 curve and forgetting per stage, then the
    /// summary numbers (2 decimals). CSV: ``AccuracyMatrix/csv(decimals:)`` of the per-task
    /// matrix. JSON: every number unrounded.
    public func render(_ format: ReportFormat) throws -> String {
        switch format {
        case .csv:
            return perTask.csv(decimals: 2)
        case .json:
            struct Output: Encodable {
                var head: String
                var columns: [String]
                @Nullable var task_classes: [String]?
                var values: [[Double?]]
                var top1_curve: [Double]
                @Nullable var average_incremental_accuracy: Double?
                @Nullable var last_accuracy: Double?
                var forgetting: [Double?]
                @Nullable var final_forgetting: Double?
                @Nullable var pycil_forgetting: Double?
                @Nullable var pycil_groups: [String]?
                @Nullable var pycil_grouped_values: [[Double?]]?
                @Nullable var backward_transfer: Double?
            }
            let m = perTask
            return try prettyJSON(Output(
                head: head.rawValue, columns: m.columnLabels, task_classes: taskClasses, values: m.values,
                top1_curve: m.top1Curve, average_incremental_accuracy: m.averageIncrementalAccuracy,
                last_accuracy: m.lastAccuracy, forgetting: m.forgettingCurve, final_forgetting: m.finalForgetting,
                pycil_forgetting: pycilGrouped?.pycilForgetting, pycil_groups: pycilGrouped?.columnLabels,
                pycil_grouped_values: pycilGrouped?.values, backward_transfer: m.backwardTransfer))
        case .table:
            let m = perTask
            let name = head == .cnn ? "CNN" : "NME"
            var s = "accuracy matrix a(k, j): \(name) top-1 (%) after stage k on the classes of task j\n"
            let columns = (0..<m.columnCount).map { "task \($0)" }
            var table = TextTable(header: ["stage", "top-1"] + columns + ["forgetting"])
            for k in 0..<m.stageCount {
                let top1 = m.top1Curve.indices.contains(k) ? m.top1Curve[k] : nil
                table.append(["\(k)", fixed2(top1)] + m.values[k].map(fixed2) + [fixed2(m.forgetting(atStage: k))])
            }
            s += table.text
            if let taskClasses {
                s += "tasks: " + taskClasses.enumerated().map { "\($0.offset) = classes \($0.element)" }
                    .joined(separator: ", ") + "\n"
            }
            s += "average incremental accuracy: \(fixed2(m.averageIncrementalAccuracy))\n"
            s += "last accuracy: \(fixed2(m.lastAccuracy))\n"
            s += "forgetting (Chaudhry et al. 2018, per task) after the last stage: \(fixed2(m.finalForgetting))\n"
            if let pycilGrouped {
                s += "forgetting (PyCIL, 10-class groups): \(fixed2(pycilGrouped.pycilForgetting))\n"
            }
            s += "backward transfer (BWT): \(fixed2(m.backwardTransfer))\n"
            return s
        }
    }

    /// The accuracy plot: the top-1 curve and one curve per task (from the stage that
    /// introduces it), 0-100 %, stages on the x axis labelled with the classes seen.
    public func plot(width: Double = 720, height: Double = 440, legend: LegendPlacement = .right) -> SVGDocument {
        let m = perTask
        var series = [ChartSeries(name: "all classes (top-1)", values: m.top1Curve.map { Optional($0) }, color: .palette(0))]
        for j in 0..<m.columnCount {
            let classes = taskClasses.map { j < $0.count ? " (classes \($0[j]))" : "" } ?? ""
            series.append(ChartSeries(name: "task \(j)\(classes)", values: (0..<m.stageCount).map { m[$0, j] },
                                      color: .palette(j + 1)))
        }
        let name = head == .cnn ? "CNN" : "NME"
        return lineChart(series: series, xLabels: (0..<m.stageCount).map(String.init),
                         title: "\(name) top-1 accuracy after each stage, overall and per task",
                         xTitle: "stage", yTitle: "top-1 accuracy on the test images (%)", yRange: 0...100,
                         width: width, height: height, legend: legend)
    }

    /// The accuracy matrix a(k, j) as a lower-triangular heatmap with the values in its cells.
    public func matrixHeatmap() -> SVGDocument {
        let m = perTask
        let name = head == .cnn ? "CNN" : "NME"
        let columns = (0..<m.columnCount).map { j in taskClasses.map { j < $0.count ? "task \(j) (\($0[j]))" : "task \(j)" } ?? "task \(j)" }
        return heatmap(matrix: m.values, rowLabels: (0..<m.stageCount).map { "after stage \($0)" }, columnLabels: columns,
                       rowTitle: "stage", columnTitle: "task (its classes, in arrival order)",
                       scale: ColourScale(range: 0...100, title: "top-1 accuracy on the task's classes (%)"),
                       cellText: { String(format: "%.1f", $0) },
                       tooltip: { k, j, v in "after stage \(k), \(columns[j]): \(String(format: "%.2f", v)) %" },
                       title: "\(name) accuracy matrix a(k, j)")
    }
}
