import ArgumentParser
import Foundation
import MEMOCommandLine
import MEMOModel

/// memo-infer: analysis of MEMO stage checkpoints and run folders from the shell. Each
/// subcommand parses its arguments, calls the library (`Sources/MEMOModel/Inference`) and prints
/// the text it returns. Exit codes: 0 ok, 1 bad input (a file that does not load, a failed
/// image), 2 usage (unknown option, missing or invalid argument).
@main
struct MEMOInfer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "memo-infer",
        abstract: "Classify, evaluate and analyse MEMO stage checkpoints without the training code.",
        discussion: """
        Every subcommand reads memo-train's checkpoints (one HDF5 file per stage, stage-XX.h5 in a \
        run folder) and rebuilds the grown network of a stage from the file alone.

        Examples:
          memo-infer classify --checkpoint run/stage-09.h5 cat.png dog.png
          memo-infer evaluate --checkpoint run/stage-09.h5
          memo-infer forgetting run --plot accuracy.png
          memo-infer confusion --checkpoint run/stage-09.h5 --png confusion.png
          memo-infer memory run
          memo-infer budget --protocol fair --net memo_resnet32 -init 10 -incre 10
          memo-infer inspect --checkpoint run/stage-00.h5
          memo-infer report run -o report.html
          memo-infer export --checkpoint run/stage-04.h5 -o stage-04.safetensors
          memo-infer import stage-04.safetensors -o imported/stage-04.h5 --task-sizes 2,2,2,2,2 \\
              --dataset fashion-mnist --convnet_type memo_resnet14_cifar

        Exit codes: 0 success, 1 bad input (named on stderr), 2 usage error.
        """,
        subcommands: [Classify.self, Evaluate.self, Forgetting.self, Confusion.self, Memory.self, Budget.self,
                      AUC.self, Inspect.self, Report.self, Export.self, Import.self])

    static func main() { CommandMain.run(MEMOInfer.self, toolName: "memo-infer") }
}

/// Prints the notes of loaded checkpoints (`Checkpoint.notes`, e.g. a version-1 file without data
/// checksums) to stderr, one line each, and returns them.
func noted(_ checkpoint: Checkpoint) -> Checkpoint {
    for note in checkpoint.notes { printError("note: " + note) }
    return checkpoint
}

func noted(_ checkpoints: [Checkpoint]) -> [Checkpoint] { checkpoints.map(noted) }

/// Options shared by the reports that have several formats.
struct FormatOption: ParsableArguments {
    @Option(help: "Output format: table, json or csv.")
    var format: ReportFormat = .table
}
