import Foundation
import Testing
@testable import MEMOModel

/// `memo-infer report`'s page on InferRunTests' TinyRun folder (2 stages of 2 classes): its
/// numbers against the evaluations stored in the checkpoints and against `memo-infer forgetting
/// --format json`; determinism and self-containment; a missing stage, a damaged checkpoint and
/// runs of different datasets.
@Suite(.serialized)
struct ReportTests {
    /// The text of the `<td data-key="key">` cell.
    static func cell(_ key: String, in html: String) -> String? {
        guard let r = html.range(of: "data-key=\"\(key)\">") else { return nil }
        return String(html[r.upperBound...].prefix { $0 != "<" })
    }

    /// The unescaped text of `<pre class="json" data-head="head">`.
    static func json(_ head: String, in html: String) -> String? {
        guard let r = html.range(of: "<pre class=\"json\" data-head=\"\(head)\">"),
              let end = html[r.upperBound...].range(of: "</pre>") else { return nil }
        return String(html[r.upperBound..<end.lowerBound]).replacingOccurrences(of: "&quot;", with: "\"")
            .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&amp;", with: "&")
    }

    static func f2(_ x: Double) -> String { String(format: "%.2f", x) }

    /// A copy of the TinyRun folder to damage.
    static func copyOfRun(_ name: String) throws -> String {
        let dir = TinyRun.temporaryDirectory("report-" + name)
        for stage in 0..<2 {
            let file = Checkpoint.fileName(stage: stage)
            try FileManager.default.copyItem(atPath: try InferRunTests.runDir() + "/" + file, toPath: dir + "/" + file)
        }
        return dir
    }

