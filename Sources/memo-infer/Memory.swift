import ArgumentParser
import Foundation
import MEMOCommandLine
import MEMOModel

struct Memory: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Parameters, exemplars and bytes of a stage, or of every stage of a run.",
        discussion: """
        Parameters as the field counts them (BN weight and bias included, running statistics \
        not) at 4 bytes each: generalized blocks, each specialized block, fc and aux_fc; the \
        exemplars at their stored size; the total in MiB and the model in exemplar equivalents. \
        One checkpoint gives one line per item, a run folder one row per stage.

        Examples:
          memo-infer memory --checkpoint run/stage-09.h5
          memo-infer memory run --format csv
        """)

    @Option(help: "Stage checkpoint (stage-XX.h5).") var checkpoint: String?
    @Argument(help: "Run folder (one row per stage), or a checkpoint file.") var runDir: String?
    @OptionGroup var output: FormatOption

    func validate() throws {
        guard (checkpoint == nil) != (runDir == nil) else {
            throw ValidationError("give either --checkpoint FILE or a run folder")
        }
    }

    func run() throws {
        var isDir: ObjCBool = false
        let checkpoints: [Checkpoint]
        if let runDir, FileManager.default.fileExists(atPath: runDir, isDirectory: &isDir), isDir.boolValue {
            checkpoints = try noted(RunFolder.checkpoints(in: runDir))
            guard !checkpoints.isEmpty else { throw InferenceError.emptyRunFolder(path: runDir) }
        } else {
            checkpoints = [try noted(Checkpoint.read(checkpoint ?? runDir!))]
        }
        printReport(try MemoryTable(checkpoints: checkpoints).render(output.format))
    }
}
