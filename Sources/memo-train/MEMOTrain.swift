import ArgumentParser
import Foundation
import MEMOCommandLine
import MEMOModel

@main
struct MEMOTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "memo-train",
        abstract: "Train MEMO class-incremental learners on the CPU, one HDF5 checkpoint per stage.",
        discussion: """
        The reference's flags work as written, e.g.
          memo-train -model memo -init 10 -incre 10 -ms 3312 -net memo_resnet32 -p fair --train_base \\
                     --init_epoch 71 --epochs 51 --dataset cifar100 --data-dir DIR
        """,
        subcommands: [Train.self, Bench.self, CheckRun.self],
        defaultSubcommand: Train.self)

    static func main() { CommandMain.run(MEMOTrain.self, toolName: "memo-train") }
}
