import Foundation
import Testing
@testable import MEMOModel

/// memo-infer's reports that need no network: forgetting and BWT on a hand-made accuracy matrix,
/// the budget tables of docs/memo.md, the gray conversion, softmax, table and CSV formatting.
@Suite struct InferReportTests {
    // MARK: Forgetting on a hand-made matrix

    /// a(k, j):            task 0  task 1  task 2   top-1
    ///   stage 0             90                       90
    ///   stage 1             70      80               75
    ///   stage 2             60      75      85       73.33
    /// Chaudhry: F1 = 90 - 70 = 20; F2 = ((90 - 60) + (80 - 75)) / 2 = 17.5.
    /// BWT = ((60 - 90) + (75 - 80)) / 2 = -17.5. Average incremental accuracy 238.33 / 3 = 79.443.
    /// PyCIL on the grouped rows [90], [72, 80], [66, 71, 85]: ((90 - 66) + (80 - 71)) / 2 = 16.5.
    static func handMade() throws -> ForgettingReport {
        let perTask = try AccuracyMatrix(values: [[90], [70, 80], [60, 75, 85]], top1Curve: [90, 75, 73.33])
        let grouped = try AccuracyMatrix(values: [[90], [72, 80], [66, 71, 85]], top1Curve: [90, 75, 73.33],
                                         columnLabels: ["00-09", "10-19", "20-29"])
        return ForgettingReport(perTask: perTask, pycilGrouped: grouped, head: .cnn)
    }

    @Test func forgettingTableOnAHandMadeMatrix() throws {
        let expected = """
            accuracy matrix a(k, j): CNN top-1 (%) after stage k on the classes of task j
            stage  top-1  task 0  task 1  task 2  forgetting
            0      90.00   90.00       -       -           -
            1      75.00   70.00   80.00       -       20.00
            2      73.33   60.00   75.00   85.00       17.50
            average incremental accuracy: 79.44
            last accuracy: 73.33
            forgetting (Chaudhry et al. 2018, per task) after the last stage: 17.50
            forgetting (PyCIL, 10-class groups): 16.50
            backward transfer (BWT): -17.50

            """
        #expect(try Self.handMade().render(.table) == expected)
    }

