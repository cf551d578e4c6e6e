import ArgumentParser
import Foundation
import MEMOCommandLine
import MEMOModel

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Describe a checkpoint: format, stage, dataset, configuration, tensors, memory, evaluation.",
        discussion: """
        Reads the file as every subcommand does (the format attribute and version are checked) \
        and runs nothing. The layout is documented in docs/checkpoint-format.md.

        Example:
          memo-infer inspect --checkpoint checkpoints/run/stage-00.h5
        """)

    @Option(help: "Stage checkpoint (stage-XX.h5).") var checkpoint: String

    func run() throws {
        let c = try noted(Checkpoint.read(checkpoint))
        printReport(InspectReport.text(checkpoint: c, formatVersion: c.fileFormatVersion, path: checkpoint))
    }
}
