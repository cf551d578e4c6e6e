/// What a forward pass of a part of the network is for; it decides the batch-norm statistics,
/// the oneDNN kernels and what the part keeps for a backward pass.
enum ForwardMode: Equatable {
    /// Batch statistics (running ones updated); keeps what the backward pass needs for
    /// parameter and input gradients. A part being trained.
    case train
    /// Running statistics (PyTorch's eval mode) for a part that still trains: keeps what the
    /// backward pass needs for parameter and input gradients.
    case trainRunningStatistics
    /// Running statistics; keeps only what the backward pass needs to pass gradients through to
    /// the parts before it (no parameter gradients). A frozen part on the path of a trained one:
    /// MEMO's old specialized blocks while the generalized blocks train.
    case frozen
    /// Running statistics, `forward_inference` kernels, nothing kept: evaluation, herding,
    /// classification, and frozen parts no gradient passes through.
    case inference

    var batchStatistics: Bool { self == .train }
    var inference: Bool { self == .inference }
}
