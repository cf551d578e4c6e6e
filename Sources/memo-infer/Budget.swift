import ArgumentParser
import Foundation
import MEMOCommandLine
import MEMOModel

struct Budget: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Aligned memory budgets and the exemplar counts (-ms) that fill them.",
        discussion: """
        "fair": the budget is DER's T full backbones plus 2,000 exemplars; MEMO (generalized + \
        T specialized blocks) and single-backbone methods turn their smaller model into extra \
        exemplars. "auc": the backbone varies; the budget is max(T backbones, ResNet32) plus \
        2,000 exemplars. Without -init / -incre, prints the paper's table of CIFAR-100 splits \
        (for --net) and the auc protocol's points.

        Examples:
          memo-infer budget
          memo-infer budget --protocol fair --net memo_resnet32 -init 10 -incre 10
          memo-infer budget --protocol auc --net resnet14 -init 10 -incre 10
          memo-infer budget --net memo_resnet14 -init 2 -incre 2 --classes 10 --bytes-per-image 784
        """)

    @Option(name: .customLong("protocol"), help: "fair or auc (without a split: both tables).")
    var budgetProtocol: BudgetProtocol?
    @Option(name: [.customLong("net"), .customLong("net", withSingleDash: true)],
            help: "Backbone: memo_resnet32, memo_resnet14_cifar, ..., or conv2.")
    var net = "memo_resnet32"
    @Option(name: [.customLong("init", withSingleDash: true), .customLong("init"), .customLong("init_cls")],
            parsing: .unconditional, help: "Classes in stage 0 (default 10 when -incre is given).")
    var initCls: Int?
    @Option(name: [.customLong("incre", withSingleDash: true), .customLong("incre"), .customLong("increment")],
            parsing: .unconditional, help: "Classes per later stage (default 10 when -init is given).")
    var increment: Int?
    @Option(parsing: .unconditional, help: "Classes in the dataset.") var classes = 100
    @Option(name: .customLong("bytes-per-image"), parsing: .unconditional, help: "Bytes of one exemplar (3072 CIFAR, 784 Fashion-MNIST).")
    var bytesPerImage = 3072

    func validate() throws {
        guard BudgetArchitecture(name: net) != nil else {
            throw ValidationError("--net \(net): unknown backbone (known: \(Backbone.allCases.map(\.rawValue).joined(separator: ", ")), conv2)")
        }
        guard classes >= 1 else { throw ValidationError("--classes \(classes): must be 1 or more") }
        guard bytesPerImage >= 1 else { throw ValidationError("--bytes-per-image \(bytesPerImage): must be 1 or more") }
        for (name, value) in [("-init", initCls), ("-incre", increment)] {
            if let value, value < 1 { throw ValidationError("\(name) \(value): must be 1 or more") }
        }
        if let initCls, initCls > classes {
            throw ValidationError("-init \(initCls): must be at most the dataset's \(classes) classes (--classes)")
        }
    }

    func run() throws {
        let architecture = BudgetArchitecture(name: net)!
        if initCls == nil && increment == nil {
            var parts: [String] = []
            if budgetProtocol != .auc {
                parts.append(try BudgetReport.fairTable(architecture: architecture, classCount: classes, bytesPerImage: bytesPerImage))
            }
            if budgetProtocol != .fair {
                parts.append(try BudgetReport.aucTable(classCount: classes, bytesPerImage: bytesPerImage))
            }
            printReport(parts.joined(separator: "\n"))
        } else {
            printReport(try BudgetReport.single(budgetProtocol ?? .fair, architecture: architecture,
                                                initialClasses: initCls ?? 10, increment: increment ?? 10,
                                                classCount: classes, bytesPerImage: bytesPerImage))
        }
    }
}

struct AUC: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "auc",
        abstract: "AUC-A and AUC-L over runs at different memory budgets.",
        discussion: """
        One point per run folder: memory = the last stage's backbone parameters at 4 bytes plus \
        its exemplar bytes (classifiers excluded, the quantity budgets align), in MiB; accuracy = \
        the average (AUC-A) or last (AUC-L) of the stored top-1 curve, as a fraction. Areas by \
        the trapezoid rule over the points sorted by memory.

        Examples:
          memo-infer auc runs/conv2 runs/resnet14 runs/resnet20 runs/resnet26 runs/resnet32
          memo-infer auc runs/* --format json
        """)

    @Argument(help: "Run folders, one per budget.") var runs: [String] = []
    @Flag(help: "Use the NME head's top-1 curves.") var nme = false
    @OptionGroup var output: FormatOption

    func validate() throws {
        guard !runs.isEmpty else { throw ValidationError("give at least one run folder") }
    }

    func run() throws {
        let loaded = try runs.map { (path: $0, checkpoints: noted(try RunFolder.checkpoints(in: $0))) }
        printReport(try AUCReport(runs: loaded, head: nme ? .nme : .cnn).render(output.format))
    }
}
