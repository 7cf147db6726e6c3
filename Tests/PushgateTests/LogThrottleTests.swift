import Testing
@testable import Pushgate

@Suite("Log throttle")
struct LogThrottleTests {
    @Test("one line per interval, and the next one says how many were held back")
    func throttles() async throws {
        let throttle = LogThrottle(every: .milliseconds(100))
        #expect(throttle.admit() == 0)
        for _ in 0..<5 { #expect(throttle.admit() == nil) }
        try await Task.sleep(for: .milliseconds(120))
        #expect(throttle.admit() == 5)
        #expect(throttle.admit() == nil)
    }
}
