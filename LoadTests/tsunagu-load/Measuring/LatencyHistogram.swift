import Histogram
import NIOCore

/// Latencies in microseconds, up to 10 minutes, 3 significant digits.
typealias LatencyHistogram = Histogram<UInt64>

func makeLatencyHistogram() -> LatencyHistogram {
    LatencyHistogram(lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three)
}

extension LatencyHistogram {
    /// Records a nanosecond duration, clamped into the trackable range.
    mutating func recordNanoseconds(_ ns: UInt64) {
        _ = record(Swift.min(Swift.max(ns / 1000, 1), 600_000_000))
    }
}

/// Monotonic nanoseconds (CLOCK_MONOTONIC, one clock for every process on this machine), so a send
/// time in a publisher and a receive time in a worker process compare directly.
@inline(__always) func monotonicNanoseconds() -> UInt64 {
    UInt64(NIODeadline.now().uptimeNanoseconds)
}
