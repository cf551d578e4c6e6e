import Foundation

// `memo-infer budget` and `memo-infer auc`: the aligned memory budgets of docs/memo.md (arithmetic in
// `MemoryBudget`) as text, and the area under accuracy-versus-memory curves of finished runs
// (`auc(points:)`).

extension BudgetArchitecture {
    /// A backbone by name: every `Backbone` name (`memo_resnet32`, `resnet14`, `memo_conv2`,
    /// `conv2`, `memo_resnet18`, ...). `nil` for anything else.
    public init?(name: String) {
        guard let backbone = Backbone(name: name) else { return nil }
        self = backbone.budgetArchitecture
    }
}

/// Budget tables.
public enum BudgetReport {
    /// The paper's CIFAR-100 splits: name, initial classes, increment.
    public static let paperSplits: [(name: String, initial: Int, increment: Int)] = [
        ("B0 Inc10", 10, 10), ("B0 Inc5", 5, 5), ("B0 Inc20", 20, 20), ("B50 Inc10", 50, 10), ("B50 Inc5", 50, 5),
    ]
    /// The "auc" protocol's sweep on B0 Inc10.
    public static let aucArchitectures: [BudgetArchitecture] = [
        .convNet2, .resNet(blocksPerStage: 2), .resNet(blocksPerStage: 3), .resNet(blocksPerStage: 4), .resNet32,
    ]

    static let header = ["T", "MEMO -ms", "single-backbone -ms", "DER -ms", "budget bytes", "budget MiB"]

    static func cells(_ b: MemoryBudget) -> [String] {
        ["\(b.stages)", "\(b.memoExemplars)", "\(b.singleBackboneExemplars)", "\(b.derExemplars)", "\(b.totalBytes)",
         String(format: "%.2f", b.totalMiB)]
    }

    /// One budget in full: the split, the budget and each method's parameters and `-ms`.
    public static func single(_ budgetProtocol: BudgetProtocol, architecture: BudgetArchitecture, initialClasses: Int,
                              increment: Int, classCount: Int, bytesPerImage: Int) throws -> String {
        let b = try MemoryBudget(budgetProtocol, architecture: architecture, initialClasses: initialClasses,
                                 increment: increment, classCount: classCount, bytesPerImage: bytesPerImage)
        let full = architecture.fullParameters
        var s = "\(budgetProtocol.rawValue) protocol: \(architecture) (generalized \(architecture.generalizedParameters) + "
            + "specialized \(architecture.specializedParameters) parameters), \(classCount) classes, "
            + "init \(initialClasses), increment \(increment): T = \(b.stages) stages\n"
        let rule = budgetProtocol == .fair ? "\(b.stages) x \(full) parameters (DER's T backbones)"
            : "max(\(b.stages) x \(full), ResNet32 \(BudgetArchitecture.resNet32.fullParameters)) = \(b.budgetParameters) parameters"
        s += "budget: \(rule) + \(b.baseExemplars) exemplars of \(bytesPerImage) bytes = \(b.totalBytes) bytes "
            + String(format: "(%.2f MiB)\n", b.totalMiB)
        var table = TextTable(header: ["method", "parameters", "exemplars (-ms)"])
        table.append(["MEMO (generalized + T specialized)", "\(b.memoParameters)", "\(b.memoExemplars)"])
        table.append(["single backbone (iCaRL, ...)", "\(b.singleBackboneParameters)", "\(b.singleBackboneExemplars)"])
        table.append(["DER (T backbones)", "\(b.stages * full)", "\(b.derExemplars)"])
        return s + table.text
    }

    /// The "fair" table of docs/memo.md: one row per split of ``paperSplits``.
    public static func fairTable(architecture: BudgetArchitecture = .resNet32, classCount: Int = 100,
                                 bytesPerImage: Int = 3072) throws -> String {
        var table = TextTable(header: ["split"] + header)
        for split in paperSplits {
            let b = try MemoryBudget(.fair, architecture: architecture, initialClasses: split.initial,
                                     increment: split.increment, classCount: classCount, bytesPerImage: bytesPerImage)
            table.append([split.name] + cells(b))
        }
        return "fair protocol, \(architecture), \(classCount) classes, \(bytesPerImage) bytes per image\n" + table.text
    }

    /// The "auc" protocol's points on B0 Inc10: one row per backbone of ``aucArchitectures``
    /// (single-backbone methods keep ResNet32).
    public static func aucTable(classCount: Int = 100, bytesPerImage: Int = 3072) throws -> String {
        var table = TextTable(header: ["backbone"] + header)
        for architecture in aucArchitectures {
            let b = try MemoryBudget(.auc, architecture: architecture, initialClasses: 10, increment: 10,
                                     classCount: classCount, bytesPerImage: bytesPerImage)
            table.append(["\(architecture)"] + cells(b))
        }
        return "auc protocol, B0 Inc10, \(classCount) classes, \(bytesPerImage) bytes per image\n" + table.text
    }
}

