import Foundation
import Testing
import WebPush
@testable import Pushgate

@Suite("List building blocks")
struct ListPartsTests {
    @Test("gzip: round trip through the system gzip, invalid input refused, output bounded")
    func gzip() throws {
        let text = Array(String(repeating: "{\"https://push.example/p/x\":{}}", count: 200).utf8)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("gz-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let plain = folder.appendingPathComponent("doc.json")
        try Data(text).write(to: plain)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/gzip")
        process.arguments = ["-k", plain.path]
        try process.run()
        process.waitUntilExit()
        let compressed = Array(try Data(contentsOf: folder.appendingPathComponent("doc.json.gz")))
        #expect(compressed.count < text.count)
        #expect(try Gzip.decompress(compressed, limit: 1 << 20) == text)
        #expect(throws: Gzip.Failure.tooLarge) { try Gzip.decompress(compressed, limit: 100) }
        #expect(throws: Gzip.Failure.invalid) { try Gzip.decompress(Array("not gzip".utf8), limit: 1 << 20) }
        #expect(throws: Gzip.Failure.invalid) { try Gzip.decompress(Array(compressed.prefix(compressed.count / 2)), limit: 1 << 20) }
    }

    @Test("fan-out limiter: a token per delivery, refilled per second, per key")
    func limiter() {
        let limiter = FanOutLimiter(perKey: 10, total: 1_000)
        let key = VAPIDSigningKey.generate().publicKey, other = VAPIDSigningKey.generate().publicKey
        let start = ContinuousClock.now
        #expect(limiter.take(6, for: key, now: start) == nil)
        #expect(limiter.take(6, for: key, now: start) == 1)       // 4 left, 6 needed
        #expect(limiter.take(6, for: other, now: start) == nil)   // keys are independent
        #expect(limiter.take(6, for: key, now: start + .milliseconds(300)) == nil)  // 4 + 3 refilled ≥ 6
        // A list larger than the rate goes through on a full bucket, and its debt delays the next.
        #expect(limiter.take(25, for: other, now: start + .seconds(10)) == nil)
        #expect(limiter.take(1, for: other, now: start + .milliseconds(10_500)) != nil)
    }

    @Test("fan-out limiter: the total is shared equally between the keys active in the last second")
    func fairShare() {
        let limiter = FanOutLimiter(perKey: 100, total: 120)
        let heavy = VAPIDSigningKey.generate().publicKey, light = VAPIDSigningKey.generate().publicKey
        let third = VAPIDSigningKey.generate().publicKey
        let start = ContinuousClock.now
        #expect(limiter.share(for: heavy, now: start) == 100)                 // alone: its own limit
        #expect(limiter.share(for: light, now: start) == 60)                  // two active: 120 / 2
        #expect(limiter.share(for: heavy, now: start + .milliseconds(100)) == 60)
        #expect(limiter.share(for: third, now: start + .milliseconds(200)) == 40)
        // A second later only the key still pushing is active: it has its own limit back.
        #expect(limiter.share(for: heavy, now: start + .milliseconds(1_500)) == 100)
        // Under contention the heavy key is refused at its share while the light one still gets through.
        let contended = FanOutLimiter(perKey: 100, total: 120)
        var allowed = 0
        for step in 0..<20 {
            let now = start + .milliseconds(50 * step)
            _ = contended.take(1, for: light, now: now)
            if contended.take(10, for: heavy, now: now) == nil { allowed += 10 }
        }
        #expect(allowed <= 60 + 60, "heavy got \(allowed) in 1 s with a share of 60 (+ its first full bucket)")
        #expect(contended.take(1, for: light, now: start + .milliseconds(1_000)) == nil)
    }

    @Test("RFC 3339 date-times: with and without fractions and offsets; garbage refused")
    func dates() {
        #expect(RFC3339.parse("2026-11-23T12:00:00Z") == 1_795_435_200)
        #expect(RFC3339.parse("2026-11-23T13:00:00+01:00") == 1_795_435_200)
        #expect(RFC3339.parse("2026-11-23T12:00:00.250Z") == 1_795_435_200)
        #expect(RFC3339.parse("tomorrow") == nil)
        #expect(RFC3339.parse("2026-11-23") == nil)
        #expect(RFC3339.format(1_795_435_200) == "2026-11-23T12:00:00Z")
    }
}
