import Foundation

// Width of a text line in DejaVu Sans (the font the charts ask for, and the one librsvg finds
// through fontconfig on Debian with fonts-dejavu-core), for laying out labels and legends
// before any renderer is involved. Advance widths are DejaVu Sans's, in ems, grouped by
// character class; an unknown character counts as a wide one, so estimates err on the wide side.

/// Estimated width in pixels of `text` at font size `size` (pixels).
func textWidth(_ text: String, size: Double) -> Double {
    var ems = 0.0
    for ch in text {
        switch ch {
        case "i", "j", "l", "'", "|", ".", ",", ":", ";", "!": ems += 0.28
        case "f", "t", "r", "I", " ", "(", ")", "[", "]", "-", "/": ems += 0.36
        case "%": ems += 0.95
        case "0"..."9", "+", "=", "<", ">", "#", "$", "_", "?": ems += 0.64
        case "m", "w", "M", "W": ems += 0.95
        case "a"..."z": ems += 0.61
        case "A"..."Z": ems += 0.73
        default: ems += 0.9
        }
    }
    return ems * size
}

/// `text` cut to at most `width` pixels at `size`, with an ellipsis when cut.
func truncated(_ text: String, width: Double, size: Double) -> String {
    guard textWidth(text, size: size) > width else { return text }
    var out = ""
    for ch in text {
        if textWidth(out + String(ch) + "…", size: size) > width { break }
        out.append(ch)
    }
    return out + "…"
}

/// The font size at most `size` at which `text` fits in `width` pixels, not below `minimum`
/// (where it may still overflow: callers truncate then).
func fittedSize(_ text: String, width: Double, size: Double, minimum: Double = 10) -> Double {
    let needed = textWidth(text, size: size)
    return needed <= width ? size : max(minimum, (size * width / needed * 10).rounded(.down) / 10)
}

/// How much wider DejaVu Sans Bold sets a text than the regular face (about 10 %, rounded up).
let boldWidthFactor = 1.12

/// A chart title drawn centred at the top of `doc`, shrunk (and if need be cut) to the width.
func drawTitle(_ title: String, in doc: inout SVGDocument, size: Double = 15) {
    let room = (doc.width - 16) / boldWidthFactor
    let fitted = fittedSize(title, width: room, size: size)
    doc.text(truncated(title, width: room, size: fitted), x: doc.width / 2, y: 24, size: fitted, anchor: .middle, bold: true)
}
