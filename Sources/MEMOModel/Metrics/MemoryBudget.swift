import Foundation

// Memory accounting, the paper's point: a model costs memory as surely as exemplars do.
// Parameters count 4 bytes (float32), exemplars their raw size (3,072 bytes for a CIFAR image).
// Parameter counts follow the field (`sum(p.numel())`): conv weights, BN weight and bias;
// BN running statistics and the classifier are not counted in budgets.
//
// Budgets follow the reference's `utils/model2exemplar.py` (wangkiw/ICLR23-MEMO):
// - "fair": the budget is DER's, T full backbones plus 2,000 exemplars. A method whose model is
//   smaller after the last stage turns the difference into extra exemplars:
//   exemplars = 2000 + floor((T · full − model) · 4 / bytesPerImage).
//   MEMO's model is generalized + T specialized blocks; a single-backbone method's one backbone.
// - "auc": the backbone varies (ConvNet2, ResNet14/20/26/32 on CIFAR-100 B0 Inc10). At the
//   smallest point (ConvNet2) the budget is one ResNet32 plus 2,000 exemplars (what iCaRL keeps);
//   at the others it is DER's T backbones of that depth plus 2,000. Both are
//   max(T · full(backbone), ResNet32) parameters plus 2,000 exemplars. MEMO uses the swept
//   backbone split into generalized / specialized parts; single-backbone methods keep ResNet32.

/// Bad input to memory accounting: says which value and why.
public enum MemoryBudgetError: Error, Equatable, CustomStringConvertible {
    /// The class split is impossible (non-positive sizes, or more initial classes than classes).
    case invalidSplit(initialClasses: Int, increment: Int, classCount: Int)
    /// Bytes per image must be positive.
    case invalidBytesPerImage(Int)
    /// The model alone exceeds the budget.
    case budgetTooSmall(budgetBytes: Int, modelBytes: Int)
    /// A size string could not be read.
    case unreadableSize(String)

    public var description: String {
        switch self {
        case let .invalidSplit(i, inc, c):
            return "memory budget: invalid split init \(i), increment \(inc), \(c) classes"
        case let .invalidBytesPerImage(b):
            return "memory budget: bytes per image must be positive, got \(b)"
        case let .budgetTooSmall(budget, model):
            return "memory budget: \(budget) bytes do not hold the model (\(model) bytes after the last stage); "
                + "raise the budget or use a smaller backbone"
        case let .unreadableSize(text):
            return "memory budget: cannot read size \"\(text)\"; "
                + "expected a number with an optional unit B, KB, MB, GB (10^3) or KiB, MiB, GiB (2^10), e.g. 23.54MiB"
        }
    }
}

/// Parameter counts of MEMO's CIFAR networks, by formula (no network needed).
///
/// `blocksPerStage` is n in depth 6n + 2: 2, 3, 4, 5 for ResNet14, 20, 26, 32.
public enum ParameterCount {
    /// Bytes per parameter (float32).
    public static let bytesPerParameter = 4
    /// Width of one specialized block's feature.
    public static let featureWidth = 64

    /// 3x3 convolution without bias followed by BatchNorm (weight and bias).
    static func convBN(_ inputs: Int, _ outputs: Int) -> Int { 9 * inputs * outputs + 2 * outputs }

    /// n BasicBlocks of `width` channels; the first reads `inputs` channels (DownsampleA has no
    /// parameters).
    static func stage(_ inputs: Int, _ width: Int, blocks: Int) -> Int {
        convBN(inputs, width) + convBN(width, width) + (blocks - 1) * 2 * convBN(width, width)
    }

    /// Generalized blocks: conv 3->16 + BN, stage 1 (16 channels), stage 2 (32 channels).
    /// 112,016 for memo_resnet32.
    public static func generalized(blocksPerStage n: Int) -> Int {
        precondition(n >= 1, "blocksPerStage must be at least 1")
        return convBN(3, 16) + stage(16, 16, blocks: n) + stage(16, 32, blocks: n)
    }

    /// One specialized block: stage 3 (64 channels). 351,488 for memo_resnet32.
    public static func specializedBlock(blocksPerStage n: Int) -> Int {
        precondition(n >= 1, "blocksPerStage must be at least 1")
        return stage(32, 64, blocks: n)
    }

    /// The plain CIFAR ResNet (generalized + one specialized block, no classifier).
    /// 463,504 for ResNet32.
    public static func singleBackbone(blocksPerStage n: Int) -> Int {
        generalized(blocksPerStage: n) + specializedBlock(blocksPerStage: n)
    }

