import ArgumentParser
import Foundation
import MEMOCommandLine
import MEMOModel

struct Forgetting: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Accuracy matrix, forgetting and backward transfer of a run folder.",
        discussion: """
        From the evaluations stored in the run's stage checkpoints (nothing is recomputed): the \
        accuracy matrix a(k, j) (top-1 after stage k on the classes of task j), the top-1 curve, \
        average incremental accuracy, last accuracy, forgetting per stage after Chaudhry et al. \
        (2018, mean over j < k of max_{l<k} a(l, j) - a(k, j)), PyCIL's forgetting on its 10-class \
        groups, and backward transfer (mean over j < T of a(T, j) - a(j, j)).

        Examples:
          memo-infer forgetting checkpoints/run
          memo-infer forgetting checkpoints/run --format csv > matrix.csv
          memo-infer forgetting checkpoints/run --nme --plot accuracy.png
        """)

    @Argument(help: "Run folder with stage-00.h5, stage-01.h5, ...") var runDir: String
    @Flag(help: "Use the NME head's evaluations instead of the CNN's.") var nme = false
    @Option(help: "Write the accuracy plot (top-1 curve and one curve per task) to this PNG.") var plot: String?
    @OptionGroup var output: FormatOption

    func run() throws {
        if let plot { try checkOutputPath(plot, flag: "--plot") }
        let report = try ForgettingReport(checkpoints: noted(RunFolder.checkpoints(in: runDir)), head: nme ? .nme : .cnn,
                                          path: runDir)
        printReport(try report.render(output.format))
        if let plot {
            try writePNG(report.plot().rendered(scale: 2), to: plot)
            printError("wrote \(plot)")
        }
    }
}
