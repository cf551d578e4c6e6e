import Foundation

// `memo-infer inspect`: what a checkpoint holds, read without running anything (layout:
// docs/checkpoint-format.md).

/// A human-readable description of one checkpoint.
public enum InspectReport {
    /// Reads `path` (validating it as `Checkpoint.read` does) and describes it.
    public static func text(path: String) throws -> String {
        let checkpoint = try Checkpoint.read(path)
        return text(checkpoint: checkpoint, formatVersion: checkpoint.fileFormatVersion, path: path)
    }

    /// Format version, stage, backbone, dataset, the configuration (JSON), task sizes, every
    /// tensor with its shape, the memory (`MemoryReport`), the stored evaluation, whether the
    /// data carries checksums, and the training record (format version 3).
    public static func text(checkpoint c: Checkpoint, formatVersion: Int64, path: String) -> String {
        var s = "file: \(path)\n"
        s += "format: \(Checkpoint.formatName) version \(formatVersion)\n"
        s += "stage: \(c.stage) (\(c.stage + 1) of \(stageCount(c)) stages of the split)\n"
        s += "backbone: \(c.backbone.rawValue) (depth \(c.backbone.depth), \(c.taskSizes.count) specialized blocks)\n"
        s += "dataset: \(c.datasetName), \(c.classNames.count) classes, images \(c.imageShape.map(String.init).joined(separator: "x"))\n"
        s += "class order: \(c.classOrder.map(String.init).joined(separator: " "))\n"
        s += "task sizes: \(c.taskSizes.map(String.init).joined(separator: " + ")) = \(c.classesSeen) classes seen, "
            + "\(c.knownClasses) known before this stage\n"
        s += "normalisation: mean \(c.normalizationMean), std \(c.normalizationStd)\n"
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        s += "config: " + ((try? encoder.encode(c.config)).map { String(decoding: $0, as: UTF8.self) } ?? "?") + "\n"
        if let i = c.importInfo {
            let exemplars = i.exemplars == "sidecar" ? "listed in its sidecar" : "by \(i.exemplars)"
            s += "imported: from \(i.sourceFile) (\(i.sourceFormat)); exemplars \(exemplars), class means from the exemplars\n"
            if let l = i.logged {
                s += "logged by its training code: CNN top-1 \(fixed2(l.cnnTop1)), top-k \(fixed2(l.cnnTopK)), "
                    + "NME top-1 \(fixed2(l.nmeTop1)), top-k \(fixed2(l.nmeTopK))\n"
            }
        }
        let values = c.tensors.values.reduce(0) { $0 + $1.count }
        s += "tensors: \(c.tensors.count), \(values) values\n"
        var table = TextTable(header: ["  name", "shape", "values"], leftAligned: [1])
        for (name, t) in c.tensors.sorted(by: { $0.key < $1.key }) {
            table.append(["  " + name, t.shape.map(String.init).joined(separator: "x"), "\(t.count)"])
        }
        s += table.text
        let m = MemoryReport(checkpoint: c)
        s += "memory: \(m.totalParameters) parameters (\(m.parameterBytes) bytes), \(m.exemplarCount) exemplars "
            + "(\(m.exemplarBytes) bytes), total \(m.totalBytes) bytes = " + String(format: "%.2f MiB", m.totalMiB)
            + String(format: "; model = %.1f exemplars\n", m.modelInExemplars)
        func head(_ name: String, _ e: HeadEvaluation) -> String {
            "\(name) top-1 \(fixed2(e.top1)), top-5 \(fixed2(e.top5)), old \(fixed2(e.old)), new \(fixed2(e.new)), per task "
                + e.perTask.map(fixed2).joined(separator: " ")
        }
        s += "evaluation: " + head("CNN", c.evaluation.cnn) + "\n"
        if let nme = c.evaluation.nme { s += "            " + head("NME", nme) + "\n" }
        s += "test predictions: \(c.testIndices.count) images, top-\(c.cnnTopK.first?.count ?? 0) stored\n"
        s += "data checksums: " + (c.hasDataChecksums ? "Fletcher-32 on every dataset\n"
            : "none on some datasets (damage to their numbers cannot be detected)\n")
        if formatVersion < 3 {
            s += "training record: none (format version \(formatVersion))\n"
        } else {
            let epochs = c.epochs.isEmpty ? "no epoch trained"
                : "\(c.epochs.count) epoch\(c.epochs.count == 1 ? "" : "s"), loss "
                    + c.epochs.map { String(format: "%.3f", $0.loss) }.joined(separator: " ")
            s += "training record: \(epochs); weight-align gamma " + (c.alignGamma.map { String(format: "%.4f", $0) } ?? "none")
                + "; \(c.misclassifiedPositions.count) misclassified test images kept\n"
        }
        return s
    }

    /// Stages of the run's split (from the configuration and the class count).
    static func stageCount(_ c: Checkpoint) -> Int {
        (try? ClassIncrementalSplit(order: c.classOrder, initial: c.config.initCls, increment: c.config.increment))?
            .taskCount ?? c.taskSizes.count
    }
}