    @Test func forgettingCSVAndJSONOnAHandMadeMatrix() throws {
        let report = try Self.handMade()
        #expect(try report.render(.csv) == """
            stage,top1,task_0,task_1,task_2,forgetting
            0,90.00,90.00,,,
            1,75.00,70.00,80.00,,20.00
            2,73.33,60.00,75.00,85.00,17.50

            """)
        let json = try JSONSerialization.jsonObject(with: Data(report.render(.json).utf8)) as! [String: Any]
        #expect(json["head"] as? String == "cnn")
        #expect(json["backward_transfer"] as? Double == -17.5)
        #expect(json["final_forgetting"] as? Double == 17.5)
        #expect(json["pycil_forgetting"] as? Double == 16.5)
        #expect(json["last_accuracy"] as? Double == 73.33)
        // Rounded to 6 decimals (238.33 / 3 = 79.443333...): no float noise in the JSON.
        #expect(json["average_incremental_accuracy"] as? Double == 79.443333)
        #expect(try report.render(.json).contains("\"average_incremental_accuracy\" : 79.443333,"))
        let forgetting = json["forgetting"] as! [Any]
        #expect(forgetting[0] is NSNull && forgetting[1] as? Double == 20 && forgetting[2] as? Double == 17.5)
        #expect(json["pycil_groups"] as? [String] == ["00-09", "10-19", "20-29"])
    }

    @Test func forgettingPlotHasTheTop1CurveAndOneCurvePerTask() throws {
        let chart = try Self.handMade().plot()
        let svg = chart.svg
        #expect(svg.contains(">stage</text>") && svg.contains(">top-1 accuracy on the test images (%)</text>"))
        // One marker per value: the top-1 curve at every stage, task j from stage j on.
        for (name, values) in [("all classes (top-1)", [90.0, 75, 73.33]), ("task 0", [90, 70, 60]), ("task 1", [80, 75]),
                               ("task 2", [85])] {
            let first = 3 - values.count
            for (i, v) in values.enumerated() {
                #expect(PlotTests.attributes(of: "\(name), stage \(first + i): \(String(format: "%.2f", v))", in: svg) != nil,
                        "\(name) at stage \(first + i)")
            }
        }
        #expect(PlotTests.attributes(of: "task 1, stage 0", in: svg) == nil)
        // Rendered: task 0's marker at stage 1 (70 %) is drawn in task 0's colour.
        let point = try #require(PlotTests.attributes(of: "task 0, stage 1: 70.00", in: svg))
        let image = try chart.rendered()
        #expect(image.width == 720 && image.height == 440)
        #expect(PlotTests.close(PlotTests.color(image, point["cx"]!, point["cy"]!), .palette(1)))
    }

    // MARK: Budgets

    @Test func budgetTablesReproduceMEMOmd() throws {
        #expect(try BudgetReport.fairTable() == """
            fair protocol, ResNet32, 100 classes, 3072 bytes per image
            split       T  MEMO -ms  single-backbone -ms  DER -ms  budget bytes  budget MiB
            B0 Inc10   10      3312                 7431     2000      24684160       23.54
            B0 Inc5    20      4771                13466     2000      43224320       41.22
            B0 Inc20    5      2583                 4414     2000      15414080       14.70
            B50 Inc10   6      2729                 5017     2000      17268096       16.47
            B50 Inc5   11      3458                 8035     2000      26538176       25.31

            """)
        #expect(try BudgetReport.aucTable() == """
            auc protocol, B0 Inc10, 100 classes, 3072 bytes per image
            backbone   T  MEMO -ms  single-backbone -ms  DER -ms  budget bytes  budget MiB
            ConvNet2  10      2118                 2000     2096       7998016        7.63
            ResNet14  10      2495                 3634     2000      13018240       12.42
            ResNet20  10      2768                 4900     2000      16906880       16.12
            ResNet26  10      3040                 6165     2000      20795520       19.83
            ResNet32  10      3312                 7431     2000      24684160       23.54

            """)
    }

    @Test func singleBudgetListsEachMethod() throws {
        let text = try BudgetReport.single(.fair, architecture: #require(BudgetArchitecture(name: "memo_resnet32")),
                                           initialClasses: 10, increment: 10, classCount: 100, bytesPerImage: 3072)
        #expect(text == """
            fair protocol: ResNet32 (generalized 112016 + specialized 351488 parameters), 100 classes, init 10, increment 10: T = 10 stages
            budget: 10 x 463504 parameters (DER's T backbones) + 2000 exemplars of 3072 bytes = 24684160 bytes (23.54 MiB)
            method                              parameters  exemplars (-ms)
            MEMO (generalized + T specialized)     3626896             3312
            single backbone (iCaRL, ...)            463504             7431
            DER (T backbones)                      4635040             2000

            """)
        #expect(BudgetArchitecture(name: "conv2") == .convNet2)
        #expect(BudgetArchitecture(name: "resnet14") == .resNet(blocksPerStage: 2))
        #expect(BudgetArchitecture(name: "vgg") == nil)
        #expect(throws: MemoryBudgetError.invalidSplit(initialClasses: 200, increment: 10, classCount: 100)) {
            try BudgetReport.single(.auc, architecture: .resNet32, initialClasses: 200, increment: 10, classCount: 100,
                                    bytesPerImage: 3072)
        }
    }

    @Test func aucOverHandMadePoints() throws {
        // The AUC report's areas are `auc(points:)` over (memory, accuracy) of each run.
        let report = AUCReport(head: .cnn, runs: [
            .init(path: "b", backbone: "x", stages: 10, exemplars: 1, memoryMiB: 20, averageAccuracy: 0.7, lastAccuracy: 0.6),
            .init(path: "a", backbone: "x", stages: 10, exemplars: 1, memoryMiB: 10, averageAccuracy: 0.5, lastAccuracy: 0.4),
        ], mixed: false)
        #expect(abs(report.aucA - 6) < 1e-12 && abs(report.aucL - 5) < 1e-12)
        let lines = try report.render(.table).split(separator: "\n")
        #expect(lines[1] == "a    x             10          1       10.00       0.5000    0.4000")   // sorted by memory
        #expect(lines[2] == "b    x             10          1       20.00       0.7000    0.6000")
        #expect(lines[3].hasPrefix("AUC-A 6.0000, AUC-L 5.0000"))
    }

    // MARK: Input conversion

    @Test func luminanceMatchesPillow() {
        // Values printed by Pillow 13: Image.new("RGB", (1, 1), rgb).convert("L").getpixel((0, 0)).
        let cases: [((UInt8, UInt8, UInt8), UInt8)] = [
            ((255, 0, 0), 76), ((0, 255, 0), 150), ((0, 0, 255), 29), ((10, 200, 33), 124),
            ((128, 128, 128), 128), ((1, 2, 3), 2), ((254, 1, 250), 105), ((255, 255, 255), 255),
        ]
        for ((r, g, b), l) in cases { #expect(InputConversion.luminance(r, g, b) == l, "\(r) \(g) \(b)") }
        // (0, 255, 0) is 149.685: Pillow rounds, integer division by 1000 would give 149.
        let truncated: Int = 255 * 587 / 1000
        #expect(truncated == 149)
    }

    @Test func storedPixelsResizeThenReduceToGray() {
        var pixels: [UInt8] = []
        for y in 0..<56 { for x in 0..<56 { pixels += [UInt8((x * 4) % 256), UInt8((y * 4) % 256), UInt8((x + y) % 256)] } }
        let image = RGBImage(width: 56, height: 56, pixels: pixels)
        let gray = InputConversion.storedPixels(image, height: 28, width: 28, channels: 1)
        let resized = resizeBilinear(image, width: 28, height: 28)
        #expect(gray.count == 28 * 28)
        #expect(gray == (0..<(28 * 28)).map { p in
            InputConversion.luminance(resized.pixels[3 * p], resized.pixels[3 * p + 1], resized.pixels[3 * p + 2])
        })
        // An RGB image of the stored size is taken as is.
        let small = RGBImage(width: 32, height: 32, pixels: [UInt8](repeating: 7, count: 32 * 32 * 3))
        #expect(InputConversion.storedPixels(small, height: 32, width: 32, channels: 3) == small.pixels)
    }

    @Test func softmaxOfKnownLogits() {
        let p = softmax([0, Float(log(3.0))][...])
        #expect(abs(p[0] - 0.25) < 1e-7 && abs(p[1] - 0.75) < 1e-7)
        #expect(softmax([1000, 1000][...]) == [0.5, 0.5])    // max subtracted: no overflow
    }

    // MARK: Formatting

    @Test func textTableAndCSVQuoting() {
        var table = TextTable(header: ["name", "n", "note"], leftAligned: [2])
        table.append(["a", "1", "x"])
        table.append(["long name", "100", ""])
        #expect(table.text == "name         n  note\na            1  x\nlong name  100\n")
        #expect(csvLine(["T-shirt/top", "a,b", "say \"hi\""]) == "T-shirt/top,\"a,b\",\"say \"\"hi\"\"\"\n")
        #expect(fixed2(nil) == "-" && fixed2(12.345) == "12.35" && fixed2(0) == "0.00")
    }

    @Test func folderArgumentsExpandToTheirPNGs() throws {
        let dir = try DataFixtures.temporaryDirectory("infer-expand")
        defer { DataFixtures.cleanUp(dir) }
        for name in ["b.png", "a.PNG", "c.txt", ".hidden.png", "d.JPEG", "e.jpg"] { try DataFixtures.write([0], to: dir + "/" + name) }
        try FileManager.default.createDirectory(atPath: dir + "/empty", withIntermediateDirectories: true)
        let (files, failures) = ClassifyReport.expand([dir, "x.png", dir + "/empty"])
        #expect(files == [dir + "/a.PNG", dir + "/b.png", dir + "/d.JPEG", dir + "/e.jpg", "x.png"])
        #expect(failures == [.init(file: dir + "/empty", message: "\(dir)/empty: folder holds no .png, .jpg or .jpeg images")])
    }
}