/// AUC-A and AUC-L over runs at different memory budgets (the paper's Figure: accuracy against
/// memory). Each run contributes one point: its memory is the last stage's
/// `MemoryReport.budgetBytes` (generalized + specialized parameters at 4 bytes plus the exemplars,
/// classifiers excluded: the quantity budgets align) in MiB, the unit the paper's budgets are
/// quoted in; its accuracies are the average and the last of the stored top-1 curve, as
/// fractions. The areas use the trapezoid rule over the points sorted by memory.
public struct AUCReport: Sendable {
    public struct Run: Codable, Equatable, Sendable {
        public var path: String
        public var backbone: String
        public var stages: Int
        public var exemplars: Int
        public var memoryMiB: Double
        public var averageAccuracy: Double
        public var lastAccuracy: Double

        public init(path: String, backbone: String, stages: Int, exemplars: Int, memoryMiB: Double,
                    averageAccuracy: Double, lastAccuracy: Double) {
            self.path = path
            self.backbone = backbone
            self.stages = stages
            self.exemplars = exemplars
            self.memoryMiB = memoryMiB
            self.averageAccuracy = averageAccuracy
            self.lastAccuracy = lastAccuracy
        }

        enum CodingKeys: String, CodingKey {
            case path, backbone, stages, exemplars, memoryMiB = "memory_mib"
            case averageAccuracy = "average_accuracy", lastAccuracy = "last_accuracy"
        }
    }

    public var head: ClassifierHead
    public var runs: [Run]
    /// Runs disagree in dataset or split (their points should not share a curve).
    public var mixed: Bool

    public var aucA: Double { auc(points: runs.map { ($0.memoryMiB, $0.averageAccuracy) }) }
    public var aucL: Double { auc(points: runs.map { ($0.memoryMiB, $0.lastAccuracy) }) }

    public init(head: ClassifierHead, runs: [Run], mixed: Bool) {
        self.head = head
        self.runs = runs
        self.mixed = mixed
    }

    /// One point per run: its last stage's memory and its stored top-1 curve.
    /// - Throws: ``InferenceError/emptyRunFolder(path:)`` for a run without checkpoints,
    ///   ``InferenceError/missing(path:what:)`` for a missing NME evaluation.
    public init(runs: [(path: String, checkpoints: [Checkpoint])], head: ClassifierHead = .cnn) throws {
        self.head = head
        self.runs = try runs.map { run in
            guard let last = run.checkpoints.last else { throw InferenceError.emptyRunFolder(path: run.path) }
            let curve: [Double] = try run.checkpoints.map { c in
                switch head {
                case .cnn: return c.evaluation.cnn.top1
                case .nme:
                    guard let nme = c.evaluation.nme else {
                        throw InferenceError.missing(path: run.path, what: "stage \(c.stage) has no NME evaluation")
                    }
                    return nme.top1
                }
            }
            return Run(path: run.path, backbone: last.backbone.rawValue, stages: run.checkpoints.count,
                       exemplars: last.memory.count, memoryMiB: mebibytes(MemoryReport(checkpoint: last).budgetBytes),
                       averageAccuracy: curve.reduce(0, +) / Double(curve.count) / 100, lastAccuracy: curve.last! / 100)
        }
        let kinds = Set(runs.compactMap { $0.checkpoints.last.map { "\($0.datasetName) \($0.taskSizes)" } })
        mixed = kinds.count > 1
    }

    public func render(_ format: ReportFormat) throws -> String {
        switch format {
        case .table:
            var table = TextTable(header: ["run", "backbone", "stages", "exemplars", "memory MiB", "average acc", "last acc"],
                                  leftAligned: [1])
            for r in runs.sorted(by: { $0.memoryMiB < $1.memoryMiB }) {
                table.append([r.path, r.backbone, "\(r.stages)", "\(r.exemplars)", String(format: "%.2f", r.memoryMiB),
                              String(format: "%.4f", r.averageAccuracy), String(format: "%.4f", r.lastAccuracy)])
            }
            var s = table.text
            s += String(format: "AUC-A %.4f, AUC-L %.4f (%@ top-1 as a fraction x memory in MiB: last stage's backbone "
                        + "+ exemplar bytes, classifiers excluded; trapezoid rule)\n", aucA, aucL, head.rawValue.uppercased())
            if runs.count < 2 { s += "note: one run encloses no area; give runs at different budgets\n" }
            if mixed { s += "note: the runs differ in dataset or class split\n" }
            return s
        case .csv:
            var s = csvLine(["run", "backbone", "stages", "exemplars", "memory_mib", "average_accuracy", "last_accuracy"])
            for r in runs {
                s += csvLine([r.path, r.backbone, "\(r.stages)", "\(r.exemplars)", "\(r.memoryMiB)", "\(r.averageAccuracy)",
                              "\(r.lastAccuracy)"])
            }
            return s
        case .json:
            struct Output: Encodable {
                var head: String
                var runs: [Run]
                var auc_a: Double
                var auc_l: Double
            }
            return try prettyJSON(Output(head: head.rawValue, runs: runs, auc_a: aucA, auc_l: aucL))
        }
    }
}