    /// One ImageNet BasicBlock of `width` channels reading `inputs` channels; a projection
    /// shortcut (1x1 conv + BN) where `inputs` differs.
    static func imageNetBlock(_ inputs: Int, _ width: Int) -> Int {
        convBN(inputs, width) + convBN(width, width) + (inputs != width ? inputs * width + 2 * width : 0)
    }

    /// ResNet-18's generalized part: conv7x7 3->64 + BN, layer1 (64), layer2 (128), layer3 (256),
    /// two BasicBlocks each. 2,782,784.
    public static let resNet18Generalized = 49 * 3 * 64 + 2 * 64
        + 2 * imageNetBlock(64, 64) + imageNetBlock(64, 128) + imageNetBlock(128, 128)
        + imageNetBlock(128, 256) + imageNetBlock(256, 256)

    /// ResNet-18's specialized block: layer4 (two BasicBlocks of 512). 8,393,728.
    public static let resNet18SpecializedBlock = imageNetBlock(256, 512) + imageNetBlock(512, 512)

    /// A linear layer with bias.
    public static func linear(inputs: Int, outputs: Int) -> Int { inputs * outputs + outputs }

    /// MEMO's `fc`: 64·blocks features to all classes seen.
    public static func fc(specializedBlocks: Int, classes: Int) -> Int {
        linear(inputs: featureWidth * specializedBlocks, outputs: classes)
    }

    /// MEMO's `aux_fc`: 64 features to the stage's new classes + 1 ("old").
    public static func auxFC(newClasses: Int) -> Int {
        linear(inputs: featureWidth, outputs: newClasses + 1)
    }
}

/// A backbone as the budget arithmetic sees it: generalized and specialized parameter counts.
public enum BudgetArchitecture: Hashable, Sendable, CustomStringConvertible {
    /// The reference's `conv2` (two conv-BN-ReLU-maxpool blocks of 64 channels, conv bias
    /// included); `memo_conv2` splits it after the first block. 1,920 + 37,056 = 38,976.
    case convNet2
    /// CIFAR ResNet of depth 6n + 2.
    case resNet(blocksPerStage: Int)
    /// The ImageNet ResNet-18 (`memo_resnet18`), split after layer3: 2,782,784 + 8,393,728 =
    /// 11,176,512 (torchvision's resnet18 without its fc).
    case resNet18

    /// ResNet32, the reference single backbone on CIFAR.
    public static let resNet32 = BudgetArchitecture.resNet(blocksPerStage: 5)

    public var generalizedParameters: Int {
        switch self {
        case .convNet2: return 9 * 3 * 64 + 64 + 2 * 64
        case let .resNet(n): return ParameterCount.generalized(blocksPerStage: n)
        case .resNet18: return ParameterCount.resNet18Generalized
        }
    }

    public var specializedParameters: Int {
        switch self {
        case .convNet2: return 9 * 64 * 64 + 64 + 2 * 64
        case let .resNet(n): return ParameterCount.specializedBlock(blocksPerStage: n)
        case .resNet18: return ParameterCount.resNet18SpecializedBlock
        }
    }

    /// The full single network (generalized + one specialized part).
    public var fullParameters: Int { generalizedParameters + specializedParameters }

    /// MEMO's parameters after `stages` stages: generalized + one specialized part per stage.
    public func memoParameters(stages: Int) -> Int { generalizedParameters + stages * specializedParameters }

    public var description: String {
        switch self {
        case .convNet2: return "ConvNet2"
        case let .resNet(n): return "ResNet\(6 * n + 2)"
        case .resNet18: return "ResNet18"
        }
    }
}

/// How budgets are aligned across methods (the reference's `--prefix`).
public enum BudgetProtocol: String, CaseIterable, Codable, Sendable {
    case fair
    case auc
}

