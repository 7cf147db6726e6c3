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
        let limiter = FanOutLimiter(perSecond: 10)
        let key = VAPIDSigningKey.generate().publicKey, other = VAPIDSigningKey.generate().publicKey
        let start = Date(timeIntervalSince1970: 1_000)
        #expect(limiter.take(6, for: key, now: start) == nil)
        #expect(limiter.take(6, for: key, now: start) == 1)       // 4 left, 6 needed
        #expect(limiter.take(6, for: other, now: start) == nil)   // keys are independent
        #expect(limiter.take(6, for: key, now: start.addingTimeInterval(0.3)) == nil)  // 4 + 3 refilled ≥ 6
        // A list larger than the rate goes through on a full bucket, and its debt delays the next.
        #expect(limiter.take(25, for: other, now: start.addingTimeInterval(10)) == nil)
        #expect(limiter.take(1, for: other, now: start.addingTimeInterval(10.5)) != nil)
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
