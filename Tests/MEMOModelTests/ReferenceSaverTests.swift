import Foundation
import Testing
@testable import MEMOModel

/// `memo-infer import --run` on `Fixtures/reference_saver/`, a folder written by
/// `scripts/reference_saver.py` from the reference's own code (`scripts/make_saver_fixtures.sh`:
/// three stages of 4 + 3 + 3 Fashion-MNIST classes, 20 training and 10 test images per class,
/// 60 exemplars, the reference's training step skipped so the state_dicts stay small): the folder
/// imports as one run whose stored evaluations equal the accuracies the reference logged.
@Suite(.serialized)
struct ReferenceSaverTests {
    static let stages = 3

    /// The fixture folder unzipped into `dir/saved`; returns its path.
    static func savedFolder(in dir: String) throws -> String {
        let saved = dir + "/saved"
        try FileManager.default.createDirectory(atPath: saved, withIntermediateDirectories: true)
        for k in 0..<stages {
            let name = Checkpoint.fileName(stage: k).replacingOccurrences(of: ".h5", with: "")
            let pt = try #require(Bundle.module.url(forResource: name + ".pt", withExtension: "gz", subdirectory: "Fixtures/reference_saver"))
            try Data(try readGzipFile(pt.path)).write(to: URL(fileURLWithPath: saved + "/" + name + ".pt"))
            let json = try #require(Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Fixtures/reference_saver"))
            try FileManager.default.copyItem(atPath: json.path, toPath: saved + "/" + name + ".json")
        }
        return saved
    }

    /// A sidecar as plain JSON, read independently of the importer's decoder.
    static func sidecar(_ saved: String, _ k: Int) throws -> [String: Any] {
        let path = saved + "/" + Checkpoint.fileName(stage: k).replacingOccurrences(of: ".h5", with: ".json")
        return try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
    }

    /// Percent values compared at the reference's printed precision (2 decimals).
    static func hundredths(_ x: Double) -> Int { Int((x * 100).rounded()) }

    @Test func savedFolderImportsAsARunWithTheLoggedCurve() throws {
        let dir = TinyRun.temporaryDirectory("reference-saver")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let saved = try Self.savedFolder(in: dir)
        let run = dir + "/run"
        let r = try InferRunTests.execute(["import", "--run", saved, "-o", run, "--threads", "1"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.components(separatedBy: "; as logged").count - 1 == Self.stages, "\(r.stdout)")

        let last = try Self.sidecar(saved, Self.stages - 1)
        let curves = try #require(last["curves"] as? [String: [Double]])
        var checkpoints: [Checkpoint] = []
        for k in 0..<Self.stages {
            let c = try Checkpoint.read(run + "/" + Checkpoint.fileName(stage: k))
            checkpoints.append(c)
            let side = try Self.sidecar(saved, k)
            let accuracy = try #require(side["accuracy"] as? [String: Any])
            let cnn = try #require(accuracy["cnn"] as? [String: Any]), nme = try #require(accuracy["nme"] as? [String: Any])
            // The evaluation memo-swift computed equals the one the reference logged.
            #expect(Self.hundredths(c.evaluation.cnn.top1) == Self.hundredths(try #require(cnn["top1"] as? Double)), "stage \(k)")
            #expect(Self.hundredths(c.evaluation.cnn.top5) == Self.hundredths(try #require(cnn["topk"] as? Double)), "stage \(k)")
            let e = try #require(c.evaluation.nme)
            #expect(Self.hundredths(e.top1) == Self.hundredths(try #require(nme["top1"] as? Double)), "stage \(k)")
            #expect(Self.hundredths(e.top5) == Self.hundredths(try #require(nme["topk"] as? Double)), "stage \(k)")
            let grouped = try #require(cnn["grouped"] as? [String: Double])
            #expect(Self.hundredths(c.evaluation.cnn.old) == Self.hundredths(try #require(grouped["old"])), "stage \(k)")
            #expect(Self.hundredths(c.evaluation.cnn.new) == Self.hundredths(try #require(grouped["new"])), "stage \(k)")
            // Its configuration, class order and exemplars are the sidecar's.
            #expect(c.taskSizes == (side["task_sizes"] as? [Int]))
            #expect(c.classOrder == (side["class_order"] as? [Int]))
            #expect(c.memory.entries.map(\.index) == (side["exemplar_indices"] as? [Int]))
            #expect(c.memory.entries.map(\.label) == (side["exemplar_labels"] as? [Int]))
            #expect(c.importInfo?.exemplars == "sidecar")
            #expect(c.importInfo?.logged?.cnnTop1 == cnn["top1"] as? Double)
            #expect(c.testIndices.count == 10 * c.classesSeen)
        }
        #expect(Set(checkpoints.map { $0.config.runID }).count == 1)
        #expect(checkpoints.map { Self.hundredths($0.evaluation.cnn.top1) } == (curves["cnn_top1"] ?? []).map(Self.hundredths))
        #expect(checkpoints.map { Self.hundredths($0.evaluation.nme?.top1 ?? -1) } == (curves["nme_top1"] ?? []).map(Self.hundredths))

        // The comparison is not vacuous: a logged value 0.01 off is a difference.
        let stage1 = checkpoints[1]
        var logged = try #require(stage1.importInfo?.logged)
        #expect(logged.differences(from: stage1.evaluation).isEmpty)
        logged.cnnTop1 += 0.01
        #expect(logged.differences(from: stage1.evaluation).count == 1)

        // forgetting reads the run: its curve and average are the logged ones.
        let f = try InferRunTests.execute(["forgetting", run, "--format", "json"])
        #expect(f.status == 0, "\(f.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(f.stdout.utf8)) as? [String: Any])
        let loggedCurve = try #require(curves["cnn_top1"])
        #expect((json["top1_curve"] as? [Double] ?? []).map(Self.hundredths) == loggedCurve.map(Self.hundredths))
        let average = loggedCurve.reduce(0, +) / Double(loggedCurve.count)
        let reported = try #require(json["average_incremental_accuracy"] as? Double)
        #expect(abs(reported - average) < 0.005, "\(reported) against \(average)")
    }

    @Test func badFoldersAndFlagsAreOneLineErrors() throws {
        let dir = TinyRun.temporaryDirectory("reference-saver-bad")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let saved = try Self.savedFolder(in: dir)
        let usage = try InferRunTests.execute(["import", "--run", saved, "-o", dir + "/run", "--dataset", "fashion-mnist"])
        #expect(usage.status == 2 && usage.stderr.contains("--dataset is not taken with --run"), "\(usage.stderr)")
        try FileManager.default.removeItem(atPath: saved + "/stage-01.json")
        let missing = try InferRunTests.execute(["import", "--run", saved, "-o", dir + "/run"])
        #expect(missing.status == 1 && missing.stderr.contains("stage-01.pt has no sidecar stage-01.json"), "\(missing.stderr)")
        let empty = dir + "/empty"
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        let none = try InferRunTests.execute(["import", "--run", empty, "-o", dir + "/run2"])
        #expect(none.status == 1 && none.stderr.contains("no stage-XX.pt"), "\(none.stderr)")
        // A sidecar that is not one.
        try Data("{\"format\": \"memo-reference-saver/1\"}".utf8).write(to: URL(fileURLWithPath: saved + "/stage-01.json"))
        let bad = try InferRunTests.execute(["import", "--run", saved, "-o", dir + "/run3"])
        #expect(bad.status == 1 && bad.stderr.contains("stage-01.json: not a reference saver sidecar"), "\(bad.stderr)")
    }
}
