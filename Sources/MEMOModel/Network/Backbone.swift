/// MEMO's CIFAR backbones: ResNets of depth 6n+2 split after the second stage into the shared
/// generalized blocks and one specialized block per stage.
public enum Backbone: String, CaseIterable, Codable, Sendable {
    case memoResNet14 = "memo_resnet14_cifar"
    case memoResNet20 = "memo_resnet20_cifar"
    case memoResNet26 = "memo_resnet26_cifar"
    case memoResNet32 = "memo_resnet32"

    /// BasicBlocks per stage (n in depth = 6n + 2).
    public var blocksPerStage: Int {
        switch self {
        case .memoResNet14: return 2
        case .memoResNet20: return 3
        case .memoResNet26: return 4
        case .memoResNet32: return 5
        }
    }

    public var depth: Int { 6 * blocksPerStage + 2 }

    /// Width of one specialized block's feature.
    public static let featureWidth = 64

    /// Accepts the reference's names and a few aliases (`memo_resnet14`, `resnet32`, ...).
    public init?(name: String) {
        let key = name.lowercased()
        if let b = Backbone(rawValue: key) { self = b; return }
        switch key {
        case "memo_resnet14", "resnet14", "resnet14_cifar": self = .memoResNet14
        case "memo_resnet20", "resnet20", "resnet20_cifar", "memo_resnet20_cifar": self = .memoResNet20
        case "memo_resnet26", "resnet26", "resnet26_cifar": self = .memoResNet26
        case "memo_resnet32_cifar", "resnet32", "resnet32_cifar": self = .memoResNet32
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
