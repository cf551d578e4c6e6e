import Foundation

// `memo-infer evaluate`: re-evaluates a stage checkpoint on the test images of the classes it has
// seen, exactly as the trainer does after a stage (same test selection, `MEMONetwork.infer`,
// `cnnTopK` / `nmeTopK` with k = min(5, classes seen), `HeadEvaluation`), and says whether the
// result equals the evaluation stored in the checkpoint.

/// A stage checkpoint evaluated again on a dataset's test set.
public struct EvaluateReport: Sendable {
    public var checkpointPath: String
    public var stage: Int
    public var backbone: Backbone
    public var datasetName: String
    public var taskSizes: [Int]
    public var knownClasses: Int
    /// Test images evaluated now (those of the classes seen).
    public var testCount: Int
    /// Test images behind the stored evaluation.
    public var storedTestCount: Int
    public var evaluation: StageEvaluation
    public var stored: StageEvaluation
    /// Test images whose CNN / NME top-k list differs from the stored one; `nil` when the test
    /// images are not the stored ones (another `--test-per-class`).
    public var cnnDiffering: Int?
    public var nmeDiffering: Int?

    /// Whether the recomputed evaluation equals the stored one, number for number.
    public var matchesStored: Bool { evaluation == stored }

    /// Refuses a dataset other than the checkpoint's: the class names (by original id) and the
    /// stored image shape must agree.
    /// - Throws: ``InferenceError/datasetMismatch(checkpoint:reason:)``.
    public static func checkDataset(_ dataset: Dataset, for checkpoint: Checkpoint, path: String) throws {
        func preview(_ names: [String]) -> String {
            names.prefix(3).joined(separator: ", ") + (names.count > 3 ? ", ..." : "")
        }
        guard dataset.classNames == checkpoint.classNames else {
            throw InferenceError.datasetMismatch(
                checkpoint: path,
                reason: "checkpoint of dataset '\(checkpoint.datasetName)' (\(checkpoint.classNames.count) classes: "
                    + "\(preview(checkpoint.classNames))) cannot be evaluated on '\(dataset.name)' "
                    + "(\(dataset.classNames.count) classes: \(preview(dataset.classNames))): the class names differ")
        }
        let shape = [dataset.test.height, dataset.test.width, dataset.test.channels]
        guard shape == checkpoint.imageShape else {
            throw InferenceError.datasetMismatch(
                checkpoint: path,
                reason: "checkpoint stores \(checkpoint.imageShape.map(String.init).joined(separator: "x")) images, "
                    + "dataset '\(dataset.name)' has \(shape.map(String.init).joined(separator: "x"))")
        }
    }

    /// Evaluates `checkpoint` (read from `path`) on `dataset`'s test images.
    /// - Throws: ``InferenceError`` for another dataset or no test image of the classes seen,
    ///   `CheckpointError` for a checkpoint that does not rebuild.
    public static func run(checkpoint c: Checkpoint, path: String, dataset: Dataset) throws -> EvaluateReport {
        try checkDataset(dataset, for: c, path: path)
        let split = try ClassIncrementalSplit(order: c.classOrder, initial: c.config.initCls, increment: c.config.increment)
        let allLabels = dataset.test.labels.map { split.newLabel(original: $0) }
        guard allLabels.contains(where: { $0 < c.classesSeen }) else {
            throw InferenceError.missing(path: path, what: "dataset '\(dataset.name)' has no test image of the \(c.classesSeen) classes seen")
        }
        let result = try StageTest(network: try c.makeNetwork(), testSet: dataset.test, labels: allLabels, taskSizes: c.taskSizes,
                                   classMeans: c.classMeans, mean: c.normalizationMean, std: c.normalizationStd)
        let (test, labels, cnn, nme, evaluation) = (result.indices, result.labels, result.cnnTopK, result.nmeTopK, result.evaluation)
        let sameImages = test == c.testIndices && labels == c.testLabels
        func differing(_ now: [[Int]], _ stored: [[Int]]) -> Int? {
            sameImages ? zip(now, stored).filter { $0 != $1 }.count : nil
        }
        return EvaluateReport(
            checkpointPath: path, stage: c.stage, backbone: c.backbone, datasetName: dataset.name, taskSizes: c.taskSizes,
            knownClasses: c.knownClasses, testCount: test.count, storedTestCount: c.testIndices.count,
            evaluation: evaluation, stored: c.evaluation,
            cnnDiffering: differing(cnn, c.cnnTopK), nmeDiffering: differing(nme, c.nmeTopK))
    }

