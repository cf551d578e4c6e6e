/// Why a class-incremental split is not possible; one line each.
public enum SplitError: Error, CustomStringConvertible, Equatable {
    case initialNotPositive(Int)
    case incrementNotPositive(Int)
    case initialExceedsClasses(initial: Int, classCount: Int)
    case invalidOrder(String)

    public var description: String {
        switch self {
        case let .initialNotPositive(n): return "initial classes (-init) must be positive, got \(n)"
        case let .incrementNotPositive(n): return "classes per stage (-incre) must be positive, got \(n)"
        case let .initialExceedsClasses(i, c): return "initial classes \(i) exceed the dataset's \(c) classes"
        case let .invalidOrder(problem): return "class order: \(problem)"
        }
    }
}

/// Classes in stages: stage 0 takes the first `initial` classes of `order`, every later stage
/// `increment` more, and a last smaller stage takes the remainder (PyCIL's `DataManager`):
/// 100 classes, 50 + 10 -> [50, 10, 10, 10, 10, 10]; 10 classes, 2 + 3 -> [2, 3, 3, 2].
///
/// Labels: original class `order[i]` becomes label `i`, so stage t's classes are the label range
/// `classRange(task: t)`.
public struct ClassIncrementalSplit: Sendable, Equatable {
    public let order: [Int]
    public let initial: Int
    public let increment: Int
    /// Classes introduced by each stage.
    public let taskSizes: [Int]
    /// `inverse[original] = label`.
    private let inverse: [Int]

    public init(order: [Int], initial: Int, increment: Int) throws {
        guard initial > 0 else { throw SplitError.initialNotPositive(initial) }
        guard increment > 0 else { throw SplitError.incrementNotPositive(increment) }
        let classCount = order.count
        guard initial <= classCount else { throw SplitError.initialExceedsClasses(initial: initial, classCount: classCount) }
        var inverse = [Int](repeating: -1, count: classCount)
        for (label, original) in order.enumerated() {
            guard original >= 0, original < classCount, inverse[original] < 0 else {
                throw SplitError.invalidOrder("\(order.count) entries are not a permutation of 0..<\(classCount)")
            }
            inverse[original] = label
        }
        var sizes = [initial]
        var covered = initial
        while covered + increment < classCount {
            sizes.append(increment)
            covered += increment
        }
        if covered < classCount { sizes.append(classCount - covered) }
        self.order = order
        self.initial = initial
        self.increment = increment
        self.taskSizes = sizes
        self.inverse = inverse
    }

    public var taskCount: Int { taskSizes.count }
    public var classCount: Int { order.count }

    /// The labels stage `task` introduces.
    public func classRange(task: Int) -> Range<Int> {
        precondition(task >= 0 && task < taskSizes.count, "stage \(task) of \(taskSizes.count)")
        return ClassIncrementalSplit.classRanges(taskSizes: taskSizes)[task]
    }

    /// The label ranges of consecutive tasks of the given sizes (a split's first stages, as a
    /// checkpoint records them).
    public static func classRanges(taskSizes: [Int]) -> [Range<Int>] {
        var start = 0
        return taskSizes.map { size in
            defer { start += size }
            return start..<(start + size)
        }
    }

    /// "0-4", or "9" for a single class: how reports name a range of labels.
    public static func text(_ range: Range<Int>) -> String {
        range.count == 1 ? "\(range.lowerBound)" : "\(range.lowerBound)-\(range.upperBound - 1)"
    }

    /// The label (position in `order`) of an original class id.
    public func newLabel(original: Int) -> Int {
        precondition(original >= 0 && original < inverse.count, "class \(original) of \(inverse.count)")
        return inverse[original]
    }

    /// The original class id of a label.
    public func originalClass(label: Int) -> Int { order[label] }

    /// The stage that introduces `label`.
    public func task(ofLabel label: Int) -> Int {
        precondition(label >= 0 && label < classCount, "label \(label) of \(classCount)")
        var end = 0
        for (t, size) in taskSizes.enumerated() {
            end += size
            if label < end { return t }
        }
        return taskSizes.count - 1
    }
}
