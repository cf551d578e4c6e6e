import Foundation

// `memo-infer report`: one self-contained HTML page about one or more run folders. Charts are the
// SVG documents of Plot/ inlined (the same ones the PNG outputs render), the style sheet and a
// small sort script are inlined too (`ReportStyle`), nothing is fetched. The page holds no date
// or absolute time, so the same folders give the same bytes.
//
// Figures come from `RunReport` (the library's reports on the stored evaluations); the headline
// numbers are the ones `memo-infer forgetting --format json` prints, shown with two decimals, and
// that JSON itself is on the page under "Figures as JSON".

public enum HTMLReport {
    /// The page for `runs` (one run: its report; several: a comparison, then each run).
    /// - Throws: ``InferenceError/differentDatasets(first:firstDataset:other:otherDataset:)`` when
    ///   the runs were trained on different datasets or class names; encoding errors of the JSON.
    public static func render(_ runs: [RunReport]) throws -> String {
        guard let first = runs.first else { return "" }
        for run in runs.dropFirst() where run.last.datasetName != first.last.datasetName || run.last.classNames != first.last.classNames {
            throw InferenceError.differentDatasets(first: first.path, firstDataset: first.last.datasetName,
                                                   other: run.path, otherDataset: run.last.datasetName)
        }
        let names = runNames(runs)
        let title = runs.count == 1 ? "Run report: \(first.name)" : "Comparison of \(runs.count) runs: " + names.joined(separator: ", ")
        var body = "<h1>\(h(title))</h1>\n"
        body += "<p class=\"muted\">memo-swift MEMO run\(runs.count == 1 ? "" : "s") on \(h(first.last.datasetName)), "
            + "from the evaluations stored in the stage checkpoints (no network was run to make this page).</p>\n"
        let problems = zip(names, runs).flatMap { name, run in run.problems.map { (name, $0) } }
        if !problems.isEmpty {
            body += "<div class=\"banner\" id=\"partial\"><strong>Partial report: some stages are not shown</strong>"
                + "The figures below cover only the stages that loaded; \"last\" means the last stage shown, not the run's end.<ul>"
            for (name, p) in problems { body += "<li>\(h(name)): \(h(p))</li>" }
            body += "</ul></div>\n"
        }
        if runs.count > 1 { body += try comparison(runs, names: names) }
        for (i, run) in runs.enumerated() {
            body += try runSection(run, heading: runs.count == 1 ? nil : "Run \(i + 1): \(names[i])", anchor: "run\(i + 1)")
        }
        body += "<p class=\"muted\">Made by <code>memo-infer report</code>. Charts are SVG; hover a point or cell for its value.</p>\n"
        return """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(h(title))</title>
        <style>
        \(ReportStyle.css)
        </style>
        </head>
        <body>
        <main>
        \(body)</main>
        <script>
        \(ReportStyle.sortScript)
        </script>
        </body>
        </html>

        """
    }

    // MARK: pieces

    static func h(_ text: String) -> String { SVGDocument.escape(text) }

    /// Canvas of the page's line charts (legend below the plot, two side by side on a desktop)
    /// and bar chart: smaller than the PNGs' so that their text stays legible when a phone
    /// scales them down.
    static let chartWidth = 460.0, chartHeight = 400.0, barChartWidth = 600.0

    /// Display names: the folder names, numbered when two are the same.
    static func runNames(_ runs: [RunReport]) -> [String] {
        let names = runs.map(\.name)
        return names.enumerated().map { i, n in names.filter { $0 == n }.count > 1 ? "\(n) (\(i + 1))" : n }
    }

    static func figure(_ doc: SVGDocument, caption: String? = nil) -> String {
        var s = "<figure style=\"max-width:\(SVGDocument.number(doc.width))px\">\n" + doc.svg
        if let caption { s += "<figcaption>\(h(caption))</figcaption>\n" }
        return s + "</figure>\n"
    }

