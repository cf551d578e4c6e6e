import Foundation

// A heatmap of a matrix with labelled rows and columns (class names, or stages and tasks),
// group borders (where a new task's classes start), a colour bar with ticks and a title saying
// what the colour measures, and optionally the value written in each cell. Missing cells
// (`nil`) stay blank, which draws a lower-triangular accuracy matrix.

/// What the colour of a heatmap measures and over which range.
public struct ColourScale: Sendable {
    /// The values at the light and dark ends; values outside are clamped.
    public var range: ClosedRange<Double>
    /// Beside the colour bar, with the unit ("fraction of the class's test images").
    public var title: String

    public init(range: ClosedRange<Double>, title: String) {
        self.range = range
        self.title = title
    }

    /// The fill of `value`.
    public func color(_ value: Double) -> PlotColor {
        let span = range.upperBound - range.lowerBound
        return PlotColor.blues(span > 0 ? (value - range.lowerBound) / span : 1)
    }
}

/// A heatmap as SVG.
///
/// - Parameters:
///   - matrix: rows of values; `nil` (or a missing entry of a short row) leaves the cell blank.
///   - rowLabels, columnLabels: one per row and column; labels are thinned when cells are
///     smaller than the text, column labels are rotated when wider than a cell, long ones cut.
///   - rowTitle, columnTitle: axis titles.
///   - rowBorders, columnBorders: indices before which a red border line is drawn (a task's
///     first class).
///   - scale: the colour scale and its title.
///   - cellText: the text written in a cell, when the cells are large enough; `nil` for none.
///   - tooltip: hover text of a cell in a browser, for matrices up to 2,500 cells.
///   - cellSize: pixels per cell; by default the map is 240 to 480 pixels across (at least 4 per cell).
public func heatmap(matrix: [[Double?]], rowLabels: [String], columnLabels: [String], rowTitle: String,
                    columnTitle: String, rowBorders: [Int] = [], columnBorders: [Int] = [], scale: ColourScale,
                    cellText: ((Double) -> String)? = nil, tooltip: ((Int, Int, Double) -> String)? = nil,
                    title: String, cellSize: Double? = nil) -> SVGDocument {
    let rows = max(1, matrix.count, rowLabels.count)
    let columns = max(1, matrix.map(\.count).max() ?? 0, columnLabels.count)
    let n = Double(max(rows, columns))
    let cell = cellSize ?? max(4, min(480 / n, max(56, 240 / n)).rounded(.down))
    let font = 11.0, titleSize = 15.0, maxLabel = 150.0

    // Labels shown: every k-th when a cell is smaller than a line of text.
    // Rotated by 45 degrees, neighbouring column labels are `cell * every * sin 45` apart.
    let rowEvery = max(1, Int(((font + 2) / cell).rounded(.up)))
    let rowTexts = rowLabels.map { truncated($0, width: maxLabel, size: font) }
    let columnTexts = columnLabels.map { truncated($0, width: maxLabel, size: font) }
    let rowLabelWidth = rowTexts.map { textWidth($0, size: font) }.max() ?? 0
    let columnLabelWidth = columnTexts.map { textWidth($0, size: font) }.max() ?? 0
    let rotateColumns = columnLabelWidth > cell * Double(rowEvery) - 4
    let columnEvery = rotateColumns ? max(1, Int(((font + 4) / (cell * 0.7071)).rounded(.up))) : rowEvery
    let columnLabelDepth = rotateColumns ? columnLabelWidth * 0.71 + font * 0.71 : font

    let left = 24 + 8 + rowLabelWidth + 8
    let top = 44.0
    let mapWidth = Double(columns) * cell, mapHeight = Double(rows) * cell
    let barGap = 18.0, barWidth = 14.0
    let scaleStep = niceStep(scale.range, count: 4)
    let scaleTicks = niceTicks(scale.range, count: 4)
    let scaleLabelWidth = scaleTicks.map { textWidth(tickLabel($0, step: scaleStep), size: font) }.max() ?? 0
    let barX = left + mapWidth + barGap
    let width = max(barX + barWidth + 6 + scaleLabelWidth + 12 + 18 + 8, textWidth(title, size: titleSize) * boldWidthFactor + 20)
    let height = top + mapHeight + 8 + columnLabelDepth + 12 + 18 + 10
    var doc = SVGDocument(width: width.rounded(.up), height: height.rounded(.up), title: title)

    drawTitle(title, in: &doc, size: titleSize)

    // Cells: the whole map in the scale's low colour, then every other present cell.
    let low = scale.color(scale.range.lowerBound)
    let complete = matrix.count == rows && matrix.allSatisfy { $0.count == columns && !$0.contains(where: { $0 == nil }) }
    if complete { doc.rect(x: left, y: top, width: mapWidth, height: mapHeight, fill: low) }
    let withTooltips = tooltip != nil && rows * columns <= 2500
    for r in 0..<rows {
        for c in 0..<columns {
            guard r < matrix.count, c < matrix[r].count, let v = matrix[r][c] else { continue }
            let fill = v.isNaN ? PlotColor.grid : scale.color(v)
            let x = left + Double(c) * cell, y = top + Double(r) * cell
            if !(complete && fill == low && !withTooltips) {
                doc.rect(x: x, y: y, width: cell, height: cell, fill: fill,
                         tooltip: withTooltips ? tooltip?(r, c, v) : nil)
            }
            if let cellText, !v.isNaN {
                let text = cellText(v)
                let size = min(12, cell * 0.34)
                if size >= 7, textWidth(text, size: size) <= cell - 4 {
                    doc.text(text, x: x + cell / 2, y: y + cell / 2, size: size, anchor: .middle,
                             color: fill.luminance < 0.5 ? .white : .text, centred: true)
                }
            }
        }
    }
    doc.rect(x: left, y: top, width: mapWidth, height: mapHeight, fill: nil, stroke: .text)

    // Group borders.
    for b in rowBorders where b > 0 && b < rows {
        let y = top + Double(b) * cell
        doc.line(x1: left, y1: y, x2: left + mapWidth, y2: y, stroke: .red, width: 1.5)
    }
    for b in columnBorders where b > 0 && b < columns {
        let x = left + Double(b) * cell
        doc.line(x1: x, y1: top, x2: x, y2: top + mapHeight, stroke: .red, width: 1.5)
    }

    // Row and column labels, then the axis titles.
    for (r, text) in rowTexts.enumerated() where r % rowEvery == 0 {
        doc.text(text, x: left - 6, y: top + (Double(r) + 0.5) * cell, size: font, anchor: .end, centred: true)
    }
    for (c, text) in columnTexts.enumerated() where c % columnEvery == 0 {
        let x = left + (Double(c) + 0.5) * cell
        if rotateColumns {
            doc.text(text, x: x + font * 0.3, y: top + mapHeight + 8, size: font, anchor: .end, rotate: -45)
        } else {
            doc.text(text, x: x, y: top + mapHeight + 8 + font, size: font, anchor: .middle)
        }
    }
    let columnTitleY = top + mapHeight + 8 + columnLabelDepth + 12 + 12
    doc.text(columnTitle, x: left + mapWidth / 2, y: columnTitleY, size: font + 1, anchor: .middle)
    doc.text(rowTitle, x: 16, y: top + mapHeight / 2, size: font + 1, anchor: .middle, rotate: -90, centred: true)

    // Colour bar: the high end at the top, ticks and their values, the scale's title.
    let steps = 64
    let span = scale.range.upperBound - scale.range.lowerBound
    for i in 0..<steps {
        let t = 1 - (Double(i) + 0.5) / Double(steps)
        doc.rect(x: barX, y: top + Double(i) * mapHeight / Double(steps), width: barWidth,
                 height: mapHeight / Double(steps) + 0.6, fill: scale.color(scale.range.lowerBound + t * span))
    }
    doc.rect(x: barX, y: top, width: barWidth, height: mapHeight, fill: nil, stroke: .text)
    for tick in scaleTicks {
        let y = top + mapHeight - (span > 0 ? (tick - scale.range.lowerBound) / span : 1) * mapHeight
        doc.line(x1: barX + barWidth, y1: y, x2: barX + barWidth + 4, y2: y, stroke: .text)
        doc.text(tickLabel(tick, step: scaleStep), x: barX + barWidth + 6, y: y, size: font, centred: true)
    }
    doc.text(scale.title, x: barX + barWidth + 6 + scaleLabelWidth + 14, y: top + mapHeight / 2, size: font,
             anchor: .middle, rotate: -90, centred: true)
    return doc
}
