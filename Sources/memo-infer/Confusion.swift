import ArgumentParser
import Foundation
import MEMOCommandLine
import MEMOModel

struct Confusion: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Confusion matrix of a stage over the classes seen.",
        discussion: """
        From the test predictions stored in the checkpoint: rows are true classes, columns \
        predicted classes, both as labels in arrival order; with per-class accuracy. The PNG is a \
        heatmap of the row-normalised matrix with the task borders in red.

        Examples:
          memo-infer confusion --checkpoint run/stage-09.h5
          memo-infer confusion --checkpoint run/stage-09.h5 --normalize --csv confusion.csv --png confusion.png
        """)

    @Option(help: "Stage checkpoint (stage-XX.h5).") var checkpoint: String
    @Flag(help: "Print (and write) each row as fractions of its test images.") var normalize = false
    @Flag(help: "Use the NME head's predictions instead of the CNN's.") var nme = false
    @Option(help: "Also write the matrix as CSV to this file.") var csv: String?
    @Option(help: "Also write a heatmap to this PNG file.") var png: String?

    func run() throws {
        if let csv { try checkOutputPath(csv, flag: "--csv") }
        if let png { try checkOutputPath(png, flag: "--png") }
        let report = try ConfusionReport(checkpoint: noted(Checkpoint.read(checkpoint)), head: nme ? .nme : .cnn, path: checkpoint)
        printReport(report.table(normalize: normalize))
        if let csv {
            try writeReport(report.csv(normalize: normalize), to: csv)
            printError("wrote \(csv)")
        }
        if let png {
            try writePNG(report.heatmapImage().rendered(scale: 2), to: png)
            printError("wrote \(png)")
        }
    }
}
