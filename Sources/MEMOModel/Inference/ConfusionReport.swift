import Foundation

// `memo-infer confusion`: the confusion matrix of a stage over the classes seen, from the test
// predictions stored in the checkpoint (no network is run). Rows are true classes, columns
// predicted classes, both as labels in arrival order (the class order); the counts and the
// row-normalised matrix come from `Accuracy.confusionMatrix`, per-class accuracy from
// `Accuracy.perTask` with one-class tasks.

/// A stage's confusion matrix, rendered as a table, CSV or heatmap.
public struct ConfusionReport: Sendable {
    public var head: ClassifierHead
    public var stage: Int
    /// Class name of each label.
    public var classNames: [String]
    public var taskSizes: [Int]
    /// counts[true][predicted].
    public var counts: [[Int]]
    /// Each row divided by its number of samples (0 for a class without test images).
    public var normalized: [[Double]]
    /// Test images of each class.
    public var samples: [Int]
    /// Top-1 accuracy of each class in percent (PyCIL rounding).
    public var accuracy: [Double]

    /// From the checkpoint's stored top-1 predictions of `head`.
    /// - Throws: ``InferenceError/missing(path:what:)`` without stored predictions.
    public init(checkpoint c: Checkpoint, head: ClassifierHead = .cnn, path: String) throws {
        let topK = head == .cnn ? c.cnnTopK : c.nmeTopK
        guard !c.testLabels.isEmpty, topK.count == c.testLabels.count, topK.allSatisfy({ !$0.isEmpty }) else {
            throw InferenceError.missing(path: path, what: "no stored \(head.rawValue.uppercased()) test predictions")
        }
        let predicted = topK.map { $0[0] }
        let classCount = c.classesSeen
        self.head = head
        stage = c.stage
        classNames = (0..<classCount).map { c.className(label: $0) }
        taskSizes = c.taskSizes
        counts = try Accuracy.confusionMatrix(predicted: predicted, labels: c.testLabels, classCount: classCount,
                                              normalized: false).map { $0.map { Int($0) } }
        normalized = try Accuracy.confusionMatrix(predicted: predicted, labels: c.testLabels, classCount: classCount)
        samples = (0..<classCount).map { y in c.testLabels.filter { $0 == y }.count }
        accuracy = try Accuracy.perTask(predicted: predicted, labels: c.testLabels,
                                        taskSizes: [Int](repeating: 1, count: classCount))
    }

    /// The task that introduces each label.
    var taskOfLabel: [Int] { taskSizes.enumerated().flatMap { [Int](repeating: $0.offset, count: $0.element) } }

    /// Table: one row per true class (label, task, the row of counts or of fractions with 3
    /// decimals, samples, accuracy in %, class name).
    public func table(normalize: Bool) -> String {
        let n = classNames.count
        var s = "confusion matrix, \(head.rawValue.uppercased()), stage \(stage): rows = true class, columns = predicted class "
            + "(labels in arrival order), \(normalize ? "fraction of the row" : "test images")\n"
        var table = TextTable(header: ["true", "task"] + (0..<n).map(String.init) + ["samples", "accuracy", "class"],
                              leftAligned: [n + 4])
        let tasks = taskOfLabel
        for y in 0..<n {
            let cells = normalize ? normalized[y].map { String(format: "%.3f", $0) } : counts[y].map(String.init)
            table.append(["\(y)", "\(tasks[y])"] + cells + ["\(samples[y])", fixed2(accuracy[y]), classNames[y]])
        }
        s += table.text
        return s
    }

    /// CSV: `true_label,class,task,pred_0,...,samples,accuracy`; counts, or with `normalize` the
    /// fractions unrounded.
    public func csv(normalize: Bool) -> String {
        let n = classNames.count
        var s = csvLine(["true_label", "class", "task"] + (0..<n).map { "pred_\($0)" } + ["samples", "accuracy"])
        let tasks = taskOfLabel
        for y in 0..<n {
            let cells = normalize ? normalized[y].map { "\($0)" } : counts[y].map(String.init)
            s += csvLine(["\(y)", classNames[y], "\(tasks[y])"] + cells + ["\(samples[y])", fixed2(accuracy[y])])
        }
        return s
    }

    /// The task-to-task confusion: rows = the task of the true class, columns = the task of the
    /// predicted class, each row as fractions of that task's test images (the class matrix's
    /// counts summed over tasks); for runs with too many classes to read the class matrix.
    public var taskConfusion: [[Double]] {
        let tasks = taskOfLabel
        var sums = [[Double]](repeating: [Double](repeating: 0, count: taskSizes.count), count: taskSizes.count)
        for (y, row) in counts.enumerated() {
            for (p, n) in row.enumerated() { sums[tasks[y]][tasks[p]] += Double(n) }
        }
        return sums.map { row in
            let total = row.reduce(0, +)
            return total > 0 ? row.map { $0 / total } : row
        }
    }

    /// Heatmap of ``taskConfusion`` with the fractions in the cells.
    public func taskHeatmapImage() -> SVGDocument {
        var start = 0
        let labels = taskSizes.enumerated().map { t, size -> String in
            defer { start += size }
            return size == 1 ? "task \(t) (class \(start))" : "task \(t) (\(start)-\(start + size - 1))"
        }
        return heatmap(matrix: taskConfusion.map { $0.map { Optional($0) } }, rowLabels: labels, columnLabels: labels,
                       rowTitle: "task of the true class", columnTitle: "task of the predicted class",
                       scale: ColourScale(range: 0...1, title: "fraction of the task's test images"),
                       cellText: { String(format: "%.2f", $0) },
                       title: "Task confusion after stage \(stage), \(head.rawValue.uppercased()) head")
    }

    /// Heatmap of the row-normalised matrix: class names on both axes in arrival order, red task
    /// borders, the fraction written in each cell when the cells are large enough.
    public func heatmapImage() -> SVGDocument {
        var start = 0
        let boundaries = taskSizes.dropLast().map { start += $0; return start }
        let labels = classNames.enumerated().map { "\($0.element) (\($0.offset))" }
        return heatmap(matrix: normalized.map { $0.map { Optional($0) } }, rowLabels: labels, columnLabels: labels,
                       rowTitle: "true class", columnTitle: "predicted class (label in arrival order)",
                       rowBorders: boundaries, columnBorders: boundaries,
                       scale: ColourScale(range: 0...1, title: "fraction of the true class's test images"),
                       cellText: { $0 == 0 ? "" : String(format: "%.2f", $0).replacingOccurrences(of: "0.", with: ".") },
                       tooltip: { r, c, v in
                           "true \(self.classNames[r]), predicted \(self.classNames[c]): \(self.counts[r][c]) of \(self.samples[r]) (\(String(format: "%.1f", v * 100)) %)"
                       },
                       title: "Confusion after stage \(stage), \(head.rawValue.uppercased()) head (\(classNames.count) classes)")
    }
}
