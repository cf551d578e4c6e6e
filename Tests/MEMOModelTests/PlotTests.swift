import Foundation
import Testing
@testable import MEMOModel

/// Raster primitives and the two charts: sizes and specific pixels.
@Suite struct PlotTests {
    @Test func primitives() {
        var r = Raster(width: 20, height: 10)
        #expect(r.pixels.count == 600 && r.pixel(x: 19, y: 9) == .white)
        r.fillRect(x: 18, y: 8, width: 5, height: 5, .red)      // clipped at the corner
        #expect(r.pixel(x: 19, y: 9) == .red && r.pixel(x: 17, y: 9) == .white)
        r.drawLine(x0: 0, y0: 0, x1: 9, y1: 9, .black)
        #expect(r.pixel(x: 0, y: 0) == .black && r.pixel(x: 5, y: 5) == .black && r.pixel(x: 9, y: 9) == .black)
        #expect(r.pixel(x: 1, y: 0) == .white)
        // "1": top row "..#..", bottom row ".###.".
        var t = Raster(width: 12, height: 8)
        t.drawText("1", x: 0, y: 0, .black)
        #expect(t.pixel(x: 2, y: 0) == .black && t.pixel(x: 0, y: 0) == .white)
        #expect(t.pixel(x: 1, y: 6) == .black && t.pixel(x: 0, y: 6) == .white)
        #expect(Raster.textWidth("ab") == 11)
        #expect(Array(t.ppm().prefix(11)) == Array("P6\n12 8\n255".utf8))
        #expect(BitmapFont.glyphs.count >= 10 + 52 + 20)
        #expect(RasterColor.mix(.white, .darkBlue, 1) == .darkBlue && RasterColor.mix(.white, .darkBlue, -3) == .white)
    }

    @Test func lineChartPixels() {
        // Layout: left 56, top 38, bottom = 440 - 40 = 400; legend width = textWidth("top1") + 34 = 57,
        // right = 720 - 12 - 57 = 651; points sit 12 px inside the axes.
        let chart = lineChart(series: [(name: "top1", values: [0, 100], color: .palette(0))],
                              xLabels: ["0", "1"], title: "Accuracy", yRange: 0...100)
        #expect(chart.width == 720 && chart.height == 440)
        #expect(chart.pixel(x: 0, y: 0) == .white)
        #expect(chart.pixel(x: 56, y: 200) == .black)                  // y axis
        #expect(chart.pixel(x: 300, y: 400) == .black)                 // x axis
        #expect(chart.pixel(x: 68, y: 400) == .palette(0))             // first point (0)
        #expect(chart.pixel(x: 639, y: 38) == .palette(0))             // second point (100)
        #expect(chart.pixel(x: 651 + 14 + 5, y: 38 + 3) == .palette(0)) // legend swatch
        #expect(chart.pixel(x: 600, y: 255) == .lightGray)             // grid line at 40 (ticks every 20)
    }

    @Test func heatmapPixels() {
        // Cells of 10 px from (48, 40); the task border at 1 is at x = 58 and y = 50.
        let map = heatmap(matrix: [[1, 0], [0.5, 1]], taskBoundaries: [1], title: "Confusion", cellSize: 10)
        #expect(map.width == 48 + 20 + 16 + 12 + 40 && map.height == 120)
        #expect(map.pixel(x: 0, y: 0) == .white)
        #expect(map.pixel(x: 52, y: 44) == .darkBlue)          // value 1: darkest
        #expect(map.pixel(x: 63, y: 44) == .white)             // value 0
        #expect(map.pixel(x: 52, y: 55) == RasterColor(132, 152, 181)) // value 0.5
        #expect(map.pixel(x: 58, y: 44) == .red && map.pixel(x: 52, y: 50) == .red)
        #expect(map.pixel(x: 47, y: 44) == .black)             // frame
    }
}
