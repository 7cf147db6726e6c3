import Testing
import WebPush
@testable import Pushgate

@Suite("Identifiers")
struct IdentifierTests {
    @Test("identifiers drawn in bulk are well formed, all different, and unlike those of another draw")
    func bulk() {
        let first = MessageID.random(count: 5_000), second = MessageID.random(count: 5_000)
        #expect(first.count == 5_000)
        #expect(first.allSatisfy { MessageID.isWellFormed($0.rawValue) && $0.rawValue.utf8.count == 22 })
        #expect(Set(first + second).count == 10_000)
        #expect(MessageID.random(count: 1).count == 1 && MessageID.random(count: 0).isEmpty)
        // Every base64url character shows up across 160,000 random octets; a bias (zeros left
        // unfilled by a short read) would show as one character far above its share.
        let characters = first.flatMap { Array($0.rawValue.utf8) }
        let counts = Dictionary(characters.map { ($0, 1) }, uniquingKeysWith: +)
        #expect(counts.count == 64)
        #expect(counts.values.max()! < 3 * characters.count / 64)
    }

    @Test("an identifier's text is base64url of its 16 octets, and only that text names it")
    func text() throws {
        for octets in [[UInt8](0..<16), [UInt8](repeating: 0xFF, count: 16), [UInt8](repeating: 0, count: 16), (0..<16).map { _ in UInt8.random(in: 0...255) }] {
            let id = PushToken(octets: octets)
            #expect(id.rawValue == Base64URL.encode(octets))
            #expect("/p/\(raw: id)" == "/p/" + Base64URL.encode(octets))
            #expect(id.withText { String(decoding: $0, as: UTF8.self) } == id.rawValue)
            #expect(PushToken(id.rawValue) == id && PushToken(Substring(id.rawValue)) == id)
        }
        let canonical = PushToken(octets: [UInt8](repeating: 0, count: 16)).rawValue
        #expect(canonical == "AAAAAAAAAAAAAAAAAAAAAA")
        // The last character carries 2 bits; a text with any of its other 4 set is not an identifier.
        for last in ["B", "P", "R", "h", "x", "_"] { #expect(PushToken(canonical.dropLast() + last) == nil) }
        for last in ["A", "Q", "g", "w"] { #expect(PushToken(canonical.dropLast() + last) != nil) }
        for bad in ["", String(canonical.dropLast()), canonical + "A", "AAAAAAAAAA+AAAAAAAAAAA", "AAAAAAAAAA=AAAAAAAAAAA", "AAAAAAAAAAéAAAAAAAAAA"] {
            #expect(PushToken(bad) == nil, "\(bad)")
        }
        #expect("\(PushToken.random())" == "push#…")
    }
}
