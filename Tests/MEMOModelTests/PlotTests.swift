import Foundation
import Testing
@testable import MEMOModel

/// The SVG charts and their PNG rendering by librsvg: the SVG says what is where (markers and
/// cells carry tooltips naming their data), the rendered pixels there have the data's colour,
/// text is drawn where the titles are, and the PNG has the document's size times the scale.
@Suite struct PlotTests {
    /// The numeric attributes of the first element whose `<title>` starts with `tooltip`.
    static func attributes(of tooltip: String, in svg: String) -> [String: Double]? {
        for line in svg.split(separator: "\n") where line.contains("<title>" + SVGDocument.escape(tooltip)) {
            var out: [String: Double] = [:]
            let regex = try! NSRegularExpression(pattern: "([a-z]+)=\"([-0-9.]+)\"")
            let text = String(line)
            for m in regex.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                let name = String(text[Range(m.range(at: 1), in: text)!])
                out[name] = Double(text[Range(m.range(at: 2), in: text)!])
            }
            return out
        }
        return nil
    }

    static func color(_ image: RGBImage, _ x: Double, _ y: Double) -> PlotColor {
        let p = image.pixel(x: Int(x), y: Int(y))
        return PlotColor(p.0, p.1, p.2)
    }

    static func close(_ a: PlotColor, _ b: PlotColor, _ tolerance: Int = 2) -> Bool {
        abs(Int(a.r) - Int(b.r)) <= tolerance && abs(Int(a.g) - Int(b.g)) <= tolerance && abs(Int(a.b) - Int(b.b)) <= tolerance
    }

    /// Whether some pixel in the box is dark (text or an axis), i.e. something was drawn there.
    static func hasInk(_ image: RGBImage, x: ClosedRange<Int>, y: ClosedRange<Int>) -> Bool {
        for yy in y { for xx in x where color(image, Double(xx), Double(yy)).luminance < 0.4 { return true } }
        return false
    }

    @Test func ticksAndColours() {
        #expect(niceTicks(0...100) == [0, 20, 40, 60, 80, 100])
        #expect(niceTicks(0...1, count: 4).map { tickLabel($0, step: 0.2) } == ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"])
        #expect(tickLabel(-1e-17, step: 0.2) == "0.0" && tickLabel(0.4, step: 0.2) == "0.4" && tickLabel(40, step: 20) == "40")
        #expect(PlotColor.blues(0) == PlotColor(247, 251, 255) && PlotColor.blues(1) == PlotColor(8, 48, 107))
        #expect(PlotColor.blues(0.5) == PlotColor(107, 174, 214) && PlotColor.blues(.nan) == PlotColor.blues(0))
        #expect(PlotColor.palette(0).hex == "#1f77b4" && PlotColor.palette(10) == PlotColor.palette(0))
        #expect(SVGDocument.number(1.0) == "1" && SVGDocument.number(2.345) == "2.35" && SVGDocument.number(0.5) == "0.5")
        #expect(SVGDocument.escape("a<b & \"c\"\u{1}") == "a&lt;b &amp; &quot;c&quot;?")
        #expect(textWidth("iii", size: 10) < textWidth("MMM", size: 10))
        #expect(truncated(String(repeating: "x", count: 100), width: 60, size: 10).hasSuffix("…"))
    }

    @Test func lineChartPointsAxesAndLegend() throws {
        let chart = lineChart(series: [ChartSeries(name: "top-1", values: [0, 100], color: .palette(0)),
                                       ChartSeries(name: "task 1", values: [nil, 50], color: .palette(1), dashed: true)],
                              xLabels: ["0", "1"], title: "Accuracy", xTitle: "stage", yTitle: "top-1 (%)", yRange: 0...100)
        let svg = chart.svg
        #expect(svg == chart.svg)  // deterministic
        #expect(svg.hasPrefix("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"720\" height=\"440\""))
        for text in [">Accuracy</text>", ">stage</text>", ">top-1 (%)</text>", ">100</text>", ">top-1</text>", ">task 1</text>"] {
            #expect(svg.contains(text), "missing \(text)")
        }
        #expect(svg.contains("stroke-dasharray=\"5 3\""))  // the dashed series in the legend
        let low = try #require(Self.attributes(of: "top-1, stage 0: 0.00", in: svg))
        let high = try #require(Self.attributes(of: "top-1, stage 1: 100.00", in: svg))
        let mid = try #require(Self.attributes(of: "task 1, stage 1: 50.00", in: svg))
        #expect(low["cy"]! > mid["cy"]! && mid["cy"]! > high["cy"]! && abs(mid["cy"]! - (low["cy"]! + high["cy"]!) / 2) < 0.01)
        #expect(Self.attributes(of: "task 1, stage 0", in: svg) == nil)  // nil: no marker

        let image = try chart.rendered(scale: 2)
        #expect(image.width == 1440 && image.height == 880)
        #expect(Self.color(image, 2, 2) == .white)
        #expect(Self.close(Self.color(image, low["cx"]! * 2, low["cy"]! * 2), .palette(0)))
        #expect(Self.close(Self.color(image, high["cx"]! * 2, high["cy"]! * 2), .palette(0)))
        #expect(Self.close(Self.color(image, mid["cx"]! * 2, mid["cy"]! * 2), .palette(1)))
        // The legend sits right of the last point; the title, axis titles and labels are drawn.
        #expect(Self.hasInk(image, x: 600...900, y: 20...60))                                 // title
        #expect(Self.hasInk(image, x: 10...50, y: 300...560))                                // y title
        let legendX = Int(high["cx"]! * 2) + 40
        #expect(Self.hasInk(image, x: legendX...1430, y: 70...110))                          // legend text
        #expect(Self.hasInk(image, x: Int(low["cx"]! * 2) - 20...Int(low["cx"]! * 2) + 20, y: 790...830)) // x label "0"
    }

    @Test func legendBelowTheAxisTitleAndLongTitlesShrunk() throws {
        let names = (0..<7).map { "task \($0) (classes \(2 * $0)-\(2 * $0 + 1))" }
        let chart = lineChart(series: names.enumerated().map { ChartSeries(name: $1, values: [10, 20, Double($0)], color: .palette($0)) },
                              xLabels: ["0", "1", "2"], title: String(repeating: "a long title ", count: 6), xTitle: "stage",
                              yTitle: "top-1 (%)", yRange: 0...100, width: 460, height: 400, legend: .below)
        let svg = chart.svg
        /// (x, y, font size) of the text element holding `text`.
        func place(_ text: String) throws -> (x: Double, y: Double, size: Double) {
            let line = try #require(svg.split(separator: "\n").first { $0.hasSuffix(">\(text)</text>") }, "no \(text)")
            func attribute(_ name: String) -> Double { Double(line.components(separatedBy: "\(name)=\"")[1].prefix { $0 != "\"" })! }
            return (attribute("x"), attribute("y"), attribute("font-size"))
        }
        let axisTitle = try place("stage")
        var rows = Set<Double>()
        for name in names {
            let entry = try place(name)
            #expect(entry.y > axisTitle.y && entry.y < 400, "\(name) below the x axis title, inside the canvas")
            #expect(entry.x + textWidth(name, size: entry.size) <= 460, "\(name) inside the canvas")
            rows.insert(entry.y)
        }
        #expect(rows.count >= 2)  // seven entries do not fit in one row of 460 px
        // Every marker sits above the axis title: the legend took room from the plot, not the data.
        let markers = svg.split(separator: "\n").filter { $0.hasPrefix("<circle") }
        #expect(markers.count == 21)
        #expect(markers.allSatisfy { Double($0.components(separatedBy: "cy=\"")[1].prefix { $0 != "\"" })! < axisTitle.y - 30 })
        // The title is set smaller than 15 px to fit the 460 px canvas.
        let title = try #require(svg.split(separator: "\n").first { $0.contains("font-weight=\"bold\"") })
        let size = Double(title.components(separatedBy: "font-size=\"")[1].prefix { $0 != "\"" })!
        #expect(size < 15 && size >= 10)
    }

    @Test func heatmapCellsBordersLabelsAndScale() throws {
        let names = ["coat", "a very long class name indeed", "bag"]
        let map = heatmap(matrix: [[1, 0, 0], [0.5, 0.5, nil], [0, 0.25, 0.75]], rowLabels: names, columnLabels: names,
                          rowTitle: "true class", columnTitle: "predicted class", rowBorders: [1], columnBorders: [1],
                          scale: ColourScale(range: 0...1, title: "fraction of the row"),
                          cellText: { String(format: "%.2f", $0) }, tooltip: { r, c, _ in "cell \(r) \(c)" },
                          title: "Confusion", cellSize: 40)
        let svg = map.svg
        for text in [">true class</text>", ">predicted class</text>", ">fraction of the row</text>", ">coat</text>",
                     ">0.75</text>", "rotate(-45"] {
            #expect(svg.contains(text), "missing \(text)")
        }
        #expect(Self.attributes(of: "cell 1 2", in: svg) == nil)  // nil cell: blank
        let image = try map.rendered()
        #expect(Double(image.width) == map.width && Double(image.height) == map.height)
        let scale = ColourScale(range: 0...1, title: "")
        for (r, c, v) in [(0, 0, 1.0), (1, 0, 0.5), (2, 2, 0.75), (0, 2, 0.0)] {
            let cell = try #require(Self.attributes(of: "cell \(r) \(c)", in: svg))
            #expect(cell["width"] == 40)
            // A corner of the cell (away from its text) has the scale's colour for its value.
            #expect(Self.close(Self.color(image, cell["x"]! + 4, cell["y"]! + 4), scale.color(v)), "cell \(r) \(c)")
        }
        // The task border runs between columns 0 and 1 and between rows 0 and 1: red there.
        let c01 = try #require(Self.attributes(of: "cell 2 1", in: svg))
        let border = Self.color(image, c01["x"]!, c01["y"]! + 20)
        #expect(border.r > 180 && border.g < 120 && border.b < 120)
        // The colour bar right of the map is dark at the top and light at the bottom.
        let c02 = try #require(Self.attributes(of: "cell 0 2", in: svg))
        let barX = c02["x"]! + 40 + 18 + 7
        #expect(Self.close(Self.color(image, barX, c02["y"]! + 2), PlotColor.blues(1), 12))
        #expect(Self.close(Self.color(image, barX, c02["y"]! + 118), PlotColor.blues(0), 12))
        // The long name is cut with an ellipsis, and the row labels are drawn left of the map.
        #expect(svg.contains("…</text>"))
        #expect(Self.hasInk(image, x: 30...Int(c01["x"]!) - 45, y: Int(c01["y"]!) + 10...Int(c01["y"]!) + 30))
    }

    @Test func manyClassesAreThinnedAndRotated() throws {
        // 100 classes in tasks of 10 (CIFAR-100's B0 Inc10): cells of 4 px, so every 4th row label
        // (16 px apart) and every 6th column label (at 45 degrees 4 * 6 * 0.707 = 17 px apart).
        let names = (0..<100).map { "class number \($0)" }
        let matrix = (0..<100).map { r in (0..<100).map { c -> Double? in r == c ? 0.8 : (c == (r + 1) % 100 ? 0.2 : 0) } }
        let borders = stride(from: 10, to: 100, by: 10).map { $0 }
        let map = heatmap(matrix: matrix, rowLabels: names, columnLabels: names, rowTitle: "true class",
                          columnTitle: "predicted class", rowBorders: borders, columnBorders: borders,
                          scale: ColourScale(range: 0...1, title: "fraction"), title: "Many")
        let svg = map.svg
        #expect(svg.components(separatedBy: ">class number ").count - 1 == 25 + 17)
        #expect(svg.contains(">class number 96</text>") && !svg.contains(">class number 97</text>"))
        #expect(svg.components(separatedBy: "rotate(-45").count - 1 == 17)
        #expect(svg.components(separatedBy: "stroke=\"#d62728\" stroke-width=\"1.5\"").count - 1 == 18)
        // 100 x 100 cells, mostly at the scale's low end: one background rect, the others drawn.
        #expect(svg.components(separatedBy: "<rect ").count - 1 < 100 * 2 + 64 + 10)
        let image = try map.rendered()
        #expect(image.width < 800 && image.height < 800)
    }

    @Test func stackedBarsAndBudgetLine() throws {
        let chart = stackedBarChart(categories: ["0", "1"],
                                    segments: [BarSegment(name: "model", values: [2, 3], color: .palette(0)),
                                               BarSegment(name: "exemplars", values: [4, 4], color: .palette(1))],
                                    references: [("budget", 8)], title: "Memory", xTitle: "stage", yTitle: "MB")
        let svg = chart.svg
        let model = try #require(Self.attributes(of: "stage 1, model: 3.00", in: svg))
        let exemplars = try #require(Self.attributes(of: "stage 1, exemplars: 4.00", in: svg))
        // Stacked: the exemplar bar starts where the model's ends, and is 4/3 as tall.
        #expect(abs(exemplars["y"]! + exemplars["height"]! - model["y"]!) < 0.02)
        #expect(abs(exemplars["height"]! / model["height"]! - 4.0 / 3) < 0.01)
        #expect(svg.contains(">budget</text>") && svg.contains("stroke-dasharray=\"7 4\""))
        let image = try chart.rendered()
        #expect(Self.close(Self.color(image, model["x"]! + 5, model["y"]! + model["height"]! / 2), .palette(0)))
        #expect(Self.close(Self.color(image, exemplars["x"]! + 5, exemplars["y"]! + exemplars["height"]! / 2), .palette(1)))
    }

    @Test func renderErrorsAreTyped() {
        #expect(throws: PlotRenderError.size(width: 0, height: 100)) {
            try SVGDocument(width: 0, height: 100, title: "x").rendered()
        }
    }
}
