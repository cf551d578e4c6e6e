import ArgumentParser
import Foundation
import MEMOCommandLine
import MEMOModel

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "One self-contained HTML page about one run folder, or comparing several.",
        discussion: """
        From the evaluations stored in the stage checkpoints (nothing is recomputed): the run's \
        identity and files, headline figures (those of `memo-infer forgetting --format json`), \
        accuracy curves, the accuracy matrix, old and new classes, weight-align gamma and training \
        curves (checkpoint format 3), the confusion of a stage with a few misclassified test images, \
        memory per stage and a sortable per-class table. With several folders (runs of one dataset), a \
        comparison comes first. Charts are inline SVG; the page needs no network and is the same \
        for the same folders. A folder with a missing or damaged stage gives a page marked partial \
        showing the stages before it (and a note on stderr).

        Examples:
          memo-infer report checkpoints/run -o report.html
          memo-infer report runs/seed1 runs/seed2 runs/seed3 -o seeds.html
        """)

    @Argument(help: "Run folders with stage-00.h5, stage-01.h5, ...") var runDirs: [String] = []
    @Option(name: .shortAndLong, help: "The HTML file to write.") var output: String
    @Option(help: "Stage whose confusion matrix is shown (default: the last one).") var stage: Int?

    func validate() throws {
        guard !runDirs.isEmpty else { throw ValidationError("give at least one run folder") }
        if let stage, stage < 0 { throw ValidationError("--stage must be 0 or more, got \(stage)") }
    }

    func run() throws {
        try checkOutputPath(output, flag: "--output")
        let runs = try runDirs.map { try RunReport(runFolder: $0, confusionStage: stage) }
        for run in runs {
            for c in run.checkpoints { _ = noted(c) }
            for problem in run.problems { printError("partial report: " + problem) }
        }
        try writeReport(try HTMLReport.render(runs), to: output)
        printError("wrote \(output)")
    }
}
