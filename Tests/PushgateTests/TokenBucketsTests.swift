import Testing
@testable import Pushgate

@Suite("Token buckets")
struct TokenBucketsTests {
    @Test("a burst, then a refusal saying how long to wait, then a refill at the rate")
    func burstAndRefill() {
        let buckets = TokenBuckets<String>(rate: 2, burst: 3)
        let start = ContinuousClock.now
        for _ in 0..<3 { #expect(buckets.take("a", now: start) == nil) }
        #expect(buckets.take("a", now: start) == 1)
        #expect(buckets.take("b", now: start) == nil, "keys are independent")
        #expect(buckets.take("a", now: start + .milliseconds(500)) == nil, "half a second at 2/s is one token")
        #expect(buckets.take("a", now: start + .milliseconds(500)) == 1)
        #expect(buckets.exhausted("a", now: start + .milliseconds(500)) == 1)
        #expect(buckets.exhausted("a", now: start + .seconds(2)) == nil)
    }

    @Test("memory stays bounded when keys rotate")
    func bounded() {
        let buckets = TokenBuckets<Int>(rate: 1, burst: 1, maxKeys: 100)
        let now = ContinuousClock.now
        for key in 0..<10_000 { _ = buckets.take(key, now: now) }
        #expect(buckets.count <= 100)
    }
}
