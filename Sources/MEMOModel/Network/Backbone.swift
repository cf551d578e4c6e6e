/// MEMO's backbones (the reference's `convnet_type`), each split into shared generalized blocks
/// and one specialized block per stage:
/// - the CIFAR ResNets of depth 6n+2, split after the second stage (64-d feature per block);
/// - `memo_conv2`, ConvNet2 split after its first conv block (64-d feature), the smallest point
///   of the "auc" sweep;
/// - `memo_resnet18`, the ImageNet ResNet-18 split after layer3 (512-d feature), the network of
///   the paper's ImageNet-100 tables.
public enum Backbone: String, CaseIterable, Codable, Sendable {
    case memoResNet14 = "memo_resnet14_cifar"
    case memoResNet20 = "memo_resnet20_cifar"
    case memoResNet26 = "memo_resnet26_cifar"
    case memoResNet32 = "memo_resnet32"
    case memoConv2 = "memo_conv2"
    case memoResNet18 = "memo_resnet18"

    /// The network family: what the generalized and specialized blocks are made of.
    public enum Family: Sendable { case cifarResNet, convNet2, imageNetResNet }

    public var family: Family {
        switch self {
        case .memoResNet14, .memoResNet20, .memoResNet26, .memoResNet32: return .cifarResNet
        case .memoConv2: return .convNet2
        case .memoResNet18: return .imageNetResNet
        }
    }

    /// BasicBlocks per stage (n in depth = 6n + 2 for the CIFAR ResNets; 2 for ResNet-18; 0 for
    /// ConvNet2, which has none).
    public var blocksPerStage: Int {
        switch self {
        case .memoResNet14: return 2
        case .memoResNet20: return 3
        case .memoResNet26: return 4
        case .memoResNet32: return 5
        case .memoConv2: return 0
        case .memoResNet18: return 2
        }
    }

    /// Weighted layers (convolutions and the classifier of the single network): 6n + 2, 3 for
    /// ConvNet2 (two convolutions and fc), 18 for ResNet-18.
    public var depth: Int {
        switch family {
        case .cifarResNet: return 6 * blocksPerStage + 2
        case .convNet2: return 3
        case .imageNetResNet: return 18
        }
    }

    /// Width of one specialized block's feature: 64, or 512 for ResNet-18.
    public var featureWidth: Int { family == .imageNetResNet ? 512 : 64 }

    /// The input side the reference trains the network at: 32 (CIFAR) or 224 (ImageNet).
    /// memo-swift feeds each network at its dataset's side (`ImageSet.inputSide`): 32x32 for the
    /// in-memory datasets, 224x224 for an ImageNet folder (`--dataset imagenet100`); ResNet-18
    /// accepts any side of at least 32 (its feature is globally pooled; at 32 its layer4 map is
    /// 1x1, at 224 7x7).
    public var referenceInputSize: Int { family == .imageNetResNet ? 224 : 32 }

    /// The budget arithmetic's view of this backbone.
    public var budgetArchitecture: BudgetArchitecture {
        switch family {
        case .cifarResNet: return .resNet(blocksPerStage: blocksPerStage)
        case .convNet2: return .convNet2
        case .imageNetResNet: return .resNet18
        }
    }

    /// Accepts the reference's names and a few aliases (`memo_resnet14`, `resnet32`, `conv2`, ...).
    public init?(name: String) {
        let key = name.lowercased()
        if let b = Backbone(rawValue: key) { self = b; return }
        switch key {
        case "memo_resnet14", "resnet14", "resnet14_cifar": self = .memoResNet14
        case "memo_resnet20", "resnet20", "resnet20_cifar", "memo_resnet20_cifar": self = .memoResNet20
        case "memo_resnet26", "resnet26", "resnet26_cifar": self = .memoResNet26
        case "memo_resnet32_cifar", "resnet32", "resnet32_cifar": self = .memoResNet32
        case "conv2", "convnet2", "memo_convnet2": self = .memoConv2
        case "resnet18", "memo_resnet18_imagenet", "resnet18_imagenet": self = .memoResNet18
        default: return nil
        }
    }

    /// Decodes any name `init?(name:)` accepts (checkpoints of older versions hold `resnet32`).
    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        let name = try c.decode(String.self)
        guard let b = Backbone(name: name) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "unknown backbone '\(name)'")
        }
        self = b
    }
}
