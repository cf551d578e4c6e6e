/// The network input of the in-memory datasets (CIFAR, Fashion-MNIST, PNG folders): 3 x 32 x 32
/// float32 per image (NCHW), normalised per channel. An ImageNet-style folder's is 3 x 224 x 224
/// (`ImageSet.inputSide`).
public enum NetworkInput {
    public static let side = 32
    public static let channels = 3
    /// Floats per image: 3 * 32 * 32.
    public static let valuesPerImage = channels * side * side
}

/// Training-time augmentation, applied in torchvision's order (`RandomCrop`,
/// `RandomHorizontalFlip`, `ColorJitter`, then `ToTensor`, `Normalize`) by `makeBatch`; for
/// ImageNet (`RandomResizedCrop`, `RandomHorizontalFlip`, `ToTensor`, `Normalize`).
public enum Augmentation: String, Sendable, Codable, CaseIterable {
    /// The reference's CIFAR pipeline (`utils/data.py`): random 32x32 crop of the image
    /// zero-padded by 4, horizontal flip with probability 0.5, brightness jitter (factor uniform
    /// in [1 - 63/255, 1 + 63/255], applied as Pillow does: `min(255, floor(v * factor))`).
    case cifar
    /// Gray images (Fashion-MNIST): the crop and the flip, no brightness jitter.
    case gray
    /// No augmentation (the test pipeline).
    case none
    /// The reference's ImageNet-100 pipeline (`iImageNet100`): `RandomResizedCrop(224)` and
    /// `RandomHorizontalFlip()` of an image file (`ImageNetTransforms`); only for a file set.
    case imagenet

    /// The brightness jitter amplitude: torchvision `ColorJitter(brightness=63/255)`.
    public static let brightness = 63.0 / 255.0

    var crops: Bool { self == .cifar || self == .gray }
    var jittersBrightness: Bool { self == .cifar }
}
