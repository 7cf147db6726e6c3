import NIOConcurrencyHelpers

/// Lets a recurring log line through at most once per interval and counts what it held back, so
/// an outage (every request failing the same way) is one line every few seconds, not a flood.
final class LogThrottle: Sendable {
    private let interval: Duration
    private let state = NIOLockedValueBox<(last: ContinuousClock.Instant?, suppressed: Int)>((nil, 0))

    init(every interval: Duration = .seconds(10)) {
        self.interval = interval
    }

    /// Whether to log now; if so, also how many were held back since the last line.
    func admit() -> Int? {
        state.withLockedValue { state in
            let now = ContinuousClock.now
            if let last = state.last, now - last < interval {
                state.suppressed += 1
                return nil
            }
            defer { state = (now, 0) }
            return state.suppressed
        }
    }
}
