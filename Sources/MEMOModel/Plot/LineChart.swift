import Foundation

// A line chart of several series over the same categorical x positions (stages), with a title,
// axis titles, y ticks and grid, and a legend in its own column right of the plot or in rows below
// it, so it never covers data.

/// One curve of a line chart.
public struct ChartSeries: Sendable {
    public var name: String
    /// One value per x position; `nil` leaves a gap (e.g. a task before it exists).
    public var values: [Double?]
    public var color: PlotColor
    /// Drawn dashed (e.g. the NME head beside the CNN's solid line).
    public var dashed: Bool

    public init(name: String, values: [Double?], color: PlotColor, dashed: Bool = false) {
        self.name = name
        self.values = values
        self.color = color
        self.dashed = dashed
    }
}

/// A line chart as SVG.
///
/// - Parameters:
///   - series: the curves; values outside `yRange` are clamped to it.
///   - xLabels: one label per x position; crowded labels are thinned.
///   - title: drawn above the plot.
///   - xTitle, yTitle: axis titles with units ("stage", "top-1 accuracy (%)").
///   - yRange: the vertical extent; `nil` for 0 to a round number above the largest value.
///   - width, height: canvas size in pixels.
///   - legend: right of the plot (a column), or below it (rows; for narrow charts).
public func lineChart(series: [ChartSeries], xLabels: [String], title: String, xTitle: String, yTitle: String,
                      yRange: ClosedRange<Double>? = nil, width: Double = 720, height: Double = 440,
                      legend: LegendPlacement = .right) -> SVGDocument {
    var doc = SVGDocument(width: width, height: height, title: title)
    let maxValue = series.flatMap(\.values).compactMap { $0 }.filter(\.isFinite).max() ?? 1
    let range = yRange ?? 0...niceUpperBound(maxValue)
    let font = 12.0, titleSize = 15.0

    // Legend: a column of swatches right of the plot (more columns when the entries do not
    // fit), or rows of them below the x axis title. Either way it stays off the data.
    let left = 66.0, top = 40.0, rowHeight = 17.0
    var bottom = height - 52, right = width - 14
    var legendSlots: [(x: Double, y: Double, width: Double)] = []
    switch legend {
    case .right:
        let rowsPerColumn = max(1, Int((bottom - top) / rowHeight))
        let columns = series.isEmpty ? 0 : (series.count + rowsPerColumn - 1) / rowsPerColumn
        let entryWidth = min(width / 3, (series.map { textWidth($0.name, size: font) }.max() ?? 0) + 34)
        right = width - 14 - Double(columns) * entryWidth
        legendSlots = series.indices.map { i in
            (right + 14 + Double(i / rowsPerColumn) * entryWidth, top + 6 + Double(i % rowsPerColumn) * rowHeight, entryWidth)
        }
    case .below:
        var x = left, row = 0
        var placed: [(x: Double, row: Int, width: Double)] = []
        for s in series {
            let entryWidth = min(right - left, textWidth(s.name, size: font) + 40)
            if x + entryWidth > right && x > left { x = left; row += 1 }
            placed.append((x, row, entryWidth))
            x += entryWidth
        }
        let rows = series.isEmpty ? 0 : row + 1
        bottom = height - 52 - Double(rows) * rowHeight - 4
        legendSlots = placed.map { ($0.x, bottom + 52 + 8 + Double($0.row) * rowHeight, $0.width) }
    }

    drawTitle(title, in: &doc, size: titleSize)
    guard right > left + 40, bottom > top + 40 else { return doc }

    let span = range.upperBound - range.lowerBound
    func yPixel(_ v: Double) -> Double {
        guard span > 0 else { return (top + bottom) / 2 }
        let t = (min(range.upperBound, max(range.lowerBound, v)) - range.lowerBound) / span
        return bottom - t * (bottom - top)
    }
    let count = max(xLabels.count, series.map(\.values.count).max() ?? 0)
    let inset = 14.0
    func xPixel(_ i: Int) -> Double {
        count <= 1 ? (left + right) / 2 : left + inset + Double(i) * (right - left - 2 * inset) / Double(count - 1)
    }

    // Grid, y ticks and labels.
    let step = niceStep(range)
    for tick in niceTicks(range) {
        let y = yPixel(tick)
        doc.line(x1: left, y1: y, x2: right, y2: y, stroke: .grid)
        doc.line(x1: left - 5, y1: y, x2: left, y2: y, stroke: .text)
        doc.text(tickLabel(tick, step: step), x: left - 8, y: y, size: font, anchor: .end, centred: true)
    }
    doc.line(x1: left, y1: top, x2: left, y2: bottom, stroke: .text)
    doc.line(x1: left, y1: bottom, x2: right, y2: bottom, stroke: .text)

    // X ticks and labels, thinned so they do not overlap.
    let widest = (xLabels.map { textWidth($0, size: font) }.max() ?? 0) + 8
    let room = count > 1 ? (right - left - 2 * inset) / Double(count - 1) : right - left
    let every = max(1, Int((widest / room).rounded(.up)))
    for (i, label) in xLabels.enumerated() {
        let x = xPixel(i)
        doc.line(x1: x, y1: bottom, x2: x, y2: bottom + 5, stroke: .text)
        if i % every == 0 { doc.text(label, x: x, y: bottom + 19, size: font, anchor: .middle) }
    }
    doc.text(xTitle, x: (left + right) / 2, y: bottom + 42, size: font + 1, anchor: .middle)
    doc.text(yTitle, x: 18, y: (top + bottom) / 2, size: font + 1, anchor: .middle, rotate: -90, centred: true)

    // Series: one polyline per run of present values, then markers on top (unless there are so
    // many points that markers would hide the line).
    let markers = count <= 80
    for s in series {
        var run: [(x: Double, y: Double)] = []
        func flush() {
            doc.polyline(run, stroke: s.color, width: 2, dash: s.dashed ? "6 4" : nil)
            run = []
        }
        for (i, v) in s.values.enumerated() {
            guard let v, v.isFinite else { flush(); continue }
            run.append((xPixel(i), yPixel(v)))
        }
        flush()
        for (i, v) in s.values.enumerated() where markers {
            guard let v, v.isFinite else { continue }
            let label = i < xLabels.count ? xLabels[i] : "\(i)"
            doc.circle(cx: xPixel(i), cy: yPixel(v), r: 3.2, fill: s.color,
                       tooltip: "\(s.name), \(xTitle) \(label): \(tickLabel(v, step: 0.01))")
        }
    }

    // Legend entries.
    for (s, slot) in zip(series, legendSlots) {
        doc.line(x1: slot.x, y1: slot.y, x2: slot.x + 18, y2: slot.y, stroke: s.color, width: 3, dash: s.dashed ? "5 3" : nil)
        doc.text(truncated(s.name, width: slot.width - 28, size: font), x: slot.x + 24, y: slot.y, size: font, centred: true)
    }
    return doc
}

/// Where a chart's legend goes.
public enum LegendPlacement: Sendable {
    /// A column right of the plot.
    case right
    /// Rows under the x axis title, for narrow charts.
    case below
}
