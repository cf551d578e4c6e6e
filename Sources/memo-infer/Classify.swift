import ArgumentParser
import Foundation
import MEMOCommandLine
import MEMOModel

struct Classify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Top-k classes of PNG or JPEG images under a stage checkpoint.",
        discussion: """
        Each PNG (any colour type or bit depth; alpha is dropped) or JPEG (libjpeg-turbo, told \
        apart by its first bytes; gray JPEGs repeated into RGB) is converted as the checkpoint's \
        dataset was: resized bilinearly (Pillow's filter) to the stored size, a note on stderr \
        when it differs; for Fashion-MNIST checkpoints (28x28 gray) reduced to gray with \
        L = (299 R + 587 G + 114 B) / 1000, then padded to 32x32 and normalised with the \
        checkpoint's mean and std, exactly as in training. A folder stands for the .png, .jpg and \
        .jpeg files in it.

        The CNN head reports softmax probabilities of fc; --nme reports the squared Euclidean \
        distance between the L2-normalised feature and each class mean (smaller is closer). \
        A file that is not a readable PNG or JPEG gets a one-line error on stderr; the other images are \
        still classified and the exit code is 1.

        Examples:
          memo-infer classify --checkpoint run/stage-09.h5 cat.png
          memo-infer classify --checkpoint run/stage-09.h5 --top 3 --format csv images/
          memo-infer classify --checkpoint run/stage-04.h5 --nme --format json shoe.png
        """)

    @Option(help: "Stage checkpoint (stage-XX.h5).") var checkpoint: String
    @Argument(help: "PNG or JPEG files, or folders of them.") var images: [String] = []
    @Option(parsing: .unconditional, help: "Classes to list per image.") var top: Int = 5
    @Flag(help: "Use the nearest-mean-of-exemplars head (reports distances).") var nme = false
    @OptionGroup var threads: ThreadsOption
    @OptionGroup var output: FormatOption

    func validate() throws {
        guard !images.isEmpty else { throw ValidationError("give at least one PNG or JPEG file or folder") }
        guard top >= 1 else { throw ValidationError("--top \(top): must be 1 or more") }
    }

    func run() throws {
        // A handful of images is one small batch: a second OpenMP thread only adds barriers
        // (seconds on a busy machine for a 10-block network), so answer on one thread.
        let count = threads.threads ?? (ClassifyReport.expand(images).files.count < 32 ? 1 : EngineThreads.processDefault)
        try EngineThreads.with(count) { try classify() }
    }

    func classify() throws {
        // Only what the answer uses is read (no exemplars, evaluation or training record).
        let model = try CheckpointModel.read(checkpoint, classMeans: nme)
        for note in model.notes { printError("note: " + note) }
        let classifier = try Classifier(model: model, path: checkpoint)
        let report = ClassifyReport.run(classifier, arguments: images, head: nme ? .nme : .cnn, top: top)
        for note in report.notes { printError("note: " + note) }
        if !report.entries.isEmpty || output.format == .json { printReport(try report.render(output.format)) }
        for failure in report.failures { printError("memo-infer: error: " + failure.message) }
        if !report.failures.isEmpty { throw ExitCode(1) }
    }
}
