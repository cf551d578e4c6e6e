/// One training epoch of a stage, as memo-train's log line reports it: the mean total and
/// auxiliary loss over the epoch's batches, the accuracy on the (augmented) training batches as
/// they were trained, and the learning rate used. Stored per stage in checkpoints from format
/// version 3 on, for the run report's training curves.
public struct EpochRecord: Codable, Equatable, Sendable {
    /// 1-based, as the log prints it.
    public var epoch: Int
    public var loss: Double
    public var auxLoss: Double
    /// Percent of the epoch's training images classified right by `fc` during training.
    public var trainAccuracy: Double
    public var learningRate: Double

    public init(epoch: Int, loss: Double, auxLoss: Double, trainAccuracy: Double, learningRate: Double) {
        self.epoch = epoch
        self.loss = loss
        self.auxLoss = auxLoss
        self.trainAccuracy = trainAccuracy
        self.learningRate = learningRate
    }
}
