import Foundation

// Two charts drawn into a `Raster`: a line chart (accuracy curves over stages: top-1 and one
// curve per task) and a heatmap (confusion matrix, white to dark blue, task borders as lines).
// Layout is fixed and simple; the goal is a readable picture with no plotting library.

/// A line chart of several series over the same x positions, with axes, y ticks and grid,
/// x labels, a title and a legend on the right.
///
/// - Parameters:
///   - series: name, one value per x label (`nil` leaves a gap: e.g. a task before it exists),
///     and colour. Values outside `yRange` are clamped to it.
///   - xLabels: one label per x position (e.g. stage numbers); crowded labels are thinned.
///   - title: drawn centred above the plot.
///   - yRange: the vertical extent (e.g. `0...100` for accuracies in percent).
///   - width, height: raster size in pixels.
public func lineChart(
    series: [(name: String, values: [Double?], color: RasterColor)],
    xLabels: [String], title: String, yRange: ClosedRange<Double>,
    width: Int = 720, height: Int = 440
) -> Raster {
    var raster = Raster(width: width, height: height)
    let legendWidth = min(width / 3, (series.map { Raster.textWidth($0.name) }.max() ?? 0) + 34)
    let left = 56, top = 38
    let right = width - 12 - legendWidth, bottom = height - 40
    guard right > left + 10, bottom > top + 10 else { return raster }

    raster.drawText(title, x: (width - Raster.textWidth(title, scale: 2)) / 2, y: 10, .black, scale: 2)

    let span = yRange.upperBound - yRange.lowerBound
    func yPixel(_ value: Double) -> Int {
        guard span > 0 else { return (top + bottom) / 2 }
        let t = (min(yRange.upperBound, max(yRange.lowerBound, value)) - yRange.lowerBound) / span
        return bottom - Int((t * Double(bottom - top)).rounded())
    }
    let count = max(xLabels.count, series.map(\.values.count).max() ?? 0)
    let inset = 12
    func xPixel(_ i: Int) -> Int {
        count <= 1 ? (left + right) / 2
            : left + inset + Int((Double(i) * Double(right - left - 2 * inset) / Double(count - 1)).rounded())
    }

    // Grid and y ticks.
    for tick in niceTicks(yRange) {
        let y = yPixel(tick)
        raster.fillRect(x: left + 1, y: y, width: right - left, height: 1, .lightGray)
        raster.fillRect(x: left - 4, y: y, width: 4, height: 1, .black)
        let label = tickLabel(tick, step: niceStep(yRange))
        raster.drawText(label, x: left - 7 - Raster.textWidth(label), y: y - 3, .black)
    }
    // Axes.
    raster.fillRect(x: left, y: top, width: 1, height: bottom - top + 1, .black)
    raster.fillRect(x: left, y: bottom, width: right - left + 1, height: 1, .black)

    // X ticks and labels, thinned so they do not overlap.
    let widest = (xLabels.map { Raster.textWidth($0) }.max() ?? 0) + 6
    let room = count > 1 ? Double(right - left - 2 * inset) / Double(count - 1) : Double(right - left)
    let every = max(1, Int((Double(widest) / room).rounded(.up)))
    for (i, label) in xLabels.enumerated() {
        let x = xPixel(i)
        raster.fillRect(x: x, y: bottom + 1, width: 1, height: 4, .black)
        if i % every == 0 {
            raster.drawText(label, x: x - Raster.textWidth(label) / 2, y: bottom + 8, .black)
        }
    }

    // Series: segments between consecutive present values, then markers.
    for entry in series {
        var previous: (x: Int, y: Int)?
        for (i, value) in entry.values.enumerated() {
            guard let value, value.isFinite else { previous = nil; continue }
            let point = (x: xPixel(i), y: yPixel(value))
            if let p = previous {
                raster.drawLine(x0: p.x, y0: p.y, x1: point.x, y1: point.y, entry.color, thickness: 2)
            }
            raster.fillRect(x: point.x - 2, y: point.y - 2, width: 5, height: 5, entry.color)
            previous = point
        }
    }

    // Legend.
    var legendY = top
    for entry in series {
        raster.fillRect(x: right + 14, y: legendY, width: 10, height: 7, entry.color)
        raster.drawText(entry.name, x: right + 30, y: legendY, .black)
        legendY += 12
    }
    return raster
}

