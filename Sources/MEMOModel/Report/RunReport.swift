import Foundation

// Everything the HTML report shows about one run folder, gathered from its stage checkpoints with
// the library's existing reports (nothing is recomputed from the network): the accuracy
// matrices and forgetting (`ForgettingReport`), the confusion of one stage (`ConfusionReport`),
// memory per stage (`MemoryTable`), per-class accuracy after each stage (the confusion
// reports' per-class accuracy), and the files' sizes and SHA-256 digests.
//
// A folder with a gap, a damaged stage or a stage of another run still gives a report of the
// stages before the problem, with `problems` saying what is left out; so does a run that has
// not finished all its stages. The HTML page marks such a report as partial.

/// One run folder, ready to be shown.
public struct RunReport {
    /// A stage file as found on disk.
    public struct StageFile: Sendable {
        public var name: String
        public var bytes: Int
        public var sha256: String
    }

    /// The folder as given.
    public var path: String
    /// The stages that loaded, from stage 0, in order.
    public var checkpoints: [Checkpoint]
    /// The loaded stages' files.
    public var files: [StageFile]
    /// What makes the report partial (a missing or damaged stage, an unfinished run), one line each.
    public var problems: [String]
    /// Stages the run's split has (from its configuration).
    public var expectedStages: Int
    /// The CNN head's accuracy matrix and forgetting.
    public var cnn: ForgettingReport
    /// The NME head's, when every loaded stage stored an NME evaluation.
    public var nme: ForgettingReport?
    /// The confusion of the chosen stage (CNN head).
    public var confusion: ConfusionReport
    /// Memory per stage.
    public var memory: MemoryTable
    /// perClass[label][stage]: CNN top-1 accuracy of the class after the stage (percent), `nil`
    /// before the class arrives.
    public var perClass: [[Double?]]

    /// Whether some stage the run should have is not shown.
    public var isPartial: Bool { !problems.isEmpty }
    /// The last loaded stage.
    public var last: Checkpoint { checkpoints[checkpoints.count - 1] }
    /// The folder's last path component, to name the run.
    public var name: String { URL(fileURLWithPath: path).standardizedFileURL.lastPathComponent }

    /// Reads the run folder at `path`.
    /// - Parameter confusionStage: the stage whose confusion is shown; the last loaded one by default.
    /// - Throws: `RunFolderError.noSuchFolder`, ``InferenceError/emptyRunFolder(path:)`` without
    ///   stage files, the first stage's own error when not even stage 0 loads, or
    ///   ``InferenceError/missing(path:what:)`` for a confusion stage that is not there.
    public init(runFolder path: String, confusionStage: Int? = nil) throws {
        let scan = try RunFolder.scan(path)
        guard let first = scan.checkpoints.first else {
            if let problem = scan.problem { throw problem }
            throw InferenceError.emptyRunFolder(path: path)
        }
        self.path = path
        checkpoints = scan.checkpoints
        files = try scan.checkpoints.map { c in
            let name = Checkpoint.fileName(stage: c.stage)
            let file = path + "/" + name
            let size = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? nil
            return StageFile(name: name, bytes: size ?? 0, sha256: try SHA256.hex(file: file))
        }
        expectedStages = (try? MemoryBudget.stageCount(initialClasses: first.config.initCls, increment: first.config.increment,
                                                        classCount: first.classNames.count)) ?? scan.checkpoints.count
        var problems: [String] = []
        let loaded = scan.checkpoints.count
        if let problem = scan.problem {
            problems.append("\(problem)" + (loaded > 0 ? "; only stages 0-\(loaded - 1) are shown" : ""))
        } else if loaded < expectedStages {
            problems.append("\(path): the run has \(loaded) of its \(expectedStages) stages (unfinished, or stage files removed); "
                + "figures after stage \(loaded - 1) are not known")
        }
        self.problems = problems

        cnn = try ForgettingReport(checkpoints: scan.checkpoints, head: .cnn, path: path)
        nme = scan.checkpoints.allSatisfy({ $0.evaluation.nme != nil })
            ? try ForgettingReport(checkpoints: scan.checkpoints, head: .nme, path: path) : nil
        let stage = confusionStage ?? loaded - 1
        guard scan.checkpoints.indices.contains(stage) else {
            throw InferenceError.missing(path: path, what: "has no stage \(stage) to show the confusion of (stages 0-\(loaded - 1))")
        }
        confusion = try ConfusionReport(checkpoint: scan.checkpoints[stage], head: .cnn,
                                        path: path + "/" + Checkpoint.fileName(stage: stage))
        memory = MemoryTable(checkpoints: scan.checkpoints)
        let classCount = scan.checkpoints.last!.classesSeen
        var perClass = [[Double?]](repeating: [Double?](repeating: nil, count: loaded), count: classCount)
        for c in scan.checkpoints {
            let accuracy = try ConfusionReport(checkpoint: c, head: .cnn, path: path + "/" + Checkpoint.fileName(stage: c.stage)).accuracy
            for (label, a) in accuracy.enumerated() { perClass[label][c.stage] = a }
        }
        self.perClass = perClass
    }

    /// The stage that introduces each label.
    public var arrivalStage: [Int] {
        last.taskSizes.enumerated().flatMap { [Int](repeating: $0.offset, count: $0.element) }
    }
}
