/// One stage's test: the network, in evaluation mode, on the test images of the classes seen so
/// far; CNN and NME top-k predictions (k = min(5, classes seen)); the metrics over them. What the
/// trainer stores after each stage and `memo-infer evaluate` recomputes, by the same code.
public struct StageTest: Sendable {
    /// Test-set positions evaluated and their labels (positions in the class order).
    public var indices: [Int]
    public var labels: [Int]
    public var cnnTopK: [[Int]]
    public var nmeTopK: [[Int]]
    public var evaluation: StageEvaluation

    /// - Parameters:
    ///   - labels: the label of every image of `testSet` (its original class mapped through the
    ///     run's class order); images of classes not yet seen are left out.
    ///   - taskSizes: classes introduced by each stage up to this one.
    ///   - classMeans: the NME class means of the classes seen.
    /// - Throws: `AccuracyError` when no test image belongs to a class seen, `DatasetError` when
    ///   an image file of the test set does not decode.
    public init(network: MEMONetwork, testSet: ImageSet, labels: [Int], taskSizes: [Int], classMeans: [[Float]],
                mean: [Float], std: [Float]) throws {
        let total = taskSizes.reduce(0, +), known = total - (taskSizes.last ?? 0)
        indices = labels.indices.filter { labels[$0] < total }
        self.labels = indices.map { labels[$0] }
        let out = network.infer(testSet, indices: indices, mean: mean, std: std)
        try testSet.checkReadable()
        let k = min(5, total)
        cnnTopK = out.cnnTopK(k)
        nmeTopK = out.nmeTopK(k, classMeans: classMeans)
        evaluation = StageEvaluation(
            cnn: try HeadEvaluation(predictions: cnnTopK, labels: self.labels, taskSizes: taskSizes, knownClasses: known),
            nme: try HeadEvaluation(predictions: nmeTopK, labels: self.labels, taskSizes: taskSizes, knownClasses: known))
    }
}
