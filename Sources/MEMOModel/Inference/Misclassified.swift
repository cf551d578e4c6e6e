// Which misclassified test images a checkpoint keeps as examples for the run report: a few, spread
// over the true classes (each class's first mistakes in test order, taken round-robin in label
// order), so one confused class does not fill the set.

public enum Misclassified {
    /// How many examples a checkpoint keeps.
    public static let limit = 16

    /// Positions (into `labels`) of up to `limit` samples whose top-1 prediction is wrong, taken
    /// round-robin over the true labels in ascending order, each label's in test order.
    public static func choose(labels: [Int], predicted: [Int], limit: Int = Misclassified.limit) -> [Int] {
        var byLabel: [Int: [Int]] = [:]
        for (i, (y, p)) in zip(labels, predicted).enumerated() where y != p { byLabel[y, default: []].append(i) }
        let queues = byLabel.keys.sorted().map { byLabel[$0]! }
        var out: [Int] = []
        var round = 0
        while out.count < limit {
            var took = false
            for q in queues where round < q.count && out.count < limit {
                out.append(q[round])
                took = true
            }
            if !took { break }
            round += 1
        }
        return out
    }
}
