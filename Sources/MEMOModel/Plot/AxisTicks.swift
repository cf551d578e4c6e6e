import Foundation

// Tick positions and labels for a numeric axis: steps of 1, 2 or 5 times a power of ten.

/// Step between ticks: 1, 2 or 5 times a power of ten, about `count` ticks over the range.
func niceStep(_ range: ClosedRange<Double>, count: Int = 5) -> Double {
    let span = range.upperBound - range.lowerBound
    guard span > 0, span.isFinite else { return 1 }
    let rough = span / Double(max(1, count))
    let magnitude = pow(10, (log10(rough)).rounded(.down))
    let normalized = rough / magnitude
    let factor: Double = normalized < 1.5 ? 1 : normalized < 3 ? 2 : normalized < 7 ? 5 : 10
    return factor * magnitude
}

/// Tick values within the range at multiples of ``niceStep(_:count:)``.
func niceTicks(_ range: ClosedRange<Double>, count: Int = 5) -> [Double] {
    let step = niceStep(range, count: count)
    guard range.upperBound > range.lowerBound else { return [range.lowerBound] }
    var ticks: [Double] = []
    var k = (range.lowerBound / step - 1e-9).rounded(.up)
    while k * step <= range.upperBound + step * 1e-9 {
        ticks.append(k * step)
        k += 1
    }
    return ticks
}

/// A tick label with as many decimals as the step needs.
func tickLabel(_ value: Double, step: Double) -> String {
    let decimals = step >= 1 ? 0 : Int((-log10(step)).rounded(.up))
    let text = String(format: "%.\(decimals)f", abs(value) < step * 1e-6 ? 0 : value)
    return text.hasPrefix("-") && Double(text) == 0 ? String(text.dropFirst()) : text
}

/// An axis range from 0 to a nice value at or above `maximum` (at least `minimum`).
func niceUpperBound(_ maximum: Double, minimum: Double = 1) -> Double {
    let top = max(maximum, minimum)
    let step = niceStep(0...top)
    return (top / step).rounded(.up) * step
}
