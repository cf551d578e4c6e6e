import Foundation

// A stacked bar chart: one bar per category (stage) made of named segments (generalized blocks,
// specialized blocks, classifiers, exemplars), with optional reference levels drawn as dashed
// lines (a memory budget). Title, axis titles with units, and the legend in its own column.

/// One stacked part of every bar.
public struct BarSegment: Sendable {
    public var name: String
    /// One value per category.
    public var values: [Double]
    public var color: PlotColor

    public init(name: String, values: [Double], color: PlotColor) {
        self.name = name
        self.values = values
        self.color = color
    }
}

/// A stacked bar chart as SVG.
///
/// - Parameters:
///   - categories: one label per bar.
///   - segments: the stacked parts, bottom first; negative values count as 0.
///   - references: horizontal dashed lines (name and level), listed in the legend.
///   - title, xTitle, yTitle: the chart's and the axes' titles (with units).
///   - width, height: canvas size in pixels.
public func stackedBarChart(categories: [String], segments: [BarSegment],
                            references: [(name: String, value: Double)] = [], title: String,
                            xTitle: String, yTitle: String, width: Double = 720, height: Double = 400) -> SVGDocument {
    var doc = SVGDocument(width: width, height: height, title: title)
    let font = 12.0
    let totals = categories.indices.map { i in segments.reduce(0.0) { $0 + max(0, i < $1.values.count ? $1.values[i] : 0) } }
    let top = 40.0, bottom = height - 52
    let legend = segments.map(\.name) + references.map(\.name)
    let legendWidth = min(width / 3, (legend.map { textWidth($0, size: font) }.max() ?? 0) + 40)
    let yMax = niceUpperBound(max(totals.max() ?? 0, references.map(\.value).max() ?? 0) * 1.04)
    let range = 0...yMax
    let step = niceStep(range)
    let labelWidth = niceTicks(range).map { textWidth(tickLabel($0, step: step), size: font) }.max() ?? 0
    let left = 30 + labelWidth + 10
    let right = width - 14 - legendWidth

    drawTitle(title, in: &doc)
    guard right > left + 40, bottom > top + 40 else { return doc }
    func yPixel(_ v: Double) -> Double { bottom - min(1, max(0, v / yMax)) * (bottom - top) }

    for tick in niceTicks(range) {
        let y = yPixel(tick)
        doc.line(x1: left, y1: y, x2: right, y2: y, stroke: .grid)
        doc.line(x1: left - 5, y1: y, x2: left, y2: y, stroke: .text)
        doc.text(tickLabel(tick, step: step), x: left - 8, y: y, size: font, anchor: .end, centred: true)
    }

    let slot = (right - left) / Double(max(1, categories.count))
    let barWidth = min(60, slot * 0.7)
    let every = max(1, Int(((categories.map { textWidth($0, size: font) }.max() ?? 0) + 8) / slot + 0.999))
    for (i, label) in categories.enumerated() {
        let x = left + (Double(i) + 0.5) * slot
        var base = 0.0
        for s in segments {
            let v = max(0, i < s.values.count ? s.values[i] : 0)
            guard v > 0 else { continue }
            doc.rect(x: x - barWidth / 2, y: yPixel(base + v), width: barWidth, height: yPixel(base) - yPixel(base + v),
                     fill: s.color, tooltip: "\(xTitle) \(label), \(s.name): \(tickLabel(v, step: 0.01))")
            base += v
        }
        if i % every == 0 { doc.text(label, x: x, y: bottom + 19, size: font, anchor: .middle) }
    }
    for (k, r) in references.enumerated() {
        let y = yPixel(r.value)
        doc.line(x1: left, y1: y, x2: right, y2: y, stroke: k == 0 ? .red : .text, width: 1.8, dash: "7 4")
    }
    doc.line(x1: left, y1: top, x2: left, y2: bottom, stroke: .text)
    doc.line(x1: left, y1: bottom, x2: right, y2: bottom, stroke: .text)
    doc.text(xTitle, x: (left + right) / 2, y: bottom + 42, size: font + 1, anchor: .middle)
    doc.text(yTitle, x: 16, y: (top + bottom) / 2, size: font + 1, anchor: .middle, rotate: -90, centred: true)

    // Legend: segments top-down in stacking order (the top segment first), then the references.
    var y = top + 6
    for s in segments.reversed() {
        doc.rect(x: right + 14, y: y - 6, width: 14, height: 12, fill: s.color)
        doc.text(truncated(s.name, width: legendWidth - 30, size: font), x: right + 34, y: y, size: font, centred: true)
        y += 18
    }
    for (k, r) in references.enumerated() {
        doc.line(x1: right + 12, y1: y, x2: right + 30, y2: y, stroke: k == 0 ? .red : .text, width: 1.8, dash: "5 3")
        doc.text(truncated(r.name, width: legendWidth - 30, size: font), x: right + 34, y: y, size: font, centred: true)
        y += 18
    }
    return doc
}