/// A heatmap of a matrix with values in 0...1 (a row-normalised confusion matrix: rows = true
/// class, columns = predicted class), white at 0 to ``RasterColor/darkBlue`` at 1, with a colour
/// bar on the right.
///
/// - Parameters:
///   - matrix: rows of values; missing entries of ragged rows count as 0, NaN shows light gray,
///     values are clamped to 0...1.
///   - taskBoundaries: indices where a new task's classes start (e.g. `[10, 20, ...]`), drawn as
///     red horizontal and vertical lines between cells and labelled on the axes.
///   - title: drawn centred above the map.
///   - cellSize: pixels per cell; by default the map is about 480 pixels across (at most 24 per
///     cell, at least 1).
public func heatmap(matrix: [[Double]], taskBoundaries: [Int], title: String, cellSize: Int? = nil) -> Raster {
    let rows = max(1, matrix.count)
    let columns = max(1, matrix.map(\.count).max() ?? 1)
    let cell = max(1, cellSize ?? min(24, 480 / max(rows, columns)))
    let left = 48, top = 40, colorBarGap = 16, colorBarWidth = 12
    let mapWidth = columns * cell, mapHeight = rows * cell
    let width = left + mapWidth + colorBarGap + colorBarWidth + 40
    let height = max(top + mapHeight + 44, 120)
    var raster = Raster(width: width, height: height)

    raster.drawText(title, x: max(2, (width - Raster.textWidth(title, scale: 2)) / 2), y: 10, .black, scale: 2)

    for r in 0..<rows {
        for c in 0..<columns {
            let value = r < matrix.count && c < matrix[r].count ? matrix[r][c] : 0
            let color = value.isNaN ? .lightGray : RasterColor.mix(.white, .darkBlue, value)
            raster.fillRect(x: left + c * cell, y: top + r * cell, width: cell, height: cell, color)
        }
    }
    raster.strokeRect(x: left - 1, y: top - 1, width: mapWidth + 2, height: mapHeight + 2, .black)

    // Task borders and their labels (plus 0 and the size at the ends).
    for boundary in taskBoundaries where boundary > 0 {
        if boundary < rows { raster.fillRect(x: left, y: top + boundary * cell, width: mapWidth, height: 1, .red) }
        if boundary < columns { raster.fillRect(x: left + boundary * cell, y: top, width: 1, height: mapHeight, .red) }
    }
    let inner = taskBoundaries.filter { $0 > 0 }.sorted()
    var lastLabelEnd = Int.min
    for tick in [0] + inner.filter({ $0 < columns }) + [columns] {
        let label = "\(tick)", x = left + tick * cell - Raster.textWidth(label) / 2
        if x > lastLabelEnd + 3 {
            raster.drawText(label, x: x, y: top + mapHeight + 5, .black)
            lastLabelEnd = x + Raster.textWidth(label)
        }
    }
    var lastLabelBottom = Int.min
    for tick in [0] + inner.filter({ $0 < rows }) + [rows] {
        let label = "\(tick)", y = top + tick * cell - 3
        if y > lastLabelBottom + 2 {
            raster.drawText(label, x: left - 5 - Raster.textWidth(label), y: y, .black)
            lastLabelBottom = y + Raster.glyphHeight
        }
    }
    let xTitle = "predicted class"
    raster.drawText(xTitle, x: left + (mapWidth - Raster.textWidth(xTitle)) / 2, y: top + mapHeight + 20, .black)
    let yTitle = "true class"
    raster.drawTextVertical(yTitle, x: 4, y: top + max(0, (mapHeight - Raster.textWidth(yTitle)) / 2), .black)

    // Colour bar: 1 at the top, 0 at the bottom.
    let barX = left + mapWidth + colorBarGap
    for y in 0..<mapHeight {
        let t = mapHeight == 1 ? 1 : 1 - Double(y) / Double(mapHeight - 1)
        raster.fillRect(x: barX, y: top + y, width: colorBarWidth, height: 1, .mix(.white, .darkBlue, t))
    }
    raster.strokeRect(x: barX - 1, y: top - 1, width: colorBarWidth + 2, height: mapHeight + 2, .black)
    raster.drawText("1", x: barX + colorBarWidth + 4, y: top, .black)
    raster.drawText("0", x: barX + colorBarWidth + 4, y: top + mapHeight - Raster.glyphHeight, .black)
    return raster
}

/// Step between y ticks: 1, 2 or 5 times a power of ten, about five ticks over the range.
func niceStep(_ range: ClosedRange<Double>) -> Double {
    let span = range.upperBound - range.lowerBound
    guard span > 0, span.isFinite else { return 1 }
    let rough = span / 5
    let magnitude = pow(10, (log10(rough)).rounded(.down))
    let normalized = rough / magnitude
    let factor: Double = normalized < 1.5 ? 1 : normalized < 3 ? 2 : normalized < 7 ? 5 : 10
    return factor * magnitude
}

/// Tick values within the range at multiples of ``niceStep(_:)``.
func niceTicks(_ range: ClosedRange<Double>) -> [Double] {
    let step = niceStep(range)
    guard range.upperBound > range.lowerBound else { return [range.lowerBound] }
    var ticks: [Double] = []
    var k = (range.lowerBound / step).rounded(.up)
    while k * step <= range.upperBound + step * 1e-9 {
        ticks.append(k * step)
        k += 1
    }
    return ticks
}

/// A tick label with as many decimals as the step needs.
func tickLabel(_ value: Double, step: Double) -> String {
    let decimals = step >= 1 ? 0 : Int((-log10(step)).rounded(.up))
    return String(format: "%.\(decimals)f", value)
}
