/// The names of memo-swift's tensors in the reference's PyTorch `AdaptiveNet.state_dict()`
/// (wangkiw/ICLR23-MEMO, `utils/inc_net.py` and `convs/memo_cifar_resnet.py`), both ways.
///
/// The renaming is per dotted component: `generalized` = `TaskAgnosticExtractor`, `conv` =
/// `conv_1_3x3`, `bn` = `bn_1`, `stage1`/`stage2` = `stage_1`/`stage_2`, `specialized.<k>` =
/// `AdaptiveExtractors.<k>`, `stage3` = `final_stage`, `convA`/`bnA`/`convB`/`bnB` =
/// `conv_a`/`bn_a`/`conv_b`/`bn_b`, `runningMean`/`runningVar` = `running_mean`/`running_var`,
/// `auxFC` = `aux_fc`; block indices and `weight`, `bias`, `fc` are the same. Layouts are the
/// same too (conv OIHW, linear [out, in]), and `fc` reads the specialized blocks' features
/// concatenated in block order in both, so no tensor is transposed or permuted. Every BatchNorm
/// of the reference also has an int64 scalar `num_batches_tracked`, which memo-swift does not keep.
public enum AdaptiveNetKeys {
    static let toReference: [String: String] = [
        "generalized": "TaskAgnosticExtractor", "conv": "conv_1_3x3", "bn": "bn_1",
        "stage1": "stage_1", "stage2": "stage_2", "specialized": "AdaptiveExtractors", "stage3": "final_stage",
        "convA": "conv_a", "bnA": "bn_a", "convB": "conv_b", "bnB": "bn_b",
        "runningMean": "running_mean", "runningVar": "running_var", "auxFC": "aux_fc",
    ]

    /// The reference key of a memo-swift tensor name (`generalized.stage1.0.bnA.runningMean` ->
    /// `TaskAgnosticExtractor.stage_1.0.bn_a.running_mean`).
    public static func referenceKey(_ memoSwiftName: String) -> String {
        memoSwiftName.split(separator: ".", omittingEmptySubsequences: false)
            .map { toReference[String($0)] ?? String($0) }.joined(separator: ".")
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
    /// classes (each positive), in memo-swift's parameter order, each BatchNorm's
    /// `num_batches_tracked` after its running variance.
    /// Only the CIFAR ResNets have a mapping so far: memo_conv2 and memo_resnet18 (whose
    /// reference modules are `encoder`/`AdaptiveBlock` and torchvision's `conv1`/`layer<n>`) are
    /// refused rather than written under keys the reference would not load.
    public static func expectedEntries(backbone: Backbone, taskSizes: [Int]) throws -> [Entry] {
        guard backbone.family == .cifarResNet else {
            throw CheckpointError.inconsistent(path: backbone.rawValue, reason: "exchange with PyTorch covers the CIFAR ResNets "
                + "(memo_resnet14_cifar ... memo_resnet32); the AdaptiveNet key mapping of \(backbone.rawValue) is not written yet")
        }
        guard !taskSizes.isEmpty, taskSizes.allSatisfy({ $0 > 0 }) else {
            throw CheckpointError.inconsistent(path: "network", reason: "task sizes \(taskSizes) are not positive class counts")
        }
        let net = Checkpoint.makeNetwork(backbone: backbone, taskSizes: taskSizes)
        var out: [Entry] = []
        for (name, p) in net.namedParameters() {
            out.append(Entry(key: referenceKey(name), shape: p.shape, dtype: .float32, memoSwiftName: name))
            if name.hasSuffix(".runningVar") {
                out.append(Entry(key: referenceKey(String(name.dropLast("runningVar".count))) + "num_batches_tracked",
                                 shape: [], dtype: .int64, memoSwiftName: nil))
            }
        }
        return out
    }
}