/// Aligned memory budget of one experiment and the exemplar counts (`-ms`) that fill it.
public struct MemoryBudget: Equatable, Sendable {
    public let budgetProtocol: BudgetProtocol
    public let architecture: BudgetArchitecture
    /// Number of stages T of the split.
    public let stages: Int
    public let bytesPerImage: Int
    /// Exemplars of the method that defines the budget (2,000).
    public let baseExemplars: Int
    /// Model parameters the budget allows (T full backbones, or ResNet32 if larger under "auc").
    public let budgetParameters: Int
    /// MEMO's parameters after the last stage.
    public let memoParameters: Int
    /// The single-backbone method's parameters (the backbone under "fair", ResNet32 under "auc").
    public let singleBackboneParameters: Int
    /// MEMO's `-ms`.
    public let memoExemplars: Int
    /// A single-backbone method's `-ms` (iCaRL, ...).
    public let singleBackboneExemplars: Int
    /// DER's `-ms` with the architecture (2,000 unless the budget exceeds its T backbones).
    public let derExemplars: Int

    /// Budget in bytes: budget parameters at 4 bytes plus the base exemplars.
    public var totalBytes: Int { budgetParameters * ParameterCount.bytesPerParameter + baseExemplars * bytesPerImage }
    /// Budget in MiB (2^20 bytes), as the paper quotes it.
    public var totalMiB: Double { mebibytes(totalBytes) }

    /// Stages of a split as PyCIL's data manager makes them: `init`, then `increment` at a time,
    /// a smaller last stage taking the remainder.
    public static func stageCount(initialClasses: Int, increment: Int, classCount: Int) throws -> Int {
        guard initialClasses > 0, increment > 0, initialClasses <= classCount else {
            throw MemoryBudgetError.invalidSplit(initialClasses: initialClasses, increment: increment, classCount: classCount)
        }
        return 1 + (classCount - initialClasses + increment - 1) / increment
    }

    /// Computes the aligned budget (see the file header for the rules).
    /// - Parameters:
    ///   - budgetProtocol: "fair" (DER's budget with the same backbone) or "auc".
    ///   - architecture: the backbone (under "auc", the swept point).
    ///   - initialClasses, increment, classCount: the split (B0 Inc10 on CIFAR-100 = 10, 10, 100).
    ///   - bytesPerImage: raw bytes of one exemplar (3,072 for CIFAR, 784 for Fashion-MNIST).
    ///   - baseExemplars: exemplars of the reference methods (2,000).
    public init(_ budgetProtocol: BudgetProtocol, architecture: BudgetArchitecture,
                initialClasses: Int, increment: Int, classCount: Int,
                bytesPerImage: Int = 3072, baseExemplars: Int = 2000) throws {
        guard bytesPerImage > 0 else { throw MemoryBudgetError.invalidBytesPerImage(bytesPerImage) }
        let stages = try MemoryBudget.stageCount(initialClasses: initialClasses, increment: increment, classCount: classCount)
        let derParameters = stages * architecture.fullParameters
        let budget: Int, single: Int
        switch budgetProtocol {
        case .fair:
            budget = derParameters
            single = architecture.fullParameters
        case .auc:
            single = BudgetArchitecture.resNet32.fullParameters
            budget = max(derParameters, single)
        }
        let memo = architecture.memoParameters(stages: stages)
        func exemplars(_ model: Int) -> Int {
            baseExemplars + floorDivide((budget - model) * ParameterCount.bytesPerParameter, bytesPerImage)
        }
        self.budgetProtocol = budgetProtocol
        self.architecture = architecture
        self.stages = stages
        self.bytesPerImage = bytesPerImage
        self.baseExemplars = baseExemplars
        self.budgetParameters = budget
        self.memoParameters = memo
        self.singleBackboneParameters = single
        self.memoExemplars = exemplars(memo)
        self.singleBackboneExemplars = exemplars(single)
        self.derExemplars = exemplars(derParameters)
    }

    /// The budget as a text line, e.g.
    /// `fair ResNet32 T=10: MEMO -ms 3312, single-backbone -ms 7431, DER -ms 2000, 23.54 MiB (24684160 bytes)`.
    public var summary: String {
        "\(budgetProtocol.rawValue) \(architecture) T=\(stages): MEMO -ms \(memoExemplars), "
            + "single-backbone -ms \(singleBackboneExemplars), DER -ms \(derExemplars), "
            + String(format: "%.2f MiB (%d bytes)", totalMiB, totalBytes)
    }
}

