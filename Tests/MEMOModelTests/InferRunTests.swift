import Foundation
import Testing
@testable import MEMOModel

/// memo-infer's reports on real checkpoints: TinyRun (4 synthetic classes, memo_resnet14, stages
/// of 2 + 2, 6 test images per class, memory 8) is trained once for the suite. Each report is
/// checked against numbers recomputed here from the checkpoint (stored predictions, tensors,
/// evaluations) or by formula, and classify against a forward pass fed by hand.
///
/// Serialized: TinyRun and classify drive oneDNN, which must not run on two threads at once.
@Suite(.serialized)
struct InferRunTests {
    /// The run folder, trained on first use.
    static let run: Result<String, Error> = Result {
        let dir = TinyRun.temporaryDirectory("infer")
        try TinyRun.run(into: dir)
        return dir
    }

    static func runDir() throws -> String { try run.get() }

    static func checkpoint(_ stage: Int) throws -> (path: String, checkpoint: Checkpoint) {
        let path = try runDir() + "/" + Checkpoint.fileName(stage: stage)
        return (path, try Checkpoint.read(path))
    }

    // MARK: memory

    @Test func memoryTableCountsTheTensors() throws {
        let checkpoints = try RunFolder.checkpoints(in: Self.runDir())
        let table = MemoryTable(checkpoints: checkpoints)
        // memo_resnet14: 42,320 generalized and 129,536 per specialized block (MemoryBudgetTests
        // derives them from the PyTorch shapes); fc 64K x classes + bias; aux_fc 64 x 3 + 3;
        // memory 8 exemplars of 32x32x3 bytes at both stages.
        #expect(table.rows.map(\.report) == [
            MemoryReport(generalizedParameters: 42_320, specializedParameters: [129_536], fcParameters: 64 * 2 + 2,
                         auxFCParameters: 64 * 3 + 3, exemplarCount: 8, bytesPerExemplar: 3072),
            MemoryReport(generalizedParameters: 42_320, specializedParameters: [129_536, 129_536],
                         fcParameters: 128 * 4 + 4, auxFCParameters: 64 * 3 + 3, exemplarCount: 8, bytesPerExemplar: 3072),
        ])
        // Stage 0: 172,181 parameters = 688,724 bytes, + 24,576 exemplar bytes = 0.68 MiB; model
        // = 171,856 x 4 / 3,072 = 223.8 exemplars. Stage 1: 302,103 = 1,208,412 bytes, 1.18 MiB, 392.4.
        #expect(try table.render(.table) == """
            stage  generalized  specialized   fc  aux_fc  parameters  param bytes  exemplars  exemplar bytes  total MiB  model (exemplars)
            0            42320       129536  130     195      172181       688724          8           24576       0.68              223.8
            1            42320   2 x 129536  516     195      302103      1208412          8           24576       1.18              392.4
            parameters at 4 bytes (float32); exemplars at 3072 bytes; model = backbone bytes / bytes per exemplar (classifiers excluded)

            """)
        let one = MemoryTable(checkpoints: [checkpoints[1]])
        #expect(try one.render(.table) == "stage 1\n" + one.rows[0].report.table)
        #expect(try table.render(.csv).split(separator: "\n")[2]
                == "1,42320,2,259072,516,195,302103,1208412,8,3072,24576,1232988,1.1759,1230144,392.4375")
    }

    // MARK: confusion

    @Test func confusionMatrixFromStoredPredictions() throws {
        let (path, c) = try Self.checkpoint(1)
        for head in ClassifierHead.allCases {
            let report = try ConfusionReport(checkpoint: c, head: head, path: path)
            var counts = [[Int]](repeating: [0, 0, 0, 0], count: 4)
            for (row, y) in zip(head == .cnn ? c.cnnTopK : c.nmeTopK, c.testLabels) { counts[y][row[0]] += 1 }
            #expect(report.counts == counts)
            #expect(report.samples == [6, 6, 6, 6])
            #expect(report.normalized == counts.map { $0.map { Double($0) / 6 } })
            let accuracy = (0..<4).map { String(format: "%.2f", Double(counts[$0][$0]) * 100 / 6) }
            #expect(report.accuracy.map { String(format: "%.2f", $0) } == accuracy)

            var csv = "true_label,class,task,pred_0,pred_1,pred_2,pred_3,samples,accuracy\n"
            for y in 0..<4 {
                csv += "\(y),\(TinyRun.classNames[y]),\(y / 2)," + counts[y].map(String.init).joined(separator: ",")
                    + ",6,\(accuracy[y])\n"
            }
            #expect(report.csv(normalize: false) == csv)

            let lines = report.table(normalize: false).split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
            #expect(lines[1] == ["true", "task", "0", "1", "2", "3", "samples", "accuracy", "class"])
            for y in 0..<4 {
                #expect(lines[2 + y] == ["\(y)", "\(y / 2)"] + counts[y].map(String.init) + ["6", accuracy[y], TinyRun.classNames[y]])
            }
            let fractions = report.table(normalize: true).split(separator: "\n")[2].split(separator: " ").map(String.init)
            #expect(Array(fractions[2..<6]) == counts[0].map { String(format: "%.3f", Double($0) / 6) })

            // Heatmap: each cell's rendered colour is the scale's colour of its fraction; class
            // names label the axes; the PNG written reads back as rendered.
            let chart = report.heatmapImage()
            let svg = chart.svg
            #expect(svg.contains(">red (0)</text>") && svg.contains(">gray (3)</text>"))
            let image = try chart.rendered()
            for r in 0..<4 {
                for col in 0..<4 {
                    let tip = "true \(TinyRun.classNames[r]), predicted \(TinyRun.classNames[col]): \(counts[r][col]) of 6"
                    let cell = try #require(PlotTests.attributes(of: tip, in: svg))
                    #expect(PlotTests.close(PlotTests.color(image, cell["x"]! + 3, cell["y"]! + 3),
                                            PlotColor.blues(Double(counts[r][col]) / 6)))
                }
            }
            let file = NSTemporaryDirectory() + "memo-infer-confusion-\(UUID().uuidString).png"
            defer { try? FileManager.default.removeItem(atPath: file) }
            try writePNG(image, to: file)
            #expect(try readPNG(file) == image)
        }
    }

    // MARK: forgetting

    @Test func forgettingFromTheStoredEvaluations() throws {
        let dir = try Self.runDir()
        let checkpoints = try RunFolder.checkpoints(in: dir)
        let e0 = checkpoints[0].evaluation.cnn, e1 = checkpoints[1].evaluation.cnn
        let report = try ForgettingReport(checkpoints: checkpoints, path: dir)
        #expect(report.perTask.values == [[e0.perTask[0], nil], [e1.perTask[0], e1.perTask[1]]])
        #expect(report.perTask.top1Curve == [e0.top1, e1.top1])
        #expect(report.perTask.finalForgetting == e0.perTask[0] - e1.perTask[0])
        #expect(report.perTask.backwardTransfer == e1.perTask[0] - e0.perTask[0])
        // PyCIL: both stages have the one group "00-09"; (max of both - last) / 1.
        let g0 = e0.groupAccuracies[0], g1 = e1.groupAccuracies[0]
        #expect(report.pycilGrouped?.pycilForgetting == max(g0, g1) - g1)
        let f = e0.perTask[0] - e1.perTask[0]
        let lines = try report.render(.table).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines[0] == "accuracy matrix a(k, j): CNN top-1 (%) after stage k on the classes of task j")
        let cells = lines[1...3].map { $0.split(separator: " ").map(String.init) }
        #expect(cells[0] == ["stage", "top-1", "task", "0", "task", "1", "forgetting"])
        #expect(cells[1] == ["0", fixed2(e0.top1), fixed2(e0.perTask[0]), "-", "-"])
        #expect(cells[2] == ["1", fixed2(e1.top1), fixed2(e1.perTask[0]), fixed2(e1.perTask[1]), fixed2(f)])
        #expect(Array(lines[4...]) == [
            "tasks: 0 = classes 0-1, 1 = classes 2-3",
            "average incremental accuracy: \(fixed2((e0.top1 + e1.top1) / 2))",
            "last accuracy: \(fixed2(e1.top1))",
            "forgetting (Chaudhry et al. 2018, per task) after the last stage: \(fixed2(f))",
            "forgetting (PyCIL, 10-class groups): \(fixed2(max(g0, g1) - g1))",
            "backward transfer (BWT): \(fixed2(-f))",
            "",
        ])
        let nme = try ForgettingReport(checkpoints: checkpoints, head: .nme, path: dir)
        #expect(nme.perTask.top1Curve == checkpoints.map { $0.evaluation.nme!.top1 })
        #expect(throws: InferenceError.emptyRunFolder(path: "x")) { try ForgettingReport(checkpoints: [], path: "x") }
    }

    // MARK: evaluate

    @Test func evaluateReproducesTheStoredEvaluation() throws {
        for stage in 0..<2 {
            let (path, c) = try Self.checkpoint(stage)
            let report = try EvaluateReport.run(checkpoint: c, path: path, dataset: TinyRun.dataset())
            #expect(report.evaluation == c.evaluation)
            #expect(report.matchesStored && report.comparison == "identical")
            #expect(report.cnnDiffering == 0 && report.nmeDiffering == 0)
            let n = 6 * c.classesSeen
            #expect(report.testCount == n)
            let text = try report.render(.table)
            #expect(text.contains("stored evaluation: identical\n"))
            #expect(text.contains("stored predictions: CNN top-k identical for \(n) of \(n) test images, NME for \(n) of \(n)\n"))
            let rows = text.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
            #expect(rows.contains(["top-1", fixed2(c.evaluation.cnn.top1), fixed2(c.evaluation.nme!.top1)]))
            #expect(rows.contains(["top-5", fixed2(c.evaluation.cnn.top5), fixed2(c.evaluation.nme!.top5)]))
            #expect(rows.contains(["task", "0", "(classes", "0-1)", fixed2(c.evaluation.cnn.perTask[0]),
                                   fixed2(c.evaluation.nme!.perTask[0])]))
            let json = try JSONSerialization.jsonObject(with: Data(report.render(.json).utf8)) as! [String: Any]
            #expect(json["matches_stored"] as? Bool == true && json["test_images"] as? Int == n)
        }
        let (path, c) = try Self.checkpoint(1)
        // Other test images: evaluated, but not comparable image by image.
        let fewer = try EvaluateReport.run(checkpoint: c, path: path, dataset: TinyRun.dataset(testPerClass: 3))
        #expect(fewer.testCount == 12 && fewer.cnnDiffering == nil)
        #expect(try fewer.render(.table).contains("stored predictions: not comparable (stored on 24 test images, now 12)\n"))
        // Another dataset is refused.
        var other = TinyRun.dataset()
        other.name = "pets"
        other.classNames = ["cat", "dog", "bird", "fish"]
        #expect(throws: InferenceError.datasetMismatch(
            checkpoint: path,
            reason: "checkpoint of dataset 'tiny' (4 classes: red, green, blue, ...) cannot be evaluated on 'pets' "
                + "(4 classes: cat, dog, bird, ...): the class names differ")) {
            try EvaluateReport.run(checkpoint: c, path: path, dataset: other)
        }
        #expect(throws: InferenceError.unsupportedFormat(report: "evaluate", format: .csv)) { try fewer.render(.csv) }
    }

    // MARK: classify

    /// 32x32 colour test image with at most 128 colours (fits a palette).
    static func colorSamples(_ x: Int, _ y: Int) -> [Int] {
        [40 + 60 * ((x + y) / 2 % 2) + 16 * (x % 4), 40 + 16 * (y % 4), 150 + 16 * ((x * y) % 4)]
    }
    static func graySample(_ x: Int, _ y: Int) -> Int { 100 + 60 * ((x + y) / 3 % 2) + 8 * (x % 8) }
    static func grid(_ f: (Int, Int) -> [Int]) -> [[[Int]]] { (0..<32).map { y in (0..<32).map { x in f(x, y) } } }
    static func image(_ f: (Int, Int) -> [Int]) -> RGBImage {
        RGBImage(width: 32, height: 32, pixels: grid(f).flatMap { $0.flatMap { $0.map { UInt8($0) } } })
    }

    /// PNG files of every colour type and the RGB image each must decode to.
    static func colourTypeFiles(in dir: String) throws -> [(file: String, reference: RGBImage)] {
        let color = image(colorSamples)
        let gray = image { x, y in [Int](repeating: graySample(x, y), count: 3) }
        let gray4 = image { x, y in [Int](repeating: (x + 2 * y) % 16 * 17, count: 3) }
        var palette: [[Int]] = []
        let indices = grid { x, y in
            let c = colorSamples(x, y)
            if let i = palette.firstIndex(of: c) { return [i] }
            palette.append(c)
            return [palette.count - 1]
        }
        let files: [(String, [UInt8], RGBImage)] = [
            ("rgb8.png", DataFixtures.png(width: 32, height: 32, bitDepth: 8, colorType: .rgb, samples: grid(colorSamples)), color),
            ("rgba8.png", DataFixtures.png(width: 32, height: 32, bitDepth: 8, colorType: .rgba,
                                           samples: grid { x, y in colorSamples(x, y) + [(x * 7 + y) % 256] }), color),
            ("rgb16.png", DataFixtures.png(width: 32, height: 32, bitDepth: 16, colorType: .rgb,
                                           samples: grid { x, y in colorSamples(x, y).map { $0 * 257 } }), color),
            ("rgb8-interlaced.png", DataFixtures.png(width: 32, height: 32, bitDepth: 8, colorType: .rgb,
                                                     samples: grid(colorSamples), interlaced: true), color),
            ("rgb16-interlaced.png", DataFixtures.png(width: 32, height: 32, bitDepth: 16, colorType: .rgb,
                                                      samples: grid { x, y in colorSamples(x, y).map { $0 * 257 } },
                                                      interlaced: true), color),
            ("palette8.png", DataFixtures.png(width: 32, height: 32, bitDepth: 8, colorType: .palette, samples: indices,
                                              palette: palette.map { $0.map { UInt8($0) } },
                                              transparency: palette.indices.map { UInt8($0 * 2 % 256) }), color),
            ("gray8.png", DataFixtures.png(width: 32, height: 32, bitDepth: 8, colorType: .gray,
                                           samples: grid { x, y in [graySample(x, y)] }), gray),
            ("grayalpha8.png", DataFixtures.png(width: 32, height: 32, bitDepth: 8, colorType: .grayAlpha,
                                                samples: grid { x, y in [graySample(x, y), (x + y) % 256] }), gray),
            ("gray16.png", DataFixtures.png(width: 32, height: 32, bitDepth: 16, colorType: .gray,
                                            samples: grid { x, y in [graySample(x, y) * 257] }), gray),
            ("gray8-interlaced.png", DataFixtures.png(width: 32, height: 32, bitDepth: 8, colorType: .gray,
                                                      samples: grid { x, y in [graySample(x, y)] }, interlaced: true), gray),
            ("gray4.png", DataFixtures.png(width: 32, height: 32, bitDepth: 4, colorType: .gray,
                                           samples: grid { x, y in [(x + 2 * y) % 16] }), gray4),
        ]
        return try files.map { name, bytes, reference in
            try DataFixtures.write(bytes, to: dir + "/" + name)
            return (dir + "/" + name, reference)
        }
    }

    @Test func classifyGivesEveryColourTypeTheAnswerOfItsRGBPixels() throws {
        let (path, c) = try Self.checkpoint(1)
        let classifier = try Classifier(checkpoint: c, path: path)
        let dir = try DataFixtures.temporaryDirectory("infer-png")
        defer { DataFixtures.cleanUp(dir) }
        let cases = try Self.colourTypeFiles(in: dir)
        #expect(Set(cases.map(\.reference.pixels)).count == 3)
        for (file, reference) in cases { #expect(try readPNG(file) == reference, "\(file)") }
        for head in ClassifierHead.allCases {
            let report = ClassifyReport.run(classifier, arguments: cases.map(\.file), head: head, top: 4)
            #expect(report.failures.isEmpty && report.notes.isEmpty)
            #expect(report.entries.map(\.file) == cases.map(\.file))
            // The same RGB pixels in the same batch positions give the same classes and scores.
            #expect(report.entries.map(\.predictions) == classifier.predict(cases.map(\.reference), head: head, top: 4))
            // Classified alone (another batch size), the colour image agrees to 1e-6.
            let alone = classifier.predict([cases[0].reference], head: head, top: 4)[0]
            #expect(alone.map(\.label) == report.entries[0].predictions.map(\.label))
            #expect(zip(alone, report.entries[0].predictions).allSatisfy { abs($0.score - $1.score) < 1e-6 })
        }
    }

    @Test func classifyScoresEqualAForwardPassFedByHand() throws {
        let (path, c) = try Self.checkpoint(1)
        let classifier = try Classifier(checkpoint: c, path: path)
        let image = Self.image(Self.colorSamples)
        // Input by hand: NCHW, (v / 255 - mean) / std in Float, as torchvision's ToTensor + Normalize.
        var input = [Float](repeating: 0, count: 3 * 32 * 32)
        for ch in 0..<3 {
            for p in 0..<(32 * 32) {
                input[ch * 1024 + p] = (Float(image.pixels[3 * p + ch]) / 255 - c.normalizationMean[ch]) / c.normalizationStd[ch]
            }
        }
        let (logits, features) = try Self.forward(c, input)
        let cnn = classifier.predict([image], head: .cnn, top: 4)[0]
        let order = logits.indices.sorted { logits[$0] != logits[$1] ? logits[$0] > logits[$1] : $0 < $1 }
        #expect(cnn.map(\.label) == order)
        #expect(cnn.map(\.name) == order.map { TinyRun.classNames[$0] })
        let e = logits.map { exp(Double($0) - Double(logits.max()!)) }
        for p in cnn { #expect(abs(p.score - e[p.label] / e.reduce(0, +)) < 1e-9) }
        #expect(abs(cnn.map(\.score).reduce(0, +) - 1) < 1e-9)

        // NME: squared distance of the L2-normalised feature (norm + 1e-8) to each class mean.
        let norm = features.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot() + 1e-8
        let distances = c.classMeans.map { m in
            zip(features, m).reduce(0.0) { s, fm in let d = Double(fm.0) / norm - Double(fm.1); return s + d * d }
        }
        let nme = classifier.predict([image], head: .nme, top: 2)[0]
        #expect(nme.map(\.label) == Array(distances.indices.sorted { distances[$0] < distances[$1] }.prefix(2)))
        for p in nme { #expect(abs(p.score - distances[p.label]) < 1e-5) }
    }

    /// Logits and features of one image's network input [3, 32, 32] (evaluation mode).
    static func forward(_ c: Checkpoint, _ input: [Float]) throws -> (logits: [Float], features: [Float]) {
        let network = try c.makeNetwork()
        network.forward(Tensor(shape: [1, 3, 32, 32], data: input), training: false)
        return (network.logits, network.features)
    }

    @Test func classifyConvertsToTheFashionMNISTPipeline() throws {
        // The same network, told its dataset stores 28x28 gray images (as Fashion-MNIST's do).
        var (path, c) = try Self.checkpoint(1)
        c.imageShape = [28, 28, 1]
        c.datasetName = "fashion-mnist"
        let classifier = try Classifier(checkpoint: c, path: path)
        let dir = try DataFixtures.temporaryDirectory("infer-gray")
        defer { DataFixtures.cleanUp(dir) }
        let big = (0..<56).map { y in (0..<56).map { x in [(x * 9) % 256, (y * 5) % 256, (x * y) % 256] } }
        let file = dir + "/big.png"
        try DataFixtures.write(DataFixtures.png(width: 56, height: 56, bitDepth: 8, colorType: .rgb, samples: big), to: file)
        let report = ClassifyReport.run(classifier, arguments: [file], head: .cnn, top: 4)
        #expect(report.notes == [
            "\(file): 56x56 resized to 28x28 (bilinear)",
            "\(file): colour converted to gray (L = (299 R + 587 G + 114 B) / 1000) as the checkpoint's dataset stores 28x28x1 images",
        ])
        // An 8-bit gray PNG is its own luminance: no note (before: "converted to gray").
        let grayFile = dir + "/gray.png"
        try DataFixtures.write(DataFixtures.png(width: 28, height: 28, bitDepth: 8, colorType: .gray,
                                                samples: (0..<28).map { y in (0..<28).map { x in [(x * y) % 256] } }), to: grayFile)
        #expect(ClassifyReport.run(classifier, arguments: [grayFile], head: .cnn, top: 4).notes.isEmpty)
        // By hand: Pillow's bilinear resize to 28x28, Pillow's L, zero padding by 2 to 32x32
        // (0 before normalisation), normalised, repeated into 3 channels.
        let resized = resizeBilinear(try readPNG(file), width: 28, height: 28)
        var input = [Float](repeating: 0, count: 3 * 32 * 32)
        for ch in 0..<3 {
            for y in 0..<32 {
                for x in 0..<32 {
                    var v: UInt32 = 0
                    if (2..<30).contains(x) && (2..<30).contains(y) {
                        let p = 3 * ((y - 2) * 28 + (x - 2))
                        v = (19595 * UInt32(resized.pixels[p]) + 38470 * UInt32(resized.pixels[p + 1])
                             + 7471 * UInt32(resized.pixels[p + 2]) + 32768) >> 16
                    }
                    input[ch * 1024 + y * 32 + x] = (Float(v) / 255 - c.normalizationMean[ch]) / c.normalizationStd[ch]
                }
            }
        }
        let (logits, _) = try Self.forward(c, input)
        let e = logits.map { exp(Double($0) - Double(logits.max()!)) }
        let predictions = report.entries[0].predictions
        #expect(predictions.map(\.label) == logits.indices.sorted { logits[$0] != logits[$1] ? logits[$0] > logits[$1] : $0 < $1 })
        for p in predictions { #expect(abs(p.score - e[p.label] / e.reduce(0, +)) < 1e-9) }
    }

    @Test func classifyReportsBrokenFilesAndClassifiesTheOthers() throws {
        let (path, c) = try Self.checkpoint(1)
        let classifier = try Classifier(checkpoint: c, path: path)
        let dir = try DataFixtures.temporaryDirectory("infer-broken")
        defer { DataFixtures.cleanUp(dir) }
        let good = dir + "/good.png", odd = dir + "/odd.png", broken = dir + "/broken.png"
        let text = dir + "/notes.txt", missing = dir + "/missing.png"
        try DataFixtures.write(DataFixtures.png(width: 32, height: 32, bitDepth: 8, colorType: .rgb,
                                                samples: Self.grid(Self.colorSamples)), to: good)
        let oddSamples = (0..<40).map { y in (0..<48).map { x in Self.colorSamples(x, y) } }
        try DataFixtures.write(DataFixtures.png(width: 48, height: 40, bitDepth: 8, colorType: .rgb, samples: oddSamples), to: odd)
        let goodBytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: good)))
        try DataFixtures.write(Array(goodBytes.prefix(60)), to: broken)      // truncated inside IDAT
        try DataFixtures.write(Array("hello\n".utf8), to: text)
        let report = ClassifyReport.run(classifier, arguments: [good, broken, text, missing, odd], head: .cnn, top: 2)
        #expect(report.entries.map(\.file) == [good, odd])
        #expect(report.failures.map(\.file) == [broken, text, missing])
        for failure in report.failures {
            #expect(failure.message.hasPrefix(failure.file + ": ") && !failure.message.contains("\n"))
        }
        #expect(report.failures[2].message == "\(missing): cannot read PNG: No such file or directory")
        #expect(report.notes == ["\(odd): 48x40 resized to 32x32 (bilinear)"])
        let oddImage = RGBImage(width: 48, height: 40, pixels: oddSamples.flatMap { $0.flatMap { $0.map { UInt8($0) } } })
        let expected = classifier.predict([Self.image(Self.colorSamples), resizeBilinear(oddImage, width: 32, height: 32)],
                                          head: .cnn, top: 2)
        #expect(report.entries.map(\.predictions) == expected)
        #expect(report.entries[1].resized && !report.entries[0].resized)

        // Renderings: one row per (image, rank).
        let p = expected[0]
        let csv = try report.render(.csv).split(separator: "\n").map(String.init)
        #expect(csv[0] == "file,rank,label,class_id,class,probability")
        #expect(csv[1] == "\(good),1,\(p[0].label),\(p[0].label),\(p[0].name),\(String(format: "%.6f", p[0].score))")
        #expect(csv.count == 5)
        let table = try report.render(.table).split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        #expect(table[0] == ["#", "CNN", "head,", "softmax", "probability", "of", "fc"])
        #expect(table[2] == [good, "1", "\(p[0].label)", "\(p[0].label)", p[0].name, String(format: "%.6f", p[0].score)])
        #expect(table[3] == ["2", "\(p[1].label)", "\(p[1].label)", p[1].name, String(format: "%.6f", p[1].score)])
        let json = try JSONSerialization.jsonObject(with: Data(report.render(.json).utf8)) as! [String: Any]
        #expect((json["failures"] as! [[String: Any]]).map { $0["file"] as! String } == [broken, text, missing])
        // The score carries the quantity's name, as the table's column (before: "score").
        let first = try #require(((json["images"] as? [[String: Any]])?.first?["predictions"] as? [[String: Any]])?.first)
        #expect(Set(first.keys) == ["rank", "label", "class_id", "class", "probability"])
        #expect(first["probability"] as? Double == (p[0].score * 1e6).rounded() / 1e6)
    }

    // MARK: inspect

    @Test func inspectDescribesTheCheckpoint() throws {
        let (path, c) = try Self.checkpoint(1)
        let lines = try InspectReport.text(path: path).split(separator: "\n").map(String.init)
        #expect(Array(lines[0..<8]) == [
            "file: \(path)",
            "format: memo-swift-checkpoint version 3",
            "stage: 1 (2 of 2 stages of the split)",
            "backbone: memo_resnet14_cifar (depth 14, 2 specialized blocks)",
            "dataset: tiny, 4 classes, images 32x32x3",
            "class order: 0 1 2 3",
            "task sizes: 2 + 2 = 4 classes seen, 2 known before this stage",
            "normalisation: mean [0.4, 0.4, 0.4], std [0.25, 0.25, 0.25]",
        ])
        #expect(lines[8].hasPrefix("config: "))
        #expect(try JSONDecoder().decode(MEMOConfig.self, from: Data(lines[8].dropFirst(8).utf8)) == TinyRun.config())
        #expect(lines[9] == "tensors: \(c.tensors.count), \(c.tensors.values.reduce(0) { $0 + $1.count }) values")
        let rows = lines[11..<(11 + c.tensors.count)].map { $0.split(separator: " ").map(String.init) }
        #expect(rows.contains(["fc.weight", "4x128", "512"]) && rows.contains(["auxFC.weight", "3x64", "192"]))
        #expect(rows.contains(["specialized.1.stage3.1.convB.weight", "64x64x3x3", "36864"]))
        #expect(rows.map { $0[0] } == c.tensors.keys.sorted())
        let rest = Array(lines[(11 + c.tensors.count)...])
        #expect(rest[0] == "memory: 302103 parameters (1208412 bytes), 8 exemplars (24576 bytes), "
                + "total 1232988 bytes = 1.18 MiB; model = 392.4 exemplars")
        let cnn = c.evaluation.cnn
        #expect(rest[1] == "evaluation: CNN top-1 \(fixed2(cnn.top1)), top-5 \(fixed2(cnn.top5)), old \(fixed2(cnn.old)), "
                + "new \(fixed2(cnn.new)), per task \(fixed2(cnn.perTask[0])) \(fixed2(cnn.perTask[1]))")
        #expect(rest[3] == "test predictions: 24 images, top-4 stored")
        #expect(rest[4] == "data checksums: Fletcher-32 on every dataset")
        // TinyRun trains stage 1 for one epoch.
        #expect(rest[5] == "training record: 1 epoch, loss \(String(format: "%.3f", c.epochs[0].loss)); weight-align gamma "
                + "\(String(format: "%.4f", try #require(c.alignGamma))); \(c.misclassifiedPositions.count) misclassified test images kept")
    }

    // MARK: the executable

    static let binary = Executables.path("memo-infer")

    static func execute(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        try Executables.execute("memo-infer", arguments)
    }

    @Test(.enabled(if: InferRunTests.binary != nil, "memo-infer is not built next to the tests"))
    func executableExitCodes() throws {
        let budget = try Self.execute(["budget"])
        #expect(budget.status == 0 && budget.stderr.isEmpty)
        #expect(budget.stdout == (try BudgetReport.fairTable()) + "\n" + (try BudgetReport.aucTable()))
        let usage = try Self.execute(["budget", "-init", "0"])
        #expect(usage.status == 2 && usage.stdout.isEmpty && usage.stderr.hasPrefix("Error: -init 0: must be 1 or more\n"))
        #expect(try Self.execute(["budget", "--bogus"]).status == 2)
        #expect(try Self.execute(["classify", "--checkpoint", "x.h5"]).status == 2)    // no image
        let help = try Self.execute(["classify", "--help"])
        #expect(help.status == 0 && help.stdout.contains("Examples:"))

        let missing = NSTemporaryDirectory() + "memo-infer-missing-\(UUID().uuidString).h5"
        let bad = try Self.execute(["inspect", "--checkpoint", missing])
        #expect(bad.status == 1 && bad.stderr.hasPrefix("memo-infer: error: \(missing): "))
        #expect(bad.stderr.filter { $0 == "\n" }.count == 1)

        let dir = try Self.runDir()
        let memory = try Self.execute(["memory", dir])
        #expect(memory.status == 0 && memory.stderr.isEmpty)
        #expect(memory.stdout == (try MemoryTable(checkpoints: RunFolder.checkpoints(in: dir)).render(.table)))

        // A version-1 checkpoint (no data checksums) loads, with the library's note on stderr.
        let oldRun = try DataFixtures.temporaryDirectory("infer-cli-v1")
        defer { DataFixtures.cleanUp(oldRun) }
        let old = oldRun + "/stage-00.h5"
        try CheckpointSurgery.rewrite(dir + "/stage-00.h5", to: old, version1Layout: true) {
            $0.attributes["format_version"] = .int(1)
        }
        let note = "note: " + (try Checkpoint.read(old).notes.joined()) + "\n"
        #expect(note.contains("carries no data checksums"))
        for arguments in [["inspect", "--checkpoint", old], ["memory", oldRun], ["forgetting", oldRun]] {
            let result = try Self.execute(arguments)
            #expect(result.status == 0 && result.stderr == note, "\(arguments): \(result.stderr)")
        }

        let images = try DataFixtures.temporaryDirectory("infer-cli")
        defer { DataFixtures.cleanUp(images) }
        let good = images + "/good.png", broken = images + "/broken.png"
        try DataFixtures.write(DataFixtures.png(width: 32, height: 32, bitDepth: 8, colorType: .rgb,
                                                samples: Self.grid(Self.colorSamples)), to: good)
        try DataFixtures.write([0x89, 0x50, 0x4E, 0x47, 1, 2, 3], to: broken)
        let classify = try Self.execute(["classify", "--checkpoint", dir + "/stage-01.h5", "--format", "csv", good, broken])
        #expect(classify.status == 1)
        #expect(classify.stdout.split(separator: "\n").count == 1 + 4 && classify.stdout.contains(good + ",1,"))
        #expect(classify.stderr.hasPrefix("memo-infer: error: \(broken): not a valid PNG: "))
        #expect(classify.stderr.filter { $0 == "\n" }.count == 1)
    }
}
