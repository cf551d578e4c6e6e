import Foundation

/// The names of memo-swift's tensors in the reference's PyTorch `AdaptiveNet.state_dict()`
/// (wangkiw/ICLR23-MEMO, `utils/inc_net.py` with `convs/memo_cifar_resnet.py`,
/// `convs/conv_cifar.py` and `convs/memo_resnet.py`).
///
/// The renaming is per dotted component. In every network: `generalized` =
/// `TaskAgnosticExtractor`, `specialized.<k>` = `AdaptiveExtractors.<k>`, `runningMean`/`runningVar`
/// = `running_mean`/`running_var`, `auxFC` = `aux_fc`; block indices and `weight`, `bias`, `fc`
/// are the same. Then per family:
/// - CIFAR ResNets: `conv` = `conv_1_3x3`, `bn` = `bn_1`, `stage1`/`stage2` = `stage_1`/`stage_2`,
///   `stage3` = `final_stage`, `convA`/`bnA`/`convB`/`bnB` = `conv_a`/`bn_a`/`conv_b`/`bn_b`.
/// - ConvNet2: each `conv_block` is a Sequential (conv with bias, BN, ReLU, max pool), so
///   `conv`/`bn` = `encoder.0.0`/`encoder.0.1` in the generalized blocks and
///   `AdaptiveBlock.0`/`AdaptiveBlock.1` in a specialized one.
/// - ResNet-18 (torchvision's names): `conv`/`bn` = `conv1`/`bn1`, `stage<n>` = `layer<n>`,
///   `convA`/`bnA`/`convB`/`bnB` = `conv1`/`bn1`/`conv2`/`bn2`, `shortcutConv`/`shortcutBN` =
///   `downsample.0`/`downsample.1`.
///
/// Layouts are the same (conv OIHW, linear [out, in]), and `fc` reads the specialized blocks'
/// features concatenated in block order in both, so no tensor is transposed or permuted. Every
/// BatchNorm of the reference also has an int64 scalar `num_batches_tracked`, which memo-swift
/// does not keep.
public enum AdaptiveNetKeys {
    static let common: [String: String] = [
        "generalized": "TaskAgnosticExtractor", "specialized": "AdaptiveExtractors",
        "runningMean": "running_mean", "runningVar": "running_var", "auxFC": "aux_fc",
    ]
    static let cifarResNet: [String: String] = [
        "conv": "conv_1_3x3", "bn": "bn_1", "stage1": "stage_1", "stage2": "stage_2", "stage3": "final_stage",
        "convA": "conv_a", "bnA": "bn_a", "convB": "conv_b", "bnB": "bn_b",
    ]
    static let convNet2Generalized: [String: String] = ["conv": "encoder.0.0", "bn": "encoder.0.1"]
    static let convNet2Specialized: [String: String] = ["conv": "AdaptiveBlock.0", "bn": "AdaptiveBlock.1"]
    static let imageNetResNet: [String: String] = [
        "conv": "conv1", "bn": "bn1", "stage1": "layer1", "stage2": "layer2", "stage3": "layer3", "stage4": "layer4",
        "convA": "conv1", "bnA": "bn1", "convB": "conv2", "bnB": "bn2",
        "shortcutConv": "downsample.0", "shortcutBN": "downsample.1",
    ]

    /// The reference key of a memo-swift tensor name of a network of `family`
    /// (`generalized.stage1.0.bnA.runningMean` -> `TaskAgnosticExtractor.stage_1.0.bn_a.running_mean`
    /// for the CIFAR ResNets, `TaskAgnosticExtractor.layer1.0.bn1.running_mean` for ResNet-18).
    public static func referenceKey(_ memoSwiftName: String, family: Backbone.Family) -> String {
        let parts = memoSwiftName.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        let table: [String: String]
        switch family {
        case .cifarResNet: table = cifarResNet
        case .convNet2: table = parts.first == "specialized" ? convNet2Specialized : convNet2Generalized
        case .imageNetResNet: table = imageNetResNet
        }
        return parts.map { common[$0] ?? table[$0] ?? $0 }.joined(separator: ".")
    }

    /// One entry of the reference's state_dict: its key, shape and dtype, and the memo-swift
    /// tensor it holds (nil for `num_batches_tracked`).
    public struct Entry: Sendable, Equatable {
        public let key: String
        public let shape: [Int]
        public let dtype: StateDictDType
        public let memoSwiftName: String?
    }

    /// Every entry of the reference's state_dict for a backbone after stages of `taskSizes`
    /// classes (each positive), in memo-swift's parameter order (`MEMONetwork.namedParameters`:
    /// generalized blocks, specialized blocks in stage order, `fc` [classes, width · blocks],
    /// `auxFC` [newest stage's classes + 1, width]), each BatchNorm's `num_batches_tracked` after
    /// its running variance.
    public static func expectedEntries(backbone: Backbone, taskSizes: [Int]) throws -> [Entry] {
        guard !taskSizes.isEmpty, taskSizes.allSatisfy({ $0 > 0 }) else {
            throw CheckpointError.inconsistent(path: "network", reason: "task sizes \(taskSizes) are not positive class counts")
        }
        let blocks = BlockShapes.of(backbone)
        var named = blocks.generalized.map { ("generalized." + $0.0, $0.1) }
        for k in taskSizes.indices { named += blocks.specialized.map { ("specialized.\(k)." + $0.0, $0.1) } }
        let width = backbone.featureWidth, classes = taskSizes.reduce(0, +), aux = taskSizes[taskSizes.count - 1] + 1
        named += [("fc.weight", [classes, width * taskSizes.count]), ("fc.bias", [classes]),
                  ("auxFC.weight", [aux, width]), ("auxFC.bias", [aux])]
        var out: [Entry] = []
        for (name, shape) in named {
            out.append(Entry(key: referenceKey(name, family: backbone.family), shape: shape, dtype: .float32, memoSwiftName: name))
            if name.hasSuffix(".runningVar") {
                out.append(Entry(key: referenceKey(String(name.dropLast("runningVar".count)), family: backbone.family)
                                     + "num_batches_tracked",
                                 shape: [], dtype: .int64, memoSwiftName: nil))
            }
        }
        return out
    }

    /// Names and shapes of a backbone's generalized blocks and of one specialized block (all
    /// specialized blocks are alike), found once per backbone and process: building the blocks
    /// draws their initial values, 11 M for ResNet-18.
    final class BlockShapes: @unchecked Sendable {
        let generalized: [(String, [Int])]
        let specialized: [(String, [Int])]

        private init(_ backbone: Backbone) {
            var rng = MEMORandom(seed: 0)
            generalized = GeneralizedBlocks(backbone: backbone, rng: &rng).namedParameters().map { ($0.0, $0.1.shape) }
            specialized = SpecializedBlock(backbone: backbone, rng: &rng).namedParameters().map { ($0.0, $0.1.shape) }
        }

        private static let lock = NSLock()
        nonisolated(unsafe) private static var known: [Backbone: BlockShapes] = [:]

        static func of(_ backbone: Backbone) -> BlockShapes {
            lock.lock()
            defer { lock.unlock() }
            if let b = known[backbone] { return b }
            let b = BlockShapes(backbone)
            known[backbone] = b
            return b
        }
    }
}