/// Exemplars MEMO can keep in `totalBytes` once its model has grown to `stages` specialized
/// blocks: floor((totalBytes − model bytes) / bytesPerImage), classifiers not counted (as the
/// field counts). `--memory-budget 23.54MiB` on B0 Inc10 with memo_resnet32 gives 3,312.
/// - Throws: ``MemoryBudgetError/budgetTooSmall(budgetBytes:modelBytes:)`` if the model alone
///   does not fit, ``MemoryBudgetError/invalidBytesPerImage(_:)``.
public func exemplarsForBudget(totalBytes: Int, architecture: BudgetArchitecture,
                               stages: Int, bytesPerImage: Int = 3072) throws -> Int {
    guard bytesPerImage > 0 else { throw MemoryBudgetError.invalidBytesPerImage(bytesPerImage) }
    precondition(stages >= 1, "stages must be at least 1")
    let modelBytes = architecture.memoParameters(stages: stages) * ParameterCount.bytesPerParameter
    guard totalBytes >= modelBytes else {
        throw MemoryBudgetError.budgetTooSmall(budgetBytes: totalBytes, modelBytes: modelBytes)
    }
    return (totalBytes - modelBytes) / bytesPerImage
}

/// ``exemplarsForBudget(totalBytes:architecture:stages:bytesPerImage:)`` for a CIFAR ResNet with
/// `blocksPerStage` = n (`Backbone.blocksPerStage`).
public func exemplarsForBudget(totalBytes: Int, blocksPerStage: Int,
                               stages: Int, bytesPerImage: Int = 3072) throws -> Int {
    try exemplarsForBudget(totalBytes: totalBytes, architecture: .resNet(blocksPerStage: blocksPerStage),
                           stages: stages, bytesPerImage: bytesPerImage)
}

/// Floor division for possibly negative numerators (Python's `math.floor(a / b)` for b > 0).
private func floorDivide(_ a: Int, _ b: Int) -> Int {
    let q = a / b
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
}

/// Parses a byte size written by a person: "24684160", "23.54MiB", "23.5MB", "512 KiB".
/// Units (case-insensitive, optional space): B; KB, MB, GB, TB = 10^3k; KiB, MiB, GiB, TiB =
/// 2^10k; none = bytes. Fractions of a byte are dropped.
/// - Throws: ``MemoryBudgetError/unreadableSize(_:)``.
public func parseByteSize(_ text: String) throws -> Int {
    let trimmed = text.trimmingCharacters(in: .whitespaces)
    let numberEnd = trimmed.firstIndex { !("0"..."9").contains($0) && $0 != "." } ?? trimmed.endIndex
    let numberText = String(trimmed[..<numberEnd])
    let unit = trimmed[numberEnd...].trimmingCharacters(in: .whitespaces).lowercased()
    let multipliers: [String: Double] = [
        "": 1, "b": 1,
        "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
        "kib": 1024, "mib": 1_048_576, "gib": 1_073_741_824, "tib": 1_099_511_627_776,
    ]
    guard !numberText.isEmpty, numberText.filter({ $0 == "." }).count <= 1,
          let value = Double(numberText), let multiplier = multipliers[unit] else {
        throw MemoryBudgetError.unreadableSize(text)
    }
    let bytes = (value * multiplier).rounded(.down)
    guard bytes.isFinite, bytes < Double(Int.max) else { throw MemoryBudgetError.unreadableSize(text) }
    return Int(bytes)
}

/// Bytes in MiB (2^20 bytes), the unit the paper quotes.
public func mebibytes(_ bytes: Int) -> Double { Double(bytes) / 1_048_576 }

/// What a stage's learner holds in memory, in parameters and bytes.
public struct MemoryReport: Codable, Equatable, Sendable {
    public var generalizedParameters: Int
    /// One entry per specialized block.
    public var specializedParameters: [Int]
    public var fcParameters: Int
    public var auxFCParameters: Int
    public var exemplarCount: Int
    public var bytesPerExemplar: Int

    public init(generalizedParameters: Int, specializedParameters: [Int], fcParameters: Int,
                auxFCParameters: Int, exemplarCount: Int, bytesPerExemplar: Int) {
        self.generalizedParameters = generalizedParameters
        self.specializedParameters = specializedParameters
        self.fcParameters = fcParameters
        self.auxFCParameters = auxFCParameters
        self.exemplarCount = exemplarCount
        self.bytesPerExemplar = bytesPerExemplar
    }

