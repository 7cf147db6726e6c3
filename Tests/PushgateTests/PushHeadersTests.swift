import NIOHTTP1
import Testing
@testable import Pushgate

@Suite("Push request headers (RFC 8030 §5.2–5.4, RFC 8291 §4)")
struct PushHeadersTests {
    func headers(_ pairs: [(String, String)]) -> HTTPHeaders { HTTPHeaders(pairs) }

    @Test("TTL: digits only, one value, required; overflow becomes 2^31 (P-21..P-23)",
          arguments: [("0", 0), ("60", 60), (" 42 ", 42), ("007", 7), ("2147483647", 2_147_483_647),
                      ("2147483648", 2_147_483_648), ("99999999999999999999999", 2_147_483_648)])
    func ttl(value: String, expected: Int) throws {
        #expect(try PushHeaders.ttl(headers([("TTL", value)])) == expected)
    }

    @Test("TTL: refused values", arguments: ["", "-1", "+5", "1.5", "1e3", "0x10", "ten", "1 2", "٣"])
    func badTTL(value: String) {
        #expect(throws: APIError.self) { try PushHeaders.ttl(headers([("TTL", value)])) }
        do { _ = try PushHeaders.ttl(headers([("TTL", value)])) } catch { #expect(error.errno == 102) }
    }

    @Test("TTL: missing is errno 101, repeated is 102")
    func ttlPresence() {
        do { _ = try PushHeaders.ttl(headers([])); Issue.record("no error") } catch { #expect(error.errno == 101 && error.status == .badRequest) }
        do { _ = try PushHeaders.ttl(headers([("TTL", "1"), ("TTL", "1")])); Issue.record("no error") } catch { #expect(error.errno == 102) }
    }

    @Test("Urgency: default normal, the four values in any case, one value only (P-28, P-29)")
    func urgency() throws {
        #expect(try PushHeaders.urgency(headers([])) == .normal)
        for value in Urgency.allCases {
            #expect(try PushHeaders.urgency(headers([("Urgency", value.rawValue)])) == value)
            #expect(try PushHeaders.urgency(headers([("Urgency", " \(value.rawValue.uppercased()) ")])) == value)
        }
        for bad in [[("Urgency", "low, high")], [("Urgency", "low"), ("Urgency", "high")], [("Urgency", "urgent")], [("Urgency", "")], [("Urgency", "low,")]] {
            do { _ = try PushHeaders.urgency(headers(bad)); Issue.record("accepted \(bad)") } catch { #expect(error.errno == 103) }
        }
        #expect(Urgency.veryLow < .low && .low < .normal && .normal < .high)
    }

    @Test("Topic: up to 32 base64url characters (P-31)")
    func topic() throws {
        #expect(try PushHeaders.topic(headers([])) == nil)
        #expect(try PushHeaders.topic(headers([("Topic", "door-1_A")])) == "door-1_A")
        #expect(try PushHeaders.topic(headers([("Topic", String(repeating: "z", count: 32))]))?.count == 32)
        for bad in [String(repeating: "z", count: 33), "a b", "a/b", "a+b", "a=", "é", ""] {
            do { _ = try PushHeaders.topic(headers([("Topic", bad)])); Issue.record("accepted \(bad)") } catch { #expect(error.errno == 104) }
        }
        do { _ = try PushHeaders.topic(headers([("Topic", "a"), ("Topic", "b")])); Issue.record("accepted two") } catch { #expect(error.errno == 104) }
    }

    @Test("Content-Encoding: exactly aes128gcm with a body; optional without (E-01, E-12)")
    func contentEncoding() throws {
        #expect(try PushHeaders.contentEncoding(headers([("Content-Encoding", "aes128gcm")]), bodyLength: 100) == "aes128gcm")
        #expect(try PushHeaders.contentEncoding(headers([("Content-Encoding", "AES128GCM")]), bodyLength: 100) == "aes128gcm")
        #expect(try PushHeaders.contentEncoding(headers([]), bodyLength: 0) == nil)
        for bad in [[], [("Content-Encoding", "aesgcm")], [("Content-Encoding", "aes128gcm, gzip")], [("Content-Encoding", "gzip")]] {
            do { _ = try PushHeaders.contentEncoding(headers(bad), bodyLength: 100); Issue.record("accepted \(bad)") } catch { #expect(error.errno == 105) }
        }
    }
}