    /// A table; cells are escaped; `keys` optionally tags cells (row, column) with `data-key`.
    static func table(_ header: [String], _ rows: [[String]], sortable: Bool = false, cssClass: String? = nil,
                      keys: [[String?]]? = nil, textColumns: Set<Int> = []) -> String {
        let classes = ([cssClass, sortable ? "sortable" : nil].compactMap { $0 }).joined(separator: " ")
        var s = "<div class=\"scroll\"><table\(classes.isEmpty ? "" : " class=\"\(classes)\"")>\n<thead><tr>"
        for (i, c) in header.enumerated() { s += textColumns.contains(i) ? "<th class=\"text\">\(h(c))</th>" : "<th>\(h(c))</th>" }
        s += "</tr></thead>\n<tbody>\n"
        for (r, row) in rows.enumerated() {
            s += "<tr>"
            for (c, cell) in row.enumerated() {
                var attributes = ""
                if let key = keys?[r][c] { attributes += " data-key=\"\(h(key))\"" }
                if textColumns.contains(c) && c > 0 { attributes += " class=\"text\"" }
                s += "<td\(attributes)>\(h(cell))</td>"
            }
            s += "</tr>\n"
        }
        return s + "</tbody></table></div>\n"
    }

    static func keyValues(_ rows: [(String, String)]) -> String {
        var s = "<div class=\"scroll\"><table class=\"kv\"><tbody>\n"
        for (k, v) in rows { s += "<tr><td>\(h(k))</td><td>\(h(v))</td></tr>\n" }
        return s + "</tbody></table></div>\n"
    }

    static func mib(_ bytes: Int) -> String { String(format: "%.2f", mebibytes(bytes)) }

    /// The headline figures of one head: (label, JSON key, value).
    static func headline(_ r: ForgettingReport, top5: [Double]) -> [(String, String, Double?)] {
        let m = r.perTask
        let top5Average = top5.isEmpty ? nil : top5.reduce(0, +) / Double(top5.count)
        return [
            ("last accuracy, top-1 (%)", "last_accuracy", m.lastAccuracy),
            ("last accuracy, top-5 (%)", "last_top5", top5.last),
            ("average incremental accuracy, top-1 (%)", "average_incremental_accuracy", m.averageIncrementalAccuracy),
            ("average incremental accuracy, top-5 (%)", "average_incremental_top5", top5Average),
            ("forgetting after the last stage, per task (Chaudhry et al.)", "final_forgetting", m.finalForgetting),
            ("forgetting, PyCIL's 10-class groups", "pycil_forgetting", r.pycilGrouped?.pycilForgetting),
            ("backward transfer (BWT)", "backward_transfer", m.backwardTransfer),
        ]
    }

    static func stageLabels(_ run: RunReport) -> [String] {
        run.checkpoints.map { "\($0.stage) (\($0.classesSeen))" }
    }

    // MARK: one run

    static func runSection(_ run: RunReport, heading: String?, anchor: String) throws -> String {
        let last = run.last, config = last.config
        /// A section heading: h2 on a one-run page, h3 under the run's heading on a comparison.
        func sub(_ title: String) -> String { heading == nil ? "<h2>\(h(title))</h2>\n" : "<h3>\(h(title))</h3>\n" }
        var s = "<section class=\"run\(heading == nil ? "" : " pagebreak")\" id=\"\(anchor)\">\n"
        if let heading { s += "<h2>\(h(heading))</h2>\n" }
        if run.isPartial, heading != nil {  // one run: the page's banner says it
            s += "<div class=\"banner\"><strong>Partial: \(run.checkpoints.count) of \(run.expectedStages) stages shown</strong><ul>"
                + run.problems.map { "<li>\(h($0))</li>" }.joined() + "</ul></div>\n"
        }

        // Identity.
        s += sub("Run")
        let split = "B\(config.initCls) Inc\(config.increment): \(run.expectedStages) tasks of "
            + last.taskSizes.map(String.init).joined(separator: ", ") + (run.isPartial ? " … classes" : " classes")
        var memory: String
        if config.fixedMemory {
            memory = "\(config.memoryPerClass) exemplars per class (fixed_memory)"
        } else {
            memory = "-ms \(config.memorySize) exemplars in all, shared by the classes seen (\(config.memorySize) / classes seen per class)"
        }
        if let budget = config.memoryBudgetBytes {
            memory += "; -ms derived from --memory-budget \(budget) bytes (\(mib(budget)) MiB): the exemplars that fit beside "
                + "the backbone after the last stage"
        }
        let versions = Set(run.checkpoints.map(\.fileFormatVersion)).sorted().map(String.init).joined(separator: ", ")
        s += keyValues([
            ("folder", run.path),
            ("dataset", "\(last.datasetName): \(last.classNames.count) classes, images \(last.imageShape.map(String.init).joined(separator: "×"))"),
            ("split", split),
            ("backbone", last.backbone.rawValue),
            ("seed", "\(config.seed)"),
            ("threads", config.threads.map(String.init) ?? "all cores (not fixed)"),
            ("class order (arrival)", (0..<last.classOrder.count).map { "\($0) \(last.className(label: $0))" }.joined(separator: ", ")),
            ("memory", memory),
            ("protocol", config.prefix.rawValue),
            ("schedule", "epochs: \(config.initEpoch) at stage 0 (lr \(config.initLR)), \(config.epochs) at later stages (lr "
                + "\(config.lrate)); \(config.scheduler.rawValue) schedule, batch \(config.batchSize)"
                + (config.trainBase ? ", generalized blocks trained" : "")),
            ("run id", config.runID ?? "not recorded"),
            ("checkpoint format", "version \(versions); memo-swift's version is not recorded in this format"),
        ])
        s += "<div class=\"scroll\"><table><thead><tr><th>stage file</th><th>bytes</th><th class=\"text\">SHA-256</th></tr></thead><tbody>\n"
        for f in run.files { s += "<tr><td>\(h(f.name))</td><td>\(f.bytes)</td><td class=\"hash\">\(f.sha256)</td></tr>\n" }
        s += "</tbody></table></div>\n"

        // Headline figures.
        s += sub("Headline figures")
        let cnnTop5 = run.checkpoints.map { $0.evaluation.cnn.top5 }
        let nmeTop5 = run.checkpoints.compactMap { $0.evaluation.nme?.top5 }
        let cnn = headline(run.cnn, top5: cnnTop5)
        let nme = run.nme.map { headline($0, top5: nmeTop5) }
        s += "<div class=\"cards\">"
        for (label, value) in [("CNN last top-1 (%)", cnn[0].2), ("CNN average incremental top-1 (%)", cnn[2].2),
                               ("CNN forgetting (per task)", cnn[4].2), ("CNN backward transfer", cnn[6].2),
                               ("NME last top-1 (%)", nme?[0].2)] {
            s += "<div class=\"card\"><div class=\"value\">\(fixed2(value))</div><div class=\"label\">\(h(label))</div></div>"
        }
        s += "</div>\n"
        let rows = cnn.indices.map { i in [cnn[i].0, fixed2(cnn[i].2), fixed2(nme?[i].2)] }
        let keys: [[String?]] = cnn.indices.map { i in [nil, "cnn.\(cnn[i].1)", "nme.\(cnn[i].1)"] }
        s += table(["figure", "CNN", "NME"], rows, keys: keys)
        s += "<p class=\"muted\">After stage \(last.stage) (the run's stages: 0-\(run.expectedStages - 1)), \(last.classesSeen) classes seen. "
            + "Forgetting per task: mean over earlier tasks of the best earlier accuracy minus the last (Chaudhry et al. 2018); "
            + "PyCIL's on blocks of 10 class ids; BWT: mean of a(T, j) − a(j, j). A dash: not defined (one stage, or no NME).</p>\n"

        // Curves.
        s += sub("Accuracy per stage")
        var curves = [ChartSeries(name: "CNN top-1", values: run.cnn.perTask.top1Curve.map { Optional($0) }, color: .palette(0)),
                      ChartSeries(name: "CNN top-5", values: cnnTop5.map { Optional($0) }, color: .palette(0), dashed: true)]
        if let n = run.nme {
            curves += [ChartSeries(name: "NME top-1", values: n.perTask.top1Curve.map { Optional($0) }, color: .palette(1)),
                       ChartSeries(name: "NME top-5", values: nmeTop5.map { Optional($0) }, color: .palette(1), dashed: true)]
        }
        s += "<div class=\"grid2\">"
        s += figure(lineChart(series: curves, xLabels: stageLabels(run), title: "Accuracy on all classes seen",
                              xTitle: "stage (classes seen)", yTitle: "accuracy on the test images (%)", yRange: 0...100,
                              width: chartWidth, height: chartHeight, legend: .below),
                    caption: "Top-1 (solid) and top-5 (dashed) after each stage, CNN and NME heads.")
        s += figure(run.cnn.plot(width: chartWidth, height: chartHeight, legend: .below),
                    caption: "The forgetting picture: each task's accuracy from the stage that brings it.")
        s += "</div>\n"

        s += "\(sub("Accuracy matrix"))<div class=\"grid2\">"
        s += figure(run.cnn.matrixHeatmap(), caption: "a(k, j): CNN top-1 after stage k on the classes of task j.")
        if let n = run.nme { s += figure(n.matrixHeatmap(), caption: "The same for the NME head.") }
        s += "</div>\n"

        s += sub("Old and new classes")
        var oldNew: [ChartSeries] = []
        let heads: [(String, [HeadEvaluation], Int)] = [("CNN", run.checkpoints.map { $0.evaluation.cnn }, 0)]
            + (run.nme == nil ? [] : [("NME", run.checkpoints.compactMap { $0.evaluation.nme }, 1)])
        for (name, evaluations, color) in heads {
            oldNew.append(ChartSeries(name: "\(name) old classes", values: evaluations.enumerated().map { $0.offset == 0 ? nil : $0.element.old },
                                      color: .palette(color)))
            oldNew.append(ChartSeries(name: "\(name) new classes", values: evaluations.map { Optional($0.new) },
                                      color: .palette(color), dashed: true))
        }
        s += "<div class=\"grid2\">"
        s += figure(lineChart(series: oldNew, xLabels: stageLabels(run), title: "Old and new classes",
                              xTitle: "stage (classes seen)", yTitle: "top-1 accuracy (%)", yRange: 0...100,
                              width: chartWidth, height: chartHeight, legend: .below),
                    caption: "Old: classes known before the stage (none at stage 0); new: the stage's own classes.")
        s += "</div>\n"
        s += trainingSection(run, sub: sub, versions: versions)

        // Confusion.
        let confusion = run.confusion
        s += sub("Confusion after stage \(confusion.stage)")
        s += figure(confusion.heatmapImage(), caption: "Rows: true class; columns: predicted class; both in arrival order, "
            + "red lines between tasks. Each row sums to 1.")
        if confusion.classNames.count > 20 {
            s += figure(confusion.taskHeatmapImage(), caption: "The same, summed over the classes of each task.")
        }
        s += try misclassified(run.checkpoints[confusion.stage])

        // Memory.
        s += sub("Memory per stage")
        let reports = run.memory.rows.map(\.report)
        let segments = [
            BarSegment(name: "generalized blocks", values: reports.map { mebibytes($0.generalizedParameters * 4) }, color: .palette(0)),
            BarSegment(name: "specialized blocks", values: reports.map { mebibytes($0.specializedParameters.reduce(0, +) * 4) }, color: .palette(2)),
            BarSegment(name: "classifiers (fc, aux_fc)", values: reports.map { mebibytes($0.classifierParameters * 4) }, color: .palette(7)),
            BarSegment(name: "exemplars", values: reports.map { mebibytes($0.exemplarBytes) }, color: .palette(1)),
        ]
        let references = config.memoryBudgetBytes.map { [("memory budget", mebibytes($0))] } ?? []
        s += figure(stackedBarChart(categories: run.checkpoints.map { "\($0.stage)" }, segments: segments, references: references,
                                    title: "What the learner holds after each stage", xTitle: "stage", yTitle: "memory (MiB)",
                                    width: barChartWidth, height: 380),
                    caption: config.memoryBudgetBytes == nil
                        ? "No --memory-budget was given: the run keeps -ms \(config.memorySize) exemplars whatever the model's size."
                        : "Dashed: the --memory-budget the exemplar count was derived from (backbone and exemplars count against it).")
        s += table(["stage", "generalized (B)", "specialized (B)", "classifiers (B)", "exemplars", "exemplar bytes", "total (B)",
                    "total (MiB)", "backbone + exemplars (B)", "model in exemplars"],
                   run.memory.rows.map { row in
                       let r = row.report
                       return ["\(row.stage)", "\(r.generalizedParameters * 4)", "\(r.specializedParameters.reduce(0, +) * 4)",
                               "\(r.classifierParameters * 4)", "\(r.exemplarCount)", "\(r.exemplarBytes)", "\(r.totalBytes)",
                               mib(r.totalBytes), "\(r.budgetBytes)", String(format: "%.1f", r.modelInExemplars)]
                   })
        s += "<p class=\"muted\">Parameters at 4 bytes; exemplars at \(reports.first?.bytesPerExemplar ?? 0) bytes each. "
            + "Model in exemplars: backbone bytes / bytes per exemplar (what MEMO's budget trades against).</p>\n"

        // Per class.
        s += sub("Per class")
        let arrival = run.arrivalStage
        let perClassRows = run.perClass.enumerated().map { label, accuracies in
            ["\(label)", last.className(label: label), "\(arrival[label])"] + accuracies.map(fixed2)
        }
        s += table(["label", "class", "arrived at stage"] + run.checkpoints.map { "after stage \($0.stage)" }, perClassRows,
                   sortable: true, textColumns: [1])
        s += "<p class=\"muted\">CNN top-1 of each class's test images (%); click a column header to sort.</p>\n"

        // Raw figures.
        s += "<details><summary>Figures as JSON (memo-infer forgetting --format json)</summary>\n"
        s += "<h3>CNN</h3><pre class=\"json\" data-head=\"cnn\">\(h(try run.cnn.render(.json)))</pre>\n"
        if let n = run.nme { s += "<h3>NME</h3><pre class=\"json\" data-head=\"nme\">\(h(try n.render(.json)))</pre>\n" }
        s += "</details>\n</section>\n"
        return s
    }

    /// Weight-align gamma per stage and the training curves per epoch, from format-3 checkpoints;
    /// a note where the files do not hold them.
    static func trainingSection(_ run: RunReport, sub: (String) -> String, versions: String) -> String {
        var s = sub("Training")
        let stored = run.checkpoints.filter { $0.fileFormatVersion >= 3 }
        guard !stored.isEmpty else {
            return s + "<p class=\"muted\">Not stored: checkpoint format version \(versions) records neither the weight-align "
                + "factor γ nor the loss, auxiliary loss, training accuracy and learning rate per epoch (format 3 does; "
                + "train.log has them as text).</p>\n"
        }
        guard run.checkpoints.contains(where: { !$0.epochs.isEmpty || $0.alignGamma != nil }) else {
            return s + "<p class=\"muted\">No training record in these checkpoints: no stage trained an epoch or was aligned.</p>\n"
        }
        if stored.count < run.checkpoints.count {
            s += "<p class=\"muted\">Stages written before format version 3 have no training record; they are left blank.</p>\n"
        }
        // The epochs of all stages one after another, a gap between stages.
        var labels: [String] = [], loss: [Double?] = [], aux: [Double?] = [], accuracy: [Double?] = [], rate: [Double?] = []
        for c in run.checkpoints {
            if !labels.isEmpty { labels.append(""); loss.append(nil); aux.append(nil); accuracy.append(nil); rate.append(nil) }
            for e in c.epochs {
                labels.append("\(c.stage).\(e.epoch)")
                loss.append(e.loss); aux.append(c.stage == 0 ? nil : e.auxLoss)
                accuracy.append(e.trainAccuracy); rate.append(e.learningRate)
            }
        }
        let gamma = run.checkpoints.map { $0.alignGamma.map(Double.init) }
        s += "<div class=\"grid2\">"
        if gamma.contains(where: { $0 != nil }) {
            s += figure(lineChart(series: [ChartSeries(name: "γ", values: gamma, color: .palette(4))],
                                  xLabels: run.checkpoints.map { "\($0.stage)" }, title: "Weight-align factor γ per stage",
                                  xTitle: "stage", yTitle: "γ (old / new fc row norm)", width: chartWidth, height: chartHeight, legend: .below),
                        caption: "New classes' fc rows are scaled by γ after each stage from 1 on (none at stage 0).")
        }
        s += figure(lineChart(series: [ChartSeries(name: "total loss", values: loss, color: .palette(0)),
                                       ChartSeries(name: "auxiliary loss", values: aux, color: .palette(1), dashed: true)],
                              xLabels: labels, title: "Training loss per epoch", xTitle: "stage.epoch",
                              yTitle: "mean loss over the epoch's batches", width: chartWidth, height: chartHeight, legend: .below),
                    caption: "Total = cross-entropy of fc + α · auxiliary cross-entropy (from stage 1 on).")
        s += figure(lineChart(series: [ChartSeries(name: "train accuracy", values: accuracy, color: .palette(2))],
                              xLabels: labels, title: "Training accuracy per epoch", xTitle: "stage.epoch",
                              yTitle: "accuracy on training batches (%)", yRange: 0...100, width: chartWidth, height: chartHeight, legend: .below),
                    caption: "On the augmented batches as they were trained.")
        s += figure(lineChart(series: [ChartSeries(name: "learning rate", values: rate, color: .palette(3))],
                              xLabels: labels, title: "Learning rate per epoch", xTitle: "stage.epoch",
                              yTitle: "learning rate", width: chartWidth, height: chartHeight, legend: .below))
        return s + "</div>\n"
    }

    /// The stage's stored misclassified test images as embedded PNG thumbnails with what they
    /// are and what the CNN head took them for; a note where the file holds none.
    static func misclassified(_ c: Checkpoint) throws -> String {
        var s = "<h3>Misclassified test images, stage \(c.stage)</h3>\n"
        let shape = c.imageShape
        guard !c.misclassifiedPositions.isEmpty, shape.count == 3, [1, 3].contains(shape[2]) else {
            let why = c.fileFormatVersion < 3 ? "checkpoint format version \(c.fileFormatVersion) does not store them"
                : "the CNN head made no mistake on the test images"
            return s + "<p class=\"muted\">None shown: \(h(why)).</p>\n"
        }
        let (height, width, channels) = (shape[0], shape[1], shape[2])
        let size = height * width * channels
        s += "<div class=\"thumbs\">\n"
        for (k, position) in c.misclassifiedPositions.enumerated() {
            let bytes = c.misclassifiedImages[(k * size)..<((k + 1) * size)]
            let rgb = channels == 3 ? Array(bytes) : bytes.flatMap { [$0, $0, $0] }
            let png = try encodePNG(RGBImage(width: width, height: height, pixels: rgb))
            let truth = c.className(label: c.testLabels[position])
            let taken = c.cnnTopK[position].first.map { c.className(label: $0) } ?? "?"
            s += "<figure class=\"thumb\"><img alt=\"\(h(truth)) taken for \(h(taken))\" width=\"84\" height=\"84\" "
                + "src=\"data:image/png;base64,\(Data(png).base64EncodedString())\">"
                + "<figcaption><span class=\"truth\">\(h(truth))</span> taken for <b>\(h(taken))</b></figcaption></figure>\n"
        }
        return s + "</div>\n<p class=\"muted\">Up to \(Misclassified.limit) of the stage's CNN mistakes, spread over the true "
            + "classes (each class's first in test order), as stored in the checkpoint, "
            + (width < 84 ? "enlarged \(String(format: "%.0f", 84 / Double(width)))×" : "shown at 84 pixels (stored \(width)×\(height))") + ".</p>\n"
    }

    // MARK: several runs

    static func comparison(_ runs: [RunReport], names: [String]) throws -> String {
        var s = "<h2>Side by side</h2>\n"
        let rows: [[String]] = zip(names, runs).map { name, run in
            let c = run.last.config
            let memory = run.memory.rows.last?.report
            return [name + (run.isPartial ? " (partial)" : ""), run.last.backbone.rawValue, "\(c.seed)", "B\(c.initCls) Inc\(c.increment)",
                    "\(c.memorySize)", "\(run.checkpoints.count)/\(run.expectedStages)",
                    fixed2(run.cnn.perTask.lastAccuracy), fixed2(run.cnn.perTask.averageIncrementalAccuracy),
                    fixed2(run.cnn.perTask.finalForgetting), fixed2(run.cnn.perTask.backwardTransfer),
                    fixed2(run.nme?.perTask.lastAccuracy), fixed2(run.nme?.perTask.averageIncrementalAccuracy),
                    memory.map { mib($0.budgetBytes) } ?? "-"]
        }
        s += table(["run", "backbone", "seed", "split", "exemplars", "stages", "CNN last", "CNN average", "CNN forgetting", "CNN BWT",
                    "NME last", "NME average", "backbone + exemplars (MiB)"], rows, sortable: true, textColumns: [1, 3])
        let stages = runs.map(\.checkpoints.count).max() ?? 0
        var series: [ChartSeries] = []
        var memory: [ChartSeries] = []
        for (i, (name, run)) in zip(names, runs).enumerated() {
            let pad = { (v: [Double?]) in v + [Double?](repeating: nil, count: stages - v.count) }
            series.append(ChartSeries(name: "\(name) CNN", values: pad(run.cnn.perTask.top1Curve.map { Optional($0) }), color: .palette(i)))
            if let n = run.nme {
                series.append(ChartSeries(name: "\(name) NME", values: pad(n.perTask.top1Curve.map { Optional($0) }),
                                          color: .palette(i), dashed: true))
            }
            memory.append(ChartSeries(name: name, values: pad(run.memory.rows.map { mebibytes($0.report.budgetBytes) }), color: .palette(i)))
        }
        let labels = (0..<stages).map(String.init)
        s += "<div class=\"grid2\">"
        s += figure(lineChart(series: series, xLabels: labels, title: "Top-1 accuracy per stage", xTitle: "stage",
                              yTitle: "top-1 accuracy (%)", yRange: 0...100, width: chartWidth, height: chartHeight, legend: .below),
                    caption: "CNN solid, NME dashed; one colour per run.")
        s += figure(lineChart(series: memory, xLabels: labels, title: "Backbone and exemplars per stage", xTitle: "stage",
                              yTitle: "memory (MiB)", width: chartWidth, height: chartHeight, legend: .below),
                    caption: "The quantity memory budgets count (classifiers excluded).")
        s += "</div>\n"
        return s
    }
}
