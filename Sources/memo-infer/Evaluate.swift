import ArgumentParser
import Foundation
import MEMOCommandLine
import MEMOModel

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a stage checkpoint on the test images of the classes it has seen.",
        discussion: """
        CNN and NME top-1 / top-5, accuracy per task (the run's split), PyCIL's 10-class groups, \
        old / new classes; then whether the result equals the evaluation stored in the checkpoint. \
        The dataset, its folder and --train-per-class / --test-per-class default to those \
        recorded in the checkpoint's configuration; a dataset whose class names differ from the \
        checkpoint's is refused.

        Examples:
          memo-infer evaluate --checkpoint run/stage-09.h5
          memo-infer evaluate --checkpoint run/stage-04.h5 --dataset cifar100 --data-dir ~/data
          memo-infer evaluate --checkpoint run/stage-01.h5 --test-per-class 100 --format json
        """)

    @Option(help: "Stage checkpoint (stage-XX.h5).") var checkpoint: String
    @Option(help: "fashion-mnist, cifar100, cifar10, png or imagenet100 (default: the checkpoint's).") var dataset: DatasetKind?
    @Option(name: .customLong("data-dir"), help: "Folder with the dataset files (default: the checkpoint's).")
    var dataDir: String?
    @Option(name: .customLong("train-per-class"), parsing: .unconditional, help: "Use only the first N training images of each class.")
    var trainPerClass: Int?
    @Option(name: .customLong("test-per-class"), parsing: .unconditional, help: "Use only the first N test images of each class.")
    var testPerClass: Int?
    @OptionGroup var imageCache: ImageCacheOption
    @OptionGroup var threads: ThreadsOption
    @Option(help: "Output format.") var format: TableOrJSON = .table

    func validate() throws {
        for (name, value) in [("--train-per-class", trainPerClass), ("--test-per-class", testPerClass)] {
            if let value, value < 1 { throw ValidationError("\(name) \(value): must be 1 or more") }
        }
    }

    func run() throws {
        try EngineThreads.with(threads.threads ?? EngineThreads.processDefault) { try evaluate() }
    }

    func evaluate() throws {
        let c = try noted(Checkpoint.read(checkpoint))
        let recorded = c.config.dataset
        let kind = dataset ?? recorded
        let same = kind == recorded
        let data = try Dataset.load(kind: kind, dataDir: dataDir ?? (same ? c.config.dataDir : nil),
                                    trainPerClass: trainPerClass ?? (same ? c.config.trainPerClass : nil),
                                    testPerClass: testPerClass ?? (same ? c.config.testPerClass : nil),
                                    imageCacheBytes: try imageCache.bytes)
        printReport(try EvaluateReport.run(checkpoint: c, path: checkpoint, dataset: data).render(format.format))
    }
}