    /// Fields of `now` that differ from `stored`, as "name stored X, now Y".
    static func differences(_ name: String, _ stored: HeadEvaluation?, _ now: HeadEvaluation?) -> [String] {
        guard let stored, let now else {
            return stored == nil && now == nil ? [] : ["\(name): stored \(stored == nil ? "absent" : "present")"]
        }
        var out: [String] = []
        func compare(_ field: String, _ a: Double, _ b: Double) {
            if a != b { out.append("\(name) \(field) stored \(fixed2(a)), now \(fixed2(b))") }
        }
        compare("top-1", stored.top1, now.top1)
        compare("top-5", stored.top5, now.top5)
        compare("old", stored.old, now.old)
        compare("new", stored.new, now.new)
        for (t, (a, b)) in zip(stored.perTask, now.perTask).enumerated() { compare("task \(t)", a, b) }
        if stored.perTask.count != now.perTask.count { out.append("\(name) has \(stored.perTask.count) tasks stored") }
        for ((key, a), (_, b)) in zip(stored.grouped, now.grouped) { compare("group \(key)", a, b) }
        if stored.groupKeys != now.groupKeys { out.append("\(name) groups stored \(stored.groupKeys)") }
        return out
    }

    /// "identical" or the list of differences.
    public var comparison: String {
        let diffs = Self.differences("CNN", stored.cnn, evaluation.cnn) + Self.differences("NME", stored.nme, evaluation.nme)
        return diffs.isEmpty ? "identical" : "differs (" + diffs.joined(separator: "; ") + ")"
    }

    /// Table (an overview, then CNN and NME side by side) or JSON.
    /// - Throws: ``InferenceError/unsupportedFormat(report:format:)`` for CSV.
    public func render(_ format: ReportFormat) throws -> String {
        switch format {
        case .csv:
            throw InferenceError.unsupportedFormat(report: "evaluate", format: .csv)
        case .json:
            struct Output: Encodable {
                var checkpoint: String
                var stage: Int
                var backbone: String
                var dataset: String
                var task_sizes: [Int]
                var test_images: Int
                var evaluation: StageEvaluationOutput
                var stored_evaluation: StageEvaluationOutput
                var matches_stored: Bool
                @Nullable var cnn_predictions_differing: Int?
                @Nullable var nme_predictions_differing: Int?
            }
            return try prettyJSON(Output(
                checkpoint: checkpointPath, stage: stage, backbone: backbone.rawValue, dataset: datasetName,
                task_sizes: taskSizes, test_images: testCount, evaluation: StageEvaluationOutput(evaluation: evaluation), stored_evaluation: StageEvaluationOutput(evaluation: stored),
                matches_stored: matchesStored, cnn_predictions_differing: cnnDiffering,
                nme_predictions_differing: nmeDiffering))
        case .table:
            let total = taskSizes.reduce(0, +)
            var s = "checkpoint: \(checkpointPath)\n"
            s += "stage \(stage) of \(backbone.rawValue) on \(datasetName): \(total) classes seen "
                + "(tasks \(taskSizes.map(String.init).joined(separator: " + "))), \(testCount) test images\n"
            var table = TextTable(header: ["accuracy (%)", "CNN", "NME"])
            let cnn = evaluation.cnn, nme = evaluation.nme
            table.append(["top-1", fixed2(cnn.top1), fixed2(nme?.top1)])
            table.append(["top-5", fixed2(cnn.top5), fixed2(nme?.top5)])
            var start = 0
            for (t, size) in taskSizes.enumerated() {
                let range = size == 1 ? "\(start)" : "\(start)-\(start + size - 1)"
                table.append(["task \(t) (classes \(range))", fixed2(cnn.perTask[t]), fixed2(nme?.perTask[t])])
                start += size
            }
            for (i, key) in cnn.groupKeys.enumerated() {
                table.append(["group \(key)", fixed2(cnn.groupAccuracies[i]), fixed2(nme?.groupAccuracies[i])])
            }
            let old = knownClasses == 0 ? "old (none at stage 0)" : "old (classes 0-\(knownClasses - 1))"
            table.append([old, fixed2(cnn.old), fixed2(nme?.old)])
            table.append(["new (classes \(knownClasses)-\(total - 1))", fixed2(cnn.new), fixed2(nme?.new)])
            s += table.text
            s += "stored evaluation: \(comparison)\n"
            if let cnnDiffering, let nmeDiffering {
                s += "stored predictions: CNN top-k identical for \(testCount - cnnDiffering) of \(testCount) test images, "
                    + "NME for \(testCount - nmeDiffering) of \(testCount)\n"
            } else {
                s += "stored predictions: not comparable (stored on \(storedTestCount) test images, now \(testCount))\n"
            }
            return s
        }
    }
}