    @Test func headlineFiguresAreTheStoredEvaluations() throws {
        let dir = try InferRunTests.runDir()
        let stages = try RunFolder.checkpoints(in: dir)
        let html = try HTMLReport.render([RunReport(runFolder: dir)])
        #expect(!html.contains("id=\"partial\""))
        for head in ClassifierHead.allCases {
            let e = try stages.map { c -> HeadEvaluation in try #require(head == .cnn ? c.evaluation.cnn : c.evaluation.nme) }
            let h = head.rawValue
            // By hand from the stored evaluations: two stages, one earlier task.
            #expect(Self.cell("\(h).last_accuracy", in: html) == Self.f2(e[1].top1))
            #expect(Self.cell("\(h).last_top5", in: html) == Self.f2(e[1].top5))
            #expect(Self.cell("\(h).average_incremental_accuracy", in: html) == Self.f2((e[0].top1 + e[1].top1) / 2))
            #expect(Self.cell("\(h).average_incremental_top5", in: html) == Self.f2((e[0].top5 + e[1].top5) / 2))
            #expect(Self.cell("\(h).final_forgetting", in: html) == Self.f2(e[0].perTask[0] - e[1].perTask[0]))
            #expect(Self.cell("\(h).backward_transfer", in: html) == Self.f2(e[1].perTask[0] - e[0].perTask[0]))
            // The figures JSON on the page is memo-infer forgetting's.
            let forgetting = try Executables.execute("memo-infer", ["forgetting", dir, "--format", "json"] + (head == .nme ? ["--nme"] : []))
            #expect(forgetting.status == 0)
            #expect(Self.json(h, in: html) == forgetting.stdout)
            // Its numbers in the cells, two decimals.
            let object = try #require(try JSONSerialization.jsonObject(with: Data(forgetting.stdout.utf8)) as? [String: Any])
            for key in ["last_accuracy", "average_incremental_accuracy", "final_forgetting", "backward_transfer", "pycil_forgetting"] {
                #expect(Self.cell("\(h).\(key)", in: html) == (object[key] as? Double).map(Self.f2) ?? "-", "\(h) \(key)")
            }
        }
        // Per-class table: accuracy of each class after the last stage from the stored predictions.
        let last = stages[1]
        for label in 0..<4 {
            let mine = zip(last.cnnTopK, last.testLabels).filter { $0.1 == label }
            let accuracy = Double(mine.filter { $0.0[0] == label }.count) * 100 / Double(mine.count)
            let row = "<td>\(label)</td><td class=\"text\">\(TinyRun.classNames[label])</td><td>\(label / 2)</td>"
            let after = try #require(html.range(of: row), "row of class \(label)")
            let cells = html[after.upperBound...].prefix { $0 != "\n" }
            #expect(cells.hasSuffix("<td>\(Self.f2(numpyAround(accuracy)))</td></tr>"), "class \(label): \(cells)")
        }
        // Identity: files with their SHA-256, the class order, the dataset.
        let sha = SHA256.hex([UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/stage-01.h5"))))
        #expect(html.contains("<td class=\"hash\">\(sha)</td>"))
        #expect(html.contains("0 red, 1 green, 2 blue, 3 gray"))
    }

    @Test func pageIsDeterministicAndSelfContained() throws {
        let dir = try InferRunTests.runDir()
        let a = try HTMLReport.render([RunReport(runFolder: dir)])
        let b = try HTMLReport.render([RunReport(runFolder: dir)])
        #expect(a == b)
        // Nothing fetched: the only URL is the SVG namespace; no external script, style or font.
        let urls = a.components(separatedBy: "http").dropFirst().map { $0.prefix(23) }
        #expect(Set(urls) == ["://www.w3.org/2000/svg\""])
        #expect(!a.contains("<link") && !a.contains("@import") && !a.contains("url("))
        // Images are embedded: every src is a data URI.
        #expect(a.components(separatedBy: " src=\"").dropFirst().allSatisfy { $0.hasPrefix("data:image/png;base64,") })
        #expect(a.components(separatedBy: "<script>").count == 2)  // the sort script only
        // Curves (2), matrices (2), old/new, gamma, training loss, accuracy and rate, confusion, memory.
        #expect(a.components(separatedBy: "<svg ").count - 1 == 11)
        // Each chart has its axis titles.
        for text in [">stage (classes seen)</text>", ">true class</text>", ">memory (MiB)</text>",
                     ">fraction of the true class&#39;s test images</text>", ">top-1 accuracy on the task&#39;s classes (%)</text>"] {
            #expect(a.contains(text.replacingOccurrences(of: "&#39;", with: "'")), "missing \(text)")
        }
    }

    @Test func sha256MatchesKnownDigests() {
        #expect(SHA256.hex([UInt8]()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex(Array(String(repeating: "a", count: 1000).utf8))
                == "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
    }

    @Test func missingStageGivesAPartialReport() throws {
        let dir = try Self.copyOfRun("missing")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A gap: stage-01 renamed stage-02.
        try FileManager.default.moveItem(atPath: dir + "/stage-01.h5", toPath: dir + "/stage-02.h5")
        let run = try RunReport(runFolder: dir)
        #expect(run.checkpoints.count == 1 && run.isPartial)
        #expect(run.problems == ["\(dir)/stage-02.h5: expected stage-01.h5 (stages must be consecutive); only stages 0-0 are shown"])
        let html = try HTMLReport.render([run])
        #expect(html.contains("<div class=\"banner\" id=\"partial\"><strong>Partial report: some stages are not shown</strong>"))
        #expect(!html.contains("Partial: 1 of 2 stages shown"))  // one run: the page's banner only
        #expect(try HTMLReport.render([run, run]).contains("Partial: 1 of 2 stages shown"))
        let stage0 = try Checkpoint.read(dir + "/stage-00.h5").evaluation.cnn
        #expect(Self.cell("cnn.last_accuracy", in: html) == Self.f2(stage0.top1))
        #expect(Self.cell("cnn.final_forgetting", in: html) == "-")
        // Without the gap, the unfinished run is partial too.
        try FileManager.default.removeItem(atPath: dir + "/stage-02.h5")
        #expect(try RunReport(runFolder: dir).problems
                == ["\(dir): the run has 1 of its 2 stages (unfinished, or stage files removed); figures after stage 0 are not known"])
        // No stage 0: nothing to show, an error naming the file.
        try FileManager.default.moveItem(atPath: dir + "/stage-00.h5", toPath: dir + "/stage-01.h5")
        #expect(throws: RunFolderError.stageGap(path: dir + "/stage-01.h5", expected: "stage-00.h5")) {
            try RunReport(runFolder: dir)
        }
    }

    @Test func damagedCheckpointIsNamedAndLeftOut() throws {
        let dir = try Self.copyOfRun("damaged")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try CheckpointSurgery.flipBits(of: "model/fc.weight", in: dir + "/stage-01.h5", row: 1, rowLength: 128)
        let run = try RunReport(runFolder: dir)
        #expect(run.checkpoints.count == 1)
        #expect(run.problems == ["\(dir)/stage-01.h5: model/fc.weight: data checksum mismatch (the file is damaged); only stages 0-0 are shown"])
        let html = try HTMLReport.render([run])
        #expect(html.contains("id=\"partial\"") && html.contains("data checksum mismatch (the file is damaged)"))
        // The CLI writes the partial page and says so on stderr, exit 0.
        let out = dir + "/report.html"
        let result = try Executables.execute("memo-infer", ["report", dir, "-o", out])
        #expect(result.status == 0)
        #expect(result.stderr.contains("partial report: \(dir)/stage-01.h5: model/fc.weight: data checksum mismatch"))
        let written = try String(contentsOfFile: out, encoding: .utf8)
        #expect(written == html)
        // Stage 0 damaged: no report, the error.
        try CheckpointSurgery.flipBits(of: "model/fc.weight", in: dir + "/stage-00.h5", row: 0, rowLength: 64)
        let failed = try Executables.execute("memo-infer", ["report", dir, "-o", out])
        #expect(failed.status == 1)
        #expect(failed.stderr.contains("\(dir)/stage-00.h5: model/fc.weight: data checksum mismatch"))
    }

    @Test func comparisonOfRunsAndOfDifferentDatasets() throws {
        let dir = try InferRunTests.runDir()
        let run = try RunReport(runFolder: dir)
        let html = try HTMLReport.render([run, run])
        #expect(html.contains("<h2>Side by side</h2>"))
        let name = run.name
        #expect(html.contains("<td>\(name) (1)</td>") && html.contains("<td>\(name) (2)</td>"))
        #expect(html.contains("<title>\(name) (1) CNN, stage 0: ") && html.contains("<title>\(name) (2) NME, stage 1: "))
        var other = run
        for i in other.checkpoints.indices { other.checkpoints[i].datasetName = "cifar100" }
        other.path = "/elsewhere/run"
        #expect(throws: InferenceError.differentDatasets(first: dir, firstDataset: "tiny", other: "/elsewhere/run",
                                                         otherDataset: "cifar100")) {
            try HTMLReport.render([run, other])
        }
        #expect(InferenceError.differentDatasets(first: "a", firstDataset: "tiny", other: "b", otherDataset: "cifar100").description
                == "b: trained on cifar100, but a on tiny; only runs of one dataset (and class names) are compared")
        // From the command line: a copy of the run relabelled as another dataset; exit 1, no page.
        let relabelled = TinyRun.temporaryDirectory("report-other")
        defer { try? FileManager.default.removeItem(atPath: relabelled) }
        for stage in 0..<2 {
            let file = Checkpoint.fileName(stage: stage)
            try CheckpointSurgery.rewrite(dir + "/" + file, to: relabelled + "/" + file) { $0.attributes["dataset"] = .string("other") }
        }
        let out = relabelled + "/report.html"
        let result = try Executables.execute("memo-infer", ["report", dir, relabelled, "-o", out])
        #expect(result.status == 1)
        #expect(result.stderr.contains("\(relabelled): trained on other, but \(dir) on tiny; only runs of one dataset"))
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    @Test func trainingRecordIsStoredAndShown() throws {
        // TinyRun: 2 epochs at stage 0, 1 at stage 1, learning rate 0.05 (no milestone reached).
        let dir = try InferRunTests.runDir()
        let stages = try RunFolder.checkpoints(in: dir)
        #expect(stages.map(\.fileFormatVersion) == [3, 3])
        #expect(stages.map(\.epochs.count) == [2, 1])
        #expect(stages.flatMap(\.epochs).map(\.epoch) == [1, 2, 1])
        #expect(stages.flatMap(\.epochs).allSatisfy { $0.learningRate == Double(Float(0.05)) && $0.loss.isFinite && $0.loss > 0 })
        #expect(stages[0].epochs.allSatisfy { $0.auxLoss == 0 } && stages[1].epochs[0].auxLoss > 0)
        #expect(stages.flatMap(\.epochs).allSatisfy { (0...100).contains($0.trainAccuracy) })
        #expect(stages[0].alignGamma == nil)
        let gamma = try #require(stages[1].alignGamma)
        #expect(gamma.isFinite && gamma > 0)
        let html = try HTMLReport.render([RunReport(runFolder: dir)])
        for (c, e) in [(0, stages[0].epochs[0]), (0, stages[0].epochs[1]), (1, stages[1].epochs[0])] {
            #expect(html.contains("<title>total loss, stage.epoch \(c).\(e.epoch): \(String(format: "%.2f", e.loss))</title>"))
            #expect(html.contains("<title>train accuracy, stage.epoch \(c).\(e.epoch): \(String(format: "%.2f", e.trainAccuracy))</title>"))
        }
        #expect(html.contains("<title>γ, stage 1: \(String(format: "%.2f", Double(gamma)))</title>"))

        // The misclassified examples: spread over the classes, the test images themselves, on the page.
        let last = stages[1]
        let positions = Misclassified.choose(labels: last.testLabels, predicted: last.cnnTopK.map { $0[0] })
        #expect(last.misclassifiedPositions == positions && !positions.isEmpty)
        #expect(positions.allSatisfy { last.cnnTopK[$0][0] != last.testLabels[$0] })
        let test = TinyRun.dataset().test
        #expect(last.misclassifiedImages == positions.flatMap { test.image(last.testIndices[$0]) })
        let thumbs = html.components(separatedBy: "src=\"data:image/png;base64,").dropFirst()
        #expect(thumbs.count == positions.count)
        let firstThumb = try #require(thumbs.first)
        let first = try #require(Data(base64Encoded: String(firstThumb.prefix { $0 != "\"" })))
        #expect(try readPNG(data: [UInt8](first), name: "thumbnail")
                == RGBImage(width: 32, height: 32, pixels: Array(test.image(last.testIndices[positions[0]]))))
        let truth = TinyRun.classNames[last.testLabels[positions[0]]], taken = TinyRun.classNames[last.cnnTopK[positions[0]][0]]
        #expect(html.contains("<figcaption><span class=\"truth\">\(truth)</span> taken for <b>\(taken)</b></figcaption>"))

        // A version-2 file (no training record) still loads; the page says the record is not stored.
        let old = TinyRun.temporaryDirectory("report-v2")
        defer { try? FileManager.default.removeItem(atPath: old) }
        for stage in 0..<2 {
            try CheckpointSurgery.rewrite(dir + "/" + Checkpoint.fileName(stage: stage), to: old + "/" + Checkpoint.fileName(stage: stage)) {
                $0.attributes["format_version"] = .int(2)
                $0.attributes["align_gamma"] = nil
                for name in ["loss", "aux_loss", "train_accuracy", "learning_rate"] { $0.datasets["training/epoch_" + name] = nil }
                $0.datasets["evaluation/misclassified_positions"] = nil
                $0.datasets["evaluation/misclassified_images"] = nil
            }
        }
        let v2 = try RunFolder.checkpoints(in: old)
        #expect(v2.map(\.fileFormatVersion) == [2, 2] && v2.allSatisfy { $0.epochs.isEmpty && $0.alignGamma == nil })
        #expect(v2.map(\.evaluation) == stages.map(\.evaluation))
        let page = try HTMLReport.render([RunReport(runFolder: old)])
        #expect(page.contains("Not stored: checkpoint format version 2 records neither the weight-align factor γ"))
        #expect(!page.contains("Training loss per epoch"))
        #expect(page.contains("None shown: checkpoint format version 2 does not store them."))
    }

    @Test func misclassifiedExamplesAreSpreadOverTheClasses() {
        // Mistakes: class 0 at 0, 1, 2; class 2 at 4; class 1 at 6, 7. Round-robin by label.
        let labels = [0, 0, 0, 1, 2, 1, 1, 1]
        let predicted = [1, 2, 1, 1, 0, 1, 0, 2]
        #expect(Misclassified.choose(labels: labels, predicted: predicted) == [0, 6, 4, 1, 7, 2])
        #expect(Misclassified.choose(labels: labels, predicted: predicted, limit: 4) == [0, 6, 4, 1])
        #expect(Misclassified.choose(labels: labels, predicted: labels).isEmpty)
    }

    /// Debian's chromium, where installed.
    static let chromium: String? = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .first { FileManager.default.isExecutableFile(atPath: $0) }

    /// scripts/report-check.sh on a two-run comparison of the TinyRun folder (which holds every
    /// section of a one-run page too): it does not scroll sideways at 1280 or 390 px and prints
    /// to A4. (The screenshots are for a person to look at; this test checks what a machine can.)
    @Test(.enabled(if: ReportTests.chromium != nil, "chromium is not installed: scripts/report-check.sh skips"))
    func pagesRenderInChromiumWithoutSidewaysScrolling() throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/report-check.sh").path
        let dir = TinyRun.temporaryDirectory("report-chromium")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let run = try RunReport(runFolder: try InferRunTests.runDir())
        for (name, runs) in [("two", [run, run])] {
            try writeReport(try HTMLReport.render(runs), to: "\(dir)/\(name).html")
            let (status, stderr) = try CheckpointSurgery.run("/bin/bash", [script, "\(dir)/\(name).html", dir])
            #expect(status == 0, "\(name): \(stderr)")
            for file in ["\(name)-desktop.png", "\(name)-phone.png", "\(name).pdf"] {
                #expect(FileManager.default.fileExists(atPath: "\(dir)/\(file)"), "\(file)")
            }
            #expect(try readPNG("\(dir)/\(name)-desktop.png").width == 1280)
        }
    }

    @Test func commandLineErrors() throws {
        let noOutput = try Executables.execute("memo-infer", ["report", "/nonexistent"])
        #expect(noOutput.status == 2)
        let missing = try Executables.execute("memo-infer", ["report", "/nonexistent/run", "-o", NSTemporaryDirectory() + "x.html"])
        #expect(missing.status == 1 && missing.stderr.contains("/nonexistent/run: no such run folder"))
        let badStage = try Executables.execute("memo-infer", ["report", try InferRunTests.runDir(), "--stage", "5",
                                                               "-o", NSTemporaryDirectory() + "x.html"])
        #expect(badStage.status == 1 && badStage.stderr.contains("has no stage 5 to show the confusion of (stages 0-1)"))
    }
}