    /// MEMO with a CIFAR ResNet after stage `stage` (0-based) by formula: stage + 1 specialized
    /// blocks, `fc` over `classesSeen`, `aux_fc` over `newClasses` + 1.
    public static func memo(blocksPerStage: Int, stage: Int, classesSeen: Int, newClasses: Int,
                            exemplarCount: Int, bytesPerExemplar: Int = 3072) -> MemoryReport {
        let blocks = stage + 1
        return MemoryReport(
            generalizedParameters: ParameterCount.generalized(blocksPerStage: blocksPerStage),
            specializedParameters: Array(repeating: ParameterCount.specializedBlock(blocksPerStage: blocksPerStage), count: blocks),
            fcParameters: ParameterCount.fc(specializedBlocks: blocks, classes: classesSeen),
            auxFCParameters: ParameterCount.auxFC(newClasses: newClasses),
            exemplarCount: exemplarCount, bytesPerExemplar: bytesPerExemplar)
    }

    /// Generalized + specialized parameters (what budgets count).
    public var backboneParameters: Int { generalizedParameters + specializedParameters.reduce(0, +) }
    /// `fc` + `aux_fc`.
    public var classifierParameters: Int { fcParameters + auxFCParameters }
    /// Every parameter.
    public var totalParameters: Int { backboneParameters + classifierParameters }
    /// Every parameter at float32.
    public var parameterBytes: Int { totalParameters * ParameterCount.bytesPerParameter }
    /// Backbone parameters at float32.
    public var backboneBytes: Int { backboneParameters * ParameterCount.bytesPerParameter }
    public var exemplarBytes: Int { exemplarCount * bytesPerExemplar }
    /// All parameters and exemplars.
    public var totalBytes: Int { parameterBytes + exemplarBytes }
    public var totalMiB: Double { mebibytes(totalBytes) }
    /// Backbone and exemplars, classifiers excluded: the quantity budgets align.
    public var budgetBytes: Int { backboneBytes + exemplarBytes }
    /// The backbone in exemplar equivalents (463,504 · 4 / 3,072 ≈ 603.5 for ResNet32).
    public var modelInExemplars: Double {
        Double(backboneBytes) / Double(bytesPerExemplar)
    }

    /// Text table, one line per item.
    public var table: String {
        var rows: [(String, Int, Int)] = [("generalized blocks", generalizedParameters, generalizedParameters * 4)]
        for (i, p) in specializedParameters.enumerated() {
            rows.append(("specialized block \(i)", p, p * 4))
        }
        rows.append(("fc", fcParameters, fcParameters * 4))
        rows.append(("aux_fc", auxFCParameters, auxFCParameters * 4))
        rows.append(("model (all parameters)", totalParameters, parameterBytes))
        func pad(_ s: String, _ n: Int, left: Bool = false) -> String {
            let fill = String(repeating: " ", count: max(0, n - s.count))
            return left ? s + fill : fill + s
        }
        func mib(_ b: Int) -> String { String(format: "%.2f", mebibytes(b)) }
        var lines = [pad("item", 24, left: true) + pad("count", 12) + pad("bytes", 14) + pad("MiB", 9)]
        for (name, count, bytes) in rows {
            lines.append(pad(name, 24, left: true) + pad("\(count)", 12) + pad("\(bytes)", 14) + pad(mib(bytes), 9))
        }
        lines.append(pad("exemplars (\(bytesPerExemplar) B each)", 24, left: true) + pad("\(exemplarCount)", 12)
                     + pad("\(exemplarBytes)", 14) + pad(mib(exemplarBytes), 9))
        lines.append(pad("total", 24, left: true) + pad("", 12) + pad("\(totalBytes)", 14) + pad(mib(totalBytes), 9))
        lines.append(pad("budget (no classifiers)", 24, left: true) + pad("", 12) + pad("\(budgetBytes)", 14)
                     + pad(mib(budgetBytes), 9))
        lines.append(String(format: "model = %.1f exemplars (backbone bytes / bytes per exemplar)", modelInExemplars))
        return lines.joined(separator: "\n") + "\n"
    }
}

/// Area under an accuracy-versus-memory curve by the trapezoid rule (the paper's AUC-A with
/// average accuracy, AUC-L with last accuracy; accuracy as a fraction, memory in MB as quoted).
/// Points are sorted by memory first; fewer than two points enclose no area and give 0.
public func auc(points: [(memoryMB: Double, accuracy: Double)]) -> Double {
    let sorted = points.sorted { $0.memoryMB < $1.memoryMB }
    guard sorted.count >= 2 else { return 0 }
    var area = 0.0
    for i in 1..<sorted.count {
        area += (sorted[i].memoryMB - sorted[i - 1].memoryMB) * (sorted[i].accuracy + sorted[i - 1].accuracy) / 2
    }
    return area
}
