#if canImport(Glibc)
import Glibc  // log10
#elseif canImport(Darwin)
import Darwin
#endif

/// The latency percentile distribution of a run as an SVG chart, HdrHistogram style: the x axis is
/// the percentile on a log scale of 1/(1−p) (so 90%, 99%, 99.9%, 99.99% are evenly spaced and the
/// tail gets the room it deserves), the y axis the latency in milliseconds; one line per measure.
/// Pure string generation, no dependency.
struct PercentilePlot {
    struct Series {
        var name: String
        var color: String
        var histogram: LatencyHistogram
    }

    var title: String
    var subtitle: String
    var series: [Series]

    private let width = 900.0, height = 520.0
    private let left = 70.0, right = 30.0, top = 70.0, bottom = 60.0

    init(title: String, subtitle: String, series: [Series]) {
        self.title = title
        self.subtitle = subtitle
        self.series = series.filter { $0.histogram.totalCount > 0 }
    }

    /// The standalone SVG document.
    var svg: String {
        let decades = xDecades
        let yMax = niceCeiling(maxMilliseconds)
        func px(_ x: Double) -> Double { left + (width - left - right) * x / Double(decades) }
        func py(_ ms: Double) -> Double { height - bottom - (height - top - bottom) * ms / yMax }

        var out = #"<svg xmlns="http://www.w3.org/2000/svg" width="\#(Int(width))" height="\#(Int(height))" viewBox="0 0 \#(Int(width)) \#(Int(height))" font-family="sans-serif" font-size="12">"#
        out += "\n" + #"<rect width="100%" height="100%" fill="white"/>"#
        out += "\n" + #"<text x="\#(f(width / 2))" y="24" text-anchor="middle" font-size="16" font-weight="bold">\#(escape(title))</text>"#
        out += "\n" + #"<text x="\#(f(width / 2))" y="44" text-anchor="middle" fill="rgb(85,85,85)">\#(escape(subtitle))</text>"#

        // Grid and axes.
        for (label, x) in xTicks(decades) {
            out += "\n" + #"<line x1="\#(f(px(x)))" y1="\#(f(top))" x2="\#(f(px(x)))" y2="\#(f(height - bottom))" stroke="rgb(221,221,221)"/>"#
            out += "\n" + #"<text x="\#(f(px(x)))" y="\#(f(height - bottom + 18))" text-anchor="middle">\#(label)</text>"#
        }
        for step in 0...5 {
            let ms = yMax * Double(step) / 5
            out += "\n" + #"<line x1="\#(f(left))" y1="\#(f(py(ms)))" x2="\#(f(width - right))" y2="\#(f(py(ms)))" stroke="rgb(221,221,221)"/>"#
            out += "\n" + #"<text x="\#(f(left - 8))" y="\#(f(py(ms) + 4))" text-anchor="end">\#(label(ms))</text>"#
        }
        out += "\n" + #"<rect x="\#(f(left))" y="\#(f(top))" width="\#(f(width - left - right))" height="\#(f(height - top - bottom))" fill="none" stroke="rgb(51,51,51)"/>"#
        out += "\n" + #"<text x="\#(f((left + width - right) / 2))" y="\#(f(height - 16))" text-anchor="middle">percentile</text>"#
        out += "\n" + #"<text transform="translate(18 \#(f((top + height - bottom) / 2))) rotate(-90)" text-anchor="middle">latency (ms)</text>"#

        // One line per measure.
        for s in series {
            let points = curve(s.histogram, decades: decades).map { "\(f(px($0.x))),\(f(py($0.ms)))" }
            out += "\n" + #"<polyline fill="none" stroke="\#(s.color)" stroke-width="2" points="\#(points.joined(separator: " "))"><title>\#(escape(s.name))</title></polyline>"#
        }

        // Legend, top left inside the chart.
        for (i, s) in series.enumerated() {
            let y = top + 18 + Double(i) * 18
            out += "\n" + #"<line x1="\#(f(left + 12))" y1="\#(f(y - 4))" x2="\#(f(left + 36))" y2="\#(f(y - 4))" stroke="\#(s.color)" stroke-width="3"/>"#
            let h = s.histogram
            let text = "\(s.name): p50 \(label(ms(h.valueAtPercentile(50)))) ms, p99 \(label(ms(h.valueAtPercentile(99)))) ms, max \(label(ms(h.max))) ms (\(h.totalCount))"
            out += "\n" + #"<text x="\#(f(left + 42))" y="\#(f(y))">\#(escape(text))</text>"#
        }
        if series.isEmpty {
            out += "\n" + #"<text x="\#(f(width / 2))" y="\#(f(height / 2))" text-anchor="middle">no samples</text>"#
        }
        out += "\n</svg>\n"
        return out
    }

    /// An HTML page around the SVG.
    var html: String {
        """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>\(escape(title))</title></head>
        <body style="font-family: sans-serif">
        \(svg)<p>\(escape(subtitle))</p>
        </body></html>

        """
    }

    // MARK: Scales

    /// Decades of 1/(1−p) shown: enough for the samples (n samples reach about 1 − 1/n), 2 to 5.
    private var xDecades: Int {
        let most = series.map { Double($0.histogram.totalCount) }.max() ?? 1
        var decades = 2
        while decades < 5 && pow10(decades) < most { decades += 1 }
        return decades
    }

    private func xTicks(_ decades: Int) -> [(String, Double)] {
        let all: [(String, Double)] = [("0%", 0), ("50%", log10(2)), ("90%", 1), ("99%", 2), ("99.9%", 3),
                                       ("99.99%", 4), ("99.999%", 5)]
        return all.filter { $0.1 <= Double(decades) }
    }

    /// (x, ms) points: x = log10(1/(1−p)), clamped at the right edge for the 100% point.
    private func curve(_ h: LatencyHistogram, decades: Int) -> [(x: Double, ms: Double)] {
        var points: [(x: Double, ms: Double)] = []
        for step in h.percentiles(ticksPerHalfDistance: 5) {
            let p = step.percentileLevelIteratedTo / 100
            let x = p >= 1 ? Double(decades) : min(Double(decades), log10(1 / (1 - p)))
            points.append((x, ms(step.value)))
        }
        return points
    }

    private var maxMilliseconds: Double {
        series.map { ms($0.histogram.max) }.max() ?? 1
    }

    private func ms(_ micros: UInt64) -> Double { Double(micros) / 1000 }

    /// 1, 2 or 5 times a power of ten, at or above `value`.
    private func niceCeiling(_ value: Double) -> Double {
        guard value > 0 else { return 1 }
        var unit = 0.001
        while true {
            for m in [1.0, 2.0, 5.0] where m * unit >= value { return m * unit }
            unit *= 10
        }
    }

    private func label(_ ms: Double) -> String {
        ms >= 10 || ms == 0 ? String(Int(ms.rounded())) : String(format1: ms)
    }

    private func f(_ x: Double) -> String { String(format1: x) }

    private func escape(_ text: String) -> String {
        var out = ""
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(c)
            }
        }
        return out
    }
}

private func pow10(_ n: Int) -> Double { (0..<n).reduce(1.0) { acc, _ in acc * 10 } }
